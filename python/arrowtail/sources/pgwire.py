"""PostgreSQL streaming-replication plumbing over psycopg 3 (no protocol decoding here).

psycopg has no replication API, but since 3.3 ``START_REPLICATION`` on a
``replication=database`` connection enters COPY BOTH mode, which the low-level ``pgconn``
reads and writes. This module opens such a stream, reads CopyData payloads with a deadline
(non-blocking reads plus ``select`` on the socket), and answers with standby status updates.
The payloads go unparsed to :class:`arrowtail.PgOutputDecoder`.

The walsender formats text values in its own session settings, so :func:`replication_dsn` pins
them (``DateStyle=ISO``, ``IntervalStyle=postgres``, ``TimeZone=UTC``,
``extra_float_digits=3``), which the decoder's text parsing relies on.
"""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg import pq

from arrowtail.exceptions import SourceError

#: Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
PG_EPOCH_US = 946_684_800_000_000

#: Session settings the decoder's text parsing assumes.
PINNED_SETTINGS = {
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "extra_float_digits": "3",
}


def format_lsn(lsn: int) -> str:
    """An LSN as PostgreSQL prints it (``16/B374D848``)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """Parses ``16/B374D848`` into an integer."""
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def replication_dsn(dsn: str, settings: dict[str, str] | None = None) -> str:
    """Adds the pinned session settings (and any extra GUCs) as libpq ``options``."""
    all_settings = {**PINNED_SETTINGS, **(settings or {})}
    options = " ".join(f"-c {k}={v}" for k, v in all_settings.items())
    return psycopg.conninfo.make_conninfo(dsn, options=options)


def standby_status_update(
    write_lsn: int, flush_lsn: int, apply_lsn: int, reply: bool = False
) -> bytes:
    """The ``r`` message: written/flushed/applied LSNs, client clock, reply-requested flag."""
    clock = time.time_ns() // 1000 - PG_EPOCH_US
    return b"r" + struct.pack(">QQQqB", write_lsn, flush_lsn, apply_lsn, clock, int(reply))


def quote_option(value: str) -> str:
    """Quotes a START_REPLICATION option value as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class ReplicationStream:
    """An open COPY BOTH replication stream on its own connection."""

    conn: psycopg.Connection
    #: Highest LSN acknowledged as flushed, sent with every status update.
    flushed_lsn: int = 0
    _pgconn: pq.abc.PGconn = field(init=False)

    def __post_init__(self) -> None:
        self._pgconn = self.conn.pgconn

    def read(self, timeout: float) -> bytes | None:
        """The next CopyData payload, or None when nothing arrived within ``timeout`` seconds.

        Raises SourceError when the server ends the stream or the connection fails.
        """
        deadline = time.monotonic() + timeout
        while True:
            n, data = self._pgconn.get_copy_data(1)
            if n > 0:
                return bytes(data)
            if n == -1:
                raise SourceError("the server ended the replication stream")
            if n < -1:
                msg = self._pgconn.error_message.decode(errors="replace")
                raise SourceError(f"replication stream failed: {msg}")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._pgconn.socket], [], [], left)
            if ready:
                self._pgconn.consume_input()

    def send_status(self, flush_lsn: int | None = None, reply: bool = False) -> None:
        """Sends a standby status update acknowledging ``flush_lsn`` (never moving backwards)."""
        if flush_lsn is not None:
            self.flushed_lsn = max(self.flushed_lsn, flush_lsn)
        lsn = self.flushed_lsn
        if self._pgconn.put_copy_data(standby_status_update(lsn, lsn, lsn, reply)) != 1:
            raise SourceError("could not send a standby status update")
        self._pgconn.flush()

    def finish(self, timeout: float = 10.0) -> None:
        """Ends the stream cleanly, then closes: CopyDone, and what the server still sends is
        read and dropped until its own CopyDone (protocol "Streaming Replication Protocol",
        START_REPLICATION: either side may end COPY BOTH). Closing a socket with unread data
        makes the kernel reset the connection, and the walsender may then lose the last status
        update still unread on its side; after the CopyDone exchange it has read everything
        sent before. Gives up after ``timeout`` seconds; the connection is closed either way."""
        try:
            if self._pgconn.put_copy_end() == 1:
                self._pgconn.flush()
                deadline = time.monotonic() + timeout
                # get_copy_data: > 0 a payload, 0 nothing yet, -1 the server's CopyDone, < -1 error.
                while (n := self._pgconn.get_copy_data(1)[0]) >= 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    if n == 0:
                        ready, _, _ = select.select([self._pgconn.socket], [], [], left)
                        if ready:
                            self._pgconn.consume_input()
        except (psycopg.Error, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Closes the connection (the server ends the walsender)."""
        self.conn.close()


def start_replication(
    dsn: str,
    slot: str,
    publications: Iterable[str],
    *,
    proto_version: int = 1,
    binary: bool = False,
    messages: bool = False,
    streaming: str | None = None,
    two_phase: bool = False,
    start_lsn: int = 0,
    settings: dict[str, str] | None = None,
) -> ReplicationStream:
    """Opens a replication connection and starts logical replication from ``slot``.

    Options follow pgoutput's: ``binary`` and ``messages`` need protocol >= 1 on PostgreSQL 14+,
    ``streaming`` (``on``, or ``parallel`` with protocol 4) needs protocol >= 2, ``two_phase``
    protocol >= 3. ``settings`` adds GUCs to the walsender session (e.g.
    ``logical_decoding_work_mem``).
    """
    conn = psycopg.connect(replication_dsn(dsn, settings), replication="database", autocommit=True)
    opts = [
        f"proto_version {quote_option(str(proto_version))}",
        f"publication_names {quote_option(','.join(publications))}",
    ]
    if binary:
        opts.append("binary 'true'")
    if messages:
        opts.append("messages 'true'")
    if streaming:
        opts.append(f"streaming {quote_option(streaming)}")
    if two_phase:
        opts.append("two_phase 'true'")
    slot_ident = '"' + slot.replace('"', '""') + '"'
    cmd = f"START_REPLICATION SLOT {slot_ident} LOGICAL {format_lsn(start_lsn)} ({', '.join(opts)})"
    pgconn = conn.pgconn
    pgconn.send_query(cmd.encode())
    res = pgconn.get_result()
    if res is None or res.status != pq.ExecStatus.COPY_BOTH:
        msg = pgconn.error_message.decode(errors="replace")
        conn.close()
        raise SourceError(f"START_REPLICATION failed: {msg.strip()}")
    return ReplicationStream(conn)
