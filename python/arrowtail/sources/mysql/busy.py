"""Whether a MySQL/MariaDB server holds write transactions that have not committed yet, for the
busy signal of the source: the binlog receives a transaction only at its commit, so an idle
replication stream does not mean the writers are done, and ``--idle-exit`` must not stop the run
while one is open. Read from ``information_schema.INNODB_TRX`` (MySQL and MariaDB alike), which
needs the PROCESS privilege. A prepared XA transaction whose session has ended (thread id 0) is
not counted: its rows are in the binlog already, and it may wait there for its outcome for
long."""

from __future__ import annotations

import logging
import time
from typing import Any

from arrowtail.exceptions import SourceError
from arrowtail.sources.mysql.replication import close_quietly

log = logging.getLogger("arrowtail.mysql")


class OpenWriters:
    """Whether the server has open transactions that changed rows (``information_schema.
    INNODB_TRX``, which needs the PROCESS privilege). Their rows reach the binlog only at commit,
    so while one is open an idle stream does not mean the work is done. Asked at most every two
    seconds over one kept connection; without the privilege the answer is always no."""

    def __init__(self, connect: Any) -> None:
        self._connect = connect
        self._conn: Any = None
        self._checked = 0.0
        self._answer = False
        self._enabled = True

    def active(self) -> bool:
        now = time.monotonic()
        if not self._enabled or now - self._checked < 2.0:
            return self._answer
        self._checked = now
        import pymysql

        try:
            if self._conn is None:
                self._conn = self._connect()
            with self._conn.cursor() as cur:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0"
                    " AND trx_mysql_thread_id <> 0"
                )
                row = cur.fetchone()
            self._answer = bool(row and row[0])
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in (1227, 1044, 1142):
                log.info(
                    "without the PROCESS privilege, --idle-exit cannot see transactions that "
                    "are still open on the server"
                )
                self._enabled = False
            self.close()
            self._answer = False
        except (SourceError, pymysql.err.Error, OSError):
            self.close()
            self._answer = False
        return self._answer

    def close(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly(conn)
