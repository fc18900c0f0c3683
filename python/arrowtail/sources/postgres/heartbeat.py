"""Heartbeats for the PostgreSQL source: a logical decoding message written every few seconds so
that a replication slot keeps advancing while its published tables are quiet.

A slot's ``confirmed_flush_lsn`` only moves when the client confirms a position, and the client
only learns of positions from what the walsender sends. When the published tables are quiet —
the database idle, or busy only with tables outside the publication — the walsender sends no
data, only keepalives at its own pace (when it has caught up, and every
``wal_sender_timeout / 2``; the source turns their WAL end into a position too). A heartbeat adds
a steady cadence the operator chooses, and an end-to-end check: the message must come back through
the slot. A non-transactional ``pg_logical_emit_message`` (PostgreSQL docs, "System
Administration Functions") is decoded at once, outside any transaction, and pgoutput forwards it
when the ``messages`` option is on (protocol "Logical Replication Message Formats", ``Message``).
When nothing of ours is in flight its WAL position holds no unconfirmed change, so the source
may acknowledge it once everything earlier is stored.

The messages carry the prefix :data:`PREFIX` and a small JSON body (wall clock of the sender);
:func:`drop_heartbeats` removes them from the ``_messages`` pseudo-table, so sinks never see them.
The emitting connection is an ordinary one (the role needs REPLICATION, which a CDC role has
anyway); a failure is logged — once per outage — and retried at the next beat, since the
replication stream has its own reconnect logic and a heartbeat is only an optimisation.
"""

from __future__ import annotations

import json
import logging
import time

import psycopg
import pyarrow as pa

from arrowtail._core import parse_lsn
from arrowtail.exceptions import SourceError
from arrowtail.lazy import call
from arrowtail.redact import scrub
from arrowtail.sources.base import TableBatch
from arrowtail.sources.postgres import admin as pg_admin

log = logging.getLogger("arrowtail.postgres")

#: Prefix of the heartbeat messages (``_messages.prefix``).
PREFIX = "arrowtail.heartbeat"
#: Pseudo-table of logical decoding messages (docs/design.md).
MESSAGES_TABLE = "_messages"


class Heartbeat:
    """Emits a heartbeat message every ``interval`` seconds on its own connection.

    :meth:`beat_if_due` is called from the source's poll loop; it does nothing until the interval
    has passed since the last attempt, so a failing server is not hammered.

    Example::

        heartbeat = Heartbeat("postgresql://cdc@db/shop", interval=10.0, slot="arrowtail")
        heartbeat.beat_if_due()   # in the poll loop
        heartbeat.close()
    """

    def __init__(self, dsn: str, interval: float, *, slot: str = "") -> None:
        if interval <= 0:
            raise ValueError("heartbeat interval must be positive")
        self._dsn = dsn
        self.interval = interval
        self.slot = slot
        self._conn: psycopg.Connection | None = None
        self._last_attempt = float("-inf")
        self._failing = False
        #: Heartbeats written so far (for tests and ``describe()``).
        self.sent = 0
        #: LSN of the last heartbeat written (0 before the first).
        self.last_lsn = 0

    def beat_if_due(self, now: float | None = None) -> bool:
        """Writes a heartbeat when ``interval`` seconds passed since the last attempt. Returns
        whether one was written."""
        now = time.monotonic() if now is None else now
        if now - self._last_attempt < self.interval:
            return False
        self._last_attempt = now
        try:
            self._emit()
        except (SourceError, psycopg.Error) as exc:
            self._drop_connection()
            if not self._failing:
                self._failing = True
                log.warning(
                    "heartbeat for slot %s failed, retrying every %gs: %s",
                    self.slot,
                    self.interval,
                    scrub(str(exc)).strip(),
                )
            return False
        if self._failing:
            self._failing = False
            log.info("heartbeat for slot %s works again", self.slot)
        return True

    def close(self) -> None:
        """Closes the heartbeat connection (a later beat opens a new one)."""
        self._drop_connection()

    def _emit(self) -> None:
        if self._conn is None or self._conn.closed:
            # A heartbeat must never hang the poll loop for long: short connect and statement
            # timeouts.
            self._conn = pg_admin.connect(self._dsn, connect_timeout=5)
            self._conn.execute("SET statement_timeout = 5000")
        body = json.dumps({"ts": time.time()}, separators=(",", ":"))
        row = self._conn.execute(
            "SELECT pg_logical_emit_message(false, %s, %s)::text", (PREFIX, body)
        ).fetchone()
        self.sent += 1
        if row is not None and row[0]:
            self.last_lsn = parse_lsn(row[0])

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass


def drop_heartbeats(batches: list[TableBatch]) -> tuple[list[TableBatch], int]:
    """``batches`` without heartbeat messages, and how many were dropped; a ``_messages`` batch
    that held only heartbeats is left out entirely."""
    out: list[TableBatch] = []
    dropped = 0
    for table, version, batch in batches:
        if table == MESSAGES_TABLE and "prefix" in batch.schema.names:
            same = call("not_equal", batch.column("prefix"), pa.scalar(PREFIX))
            keep = call("coalesce", same, pa.scalar(True))
            if not call("all", keep).as_py():
                before = batch.num_rows
                batch = batch.filter(keep)
                dropped += before - batch.num_rows
                if batch.num_rows == 0:
                    continue
        out.append((table, version, batch))
    return out, dropped
