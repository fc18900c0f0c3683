"""Incremental snapshots of PostgreSQL tables while streaming, with watermarks and no locks.

A snapshot is requested by a transactional logical message (prefix :data:`SIGNAL_PREFIX`, JSON
``{"type": "snapshot", "id": ..., "tables": [...]}``) written by :func:`request_snapshot` or
``arrowtail snapshot --incremental``. The running :class:`~arrowtail.sources.postgres.source.
PostgresSource` sees it in its stream and reads the tables chunk by chunk, in primary-key order:

1. a low watermark, a non-transactional message (prefix :data:`WATERMARK_PREFIX`) at a WAL
   position L;
2. the chunk, ``COPY (SELECT ... WHERE (key) > (last) AND (key) <= (bound) ORDER BY key)`` in its
   own REPEATABLE READ transaction, decoded by the same COPY decoder as initial snapshots; the
   transaction's snapshot (``pg_current_snapshot()``) is kept;
3. a high watermark at a WAL position H.

The chunk's rows are held in memory. Every streamed change of the chunk's table that reaches the
source while they are held removes its key (new key, and old key from ``_before``) from them when
it lies between L and H, or before L but in a transaction the chunk's snapshot did not see (one
that committed in the moment between the watermark and the SELECT). A chunk whose snapshot does not
see a transaction the source already streamed (its commit record is flushed and decoded, but it
is still listed as running for a moment) is not used; it is read again on the next poll.

When the stream reaches H the remaining rows are handed on as ``_op = r`` with ``_pos = H``: every
change they do not reflect was delivered itself and removed them, so a snapshot row never
overwrites a newer streamed change.

A request may name tables to replace (``"replace": [...]``: the source's own request for a table
another one replaced under its name, whose old rows the target holds). Their reading starts with
a ``t`` row at the first chunk's low watermark: every change of the old table precedes the
request, which was written after the replacement committed, and the chunks that follow read all
that the new table holds.

Progress (requests left, tables left, the last key of the last chunk handed on) rides inside every
position the source hands to the pipeline (key ``incremental``), so it is stored atomically with
the sink's checkpoint and picked up again by :meth:`IncrementalSnapshots.restore`. A chunk held
when the run stops is read again after the restart; watermarks of an earlier run carry another
token and are ignored. Signal and watermark messages are consumed here, never handed on as rows.
"""

from __future__ import annotations

import json
import logging
import struct
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import psycopg
import pyarrow as pa
from psycopg import sql

from arrowtail import _core
from arrowtail.exceptions import ConfigError, SourceError
from arrowtail.lazy import LazyModule
from arrowtail.progress import TableProgress
from arrowtail.sources.base import PositionJSON, TableBatch
from arrowtail.sources.postgres import admin as pg_admin
from arrowtail.sources.postgres.position import PgPosition
from arrowtail.sources.postgres.snapshot import (
    TableShape,
    chunk_bound,
    copy_rows,
    new_decoder,
    table_shape,
)

#: Imported at first use (:mod:`arrowtail.lazy`): a plain run never needs it.
if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = LazyModule("pyarrow.compute")

log = logging.getLogger("arrowtail.postgres.incremental")

SIGNAL_PREFIX = "arrowtail.signal"
WATERMARK_PREFIX = "arrowtail.watermark"
#: Rows per chunk of an incremental snapshot (``source.incremental_chunk_rows``).
DEFAULT_CHUNK_ROWS = 10_000
#: Polls whose transaction ids are checked against a new chunk's snapshot.
RECENT_POLLS = 8
#: COPY BINARY's signature, flags and header extension length, and its end of data.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"

Key = tuple[Any, ...]


def split_name(name: str) -> tuple[str, str]:
    """``schema.table`` as ``(schema, table)``; a bare name is in ``public``."""
    schema, dot, table = name.partition(".")
    return (schema, table) if dot else ("public", name)


def request_snapshot(
    dsn: str,
    tables: list[str],
    *,
    password: str | None = None,
    slot: str | None = None,
    conn: psycopg.Connection | None = None,
    replace: bool = False,
) -> str:
    """Asks running PostgreSQL sources of this database to snapshot ``tables`` (``schema.table``)
    incrementally, or only the one streaming ``slot``; returns the request's id. Refuses
    (:class:`ConfigError`) tables that do not exist or have no primary key, since chunks are
    read and reconciled by key. ``conn``: an autocommit connection to use instead of one of its
    own. ``replace``: the target's rows of the tables go first (a ``t`` row each), for tables
    another one replaced under their name."""
    if password:
        dsn = psycopg.conninfo.make_conninfo(dsn, password=password)
    if not tables:
        raise ConfigError("an incremental snapshot needs --tables schema.table[,...]")
    if conn is None:
        with pg_admin.connect(dsn) as own:
            return _write_request(own, tables, slot, replace)
    return _write_request(conn, tables, slot, replace)


def _write_request(
    conn: psycopg.Connection, tables: list[str], slot: str | None, replace: bool = False
) -> str:
    names = []
    for name in tables:
        schema, table = split_name(name)
        found = conn.execute(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        ).fetchone()
        if found is None:
            raise ConfigError(f"table {schema}.{table} does not exist")
        if not table_shape(conn, schema, table).pk:
            raise ConfigError(
                f"table {schema}.{table} has no primary key: an incremental snapshot reads "
                "and reconciles rows by key; add a primary key or use an initial snapshot"
            )
        names.append(f"{schema}.{table}")
    snapshot_id = uuid.uuid4().hex[:12]
    request: dict[str, Any] = {"type": "snapshot", "id": snapshot_id, "tables": names}
    if slot is not None:
        request["slot"] = slot
    if replace:
        request["replace"] = names
    body = json.dumps(request)
    try:
        conn.execute("SELECT pg_logical_emit_message(true, %s, %s)", (SIGNAL_PREFIX, body))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConfigError(
            f"cannot write the snapshot request: {str(exc).strip()}; grant EXECUTE ON "
            "FUNCTION pg_logical_emit_message(boolean, text, text) to this role"
        ) from None
    log.info("requested incremental snapshot %s of %s", snapshot_id, ", ".join(names))
    return snapshot_id


@dataclass
class XidSnapshot:
    """A transaction snapshot (``pg_current_snapshot()``: ``xmin:xmax:xip,...``) that answers
    whether the 32-bit xid of a streamed change was visible to it."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> XidSnapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def sees(self, xid: int) -> bool:
        # Widen the stream's 32-bit xid to the 64-bit xid nearest xmax (within 2^31 of it, as
        # PostgreSQL compares xids modulo 2^32).
        diff = (xid - self.xmax) & 0xFFFFFFFF
        full = self.xmax + (diff - (1 << 32) if diff >= 1 << 31 else diff)
        return full < self.xmax and (full < self.xmin or full not in self.xip)


def row_keys(batch: pa.RecordBatch, pk: list[str], image: str | None = None) -> list[Key | None]:
    """The primary key of each row as a tuple (of the ``_before`` struct when ``image`` says so);
    ``None`` where the key is missing (no before image)."""
    if image is None:
        cols = [batch.column(c).to_pylist() for c in pk]
    else:
        struct = batch.column(image)
        cols = [pc.struct_field(struct, c).to_pylist() for c in pk]
        valid = struct.is_valid().to_pylist()
        cols = [[v if ok else None for v, ok in zip(col, valid, strict=True)] for col in cols]
    return [None if all(v is None for v in key) else key for key in zip(*cols, strict=True)]


@dataclass
class _Held:
    """A chunk read between its watermarks, waiting for the stream to reach them."""

    request: str
    table: str
    token: str
    chunk: int
    pk: list[str]
    upto: list[str] | None
    snapshot: XidSnapshot
    batches: list[pa.RecordBatch]
    low: int | None = None
    removed: set[Key] = field(default_factory=set)
    #: The ``t`` row to hand on at the low watermark (the first chunk of a table to replace).
    truncate: pa.RecordBatch | None = None


class IncrementalSnapshots:
    """The incremental snapshots of one PostgreSQL source: requests, the chunk in flight, and
    the progress carried in positions."""

    def __init__(
        self,
        dsn: str,
        publication: str,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        versions: _core.SchemaVersions | None = None,
        wanted: Callable[[str], bool] | None = None,
        slot: str | None = None,
    ) -> None:
        self._dsn = dsn
        #: The source's slot: a request for another slot's source is left to it.
        self.slot = slot
        #: Whether the run captures a table (``--tables``); a table it does not is skipped.
        self._wanted = wanted or (lambda _table: True)
        #: The source's run-wide schema versions, which number the chunks handed on.
        self._versions = versions
        self.publication = publication
        self.chunk_rows = max(1, chunk_rows)
        #: Requests not finished, oldest first: ``{"id", "tables", "after", "chunks"}``, and
        #: ``"replace"``: the tables whose reading starts with a ``t`` row.
        self.requests: list[dict[str, Any]] = []
        self._held: _Held | None = None
        #: The progress last put into a position.
        self._handed: list[dict[str, Any]] = []
        self._progress: TableProgress | None = None
        #: Distinct xids of the table being read in the last polls (see :meth:`streamed_unseen`).
        self._recent: deque[set[int]] = deque(maxlen=RECENT_POLLS)

    @property
    def active(self) -> bool:
        """True while a requested snapshot is not finished."""
        return bool(self.requests)

    def restore(self, start: PositionJSON | None) -> None:
        """Takes up the progress stored in ``start`` (requests, tables left, last key)."""
        self.requests = json.loads(json.dumps((start or {}).get("incremental", [])))
        self._handed = json.loads(json.dumps(self.requests))
        if self.requests:
            log.info("resuming incremental snapshot %s", self.requests[0]["id"])

    def attach(self, position: PositionJSON | None, fallback: PositionJSON) -> PositionJSON | None:
        """``position`` with the current progress in it (key ``incremental``). When the stream
        brought no new position but the progress changed, ``fallback`` (the last position handed
        out) carries it instead, so chunks handed on are recorded with the next commit."""
        if (
            not self.requests
            and not self._handed
            and (position is None or "incremental" not in position)
        ):
            return position  # no snapshot now or before: nothing to record (every poll's case)
        state: list[dict[str, Any]] = json.loads(json.dumps(self.requests))
        if position is None:
            if state == self._handed:
                return None
            position = fallback
        self._handed = state
        return replace(PgPosition.from_json(position), incremental=state or None).to_json()

    def process(self, batches: list[TableBatch]) -> list[TableBatch]:
        """Consumes signal and watermark messages, reconciles the held chunk with the streamed
        changes, and hands on its rows at its high watermark. Returns the batches to deliver."""
        events: list[tuple[int, str, dict[str, Any]]] = []
        stream: list[TableBatch] = []
        for table, version, batch in batches:
            if table == "_messages":
                batch = self._take_messages(batch, events)
                if batch.num_rows == 0:
                    continue
            stream.append((table, version, batch))
        high: int | None = None
        low: int | None = None
        for pos, prefix, body in events:
            if prefix == SIGNAL_PREFIX:
                self._on_signal(body)
            elif self._held is not None and body.get("token") == self._held.token:
                if body.get("kind") == "low":
                    self._held.low = low = pos
                elif body.get("kind") == "high":
                    high = pos
        self._note_xids(stream)
        held = self._held
        if held is None:
            return stream
        for table, _version, batch in stream:
            if table == held.table:
                self._reconcile(held, batch, high)
        if low is not None and held.truncate is not None:
            # Changes up to L first, then the t row, then the rest (reconciled above without it).
            stream = (
                [b for b in (_cut(t, v, b, low, True) for t, v, b in stream) if b]
                + [self._truncate_at(held, low)]
                + [b for b in (_cut(t, v, b, low, False) for t, v, b in stream) if b]
            )
        if high is None:
            return stream
        # Rows at or before H, then the chunk at H, then what followed H.
        before = [b for b in (_cut(t, v, b, high, True) for t, v, b in stream) if b]
        after = [b for b in (_cut(t, v, b, high, False) for t, v, b in stream) if b]
        return before + self._release(high) + after

    def step(self) -> None:
        """Reads the next chunk when none is in flight and a snapshot has work left. A failed
        read is logged and retried on the next call; missing privileges raise
        :class:`ConfigError`, which stops the run (nothing unstored is acknowledged)."""
        while self._held is None and self.requests:
            request = self.requests[0]
            if not request["tables"]:
                log.info("incremental snapshot %s finished", request["id"])
                self.requests.pop(0)
                continue
            table = request["tables"][0]
            try:
                self._read_chunk(request, table)
            except _Postpone:
                return
            except psycopg.errors.InsufficientPrivilege as exc:
                raise ConfigError(
                    f"incremental snapshot {request['id']} of {table}: {exc}".strip()
                    + " (the source role needs SELECT on the table and EXECUTE on "
                    "pg_logical_emit_message(boolean, text, text))"
                ) from None
            except (psycopg.Error, SourceError) as exc:
                # Not raised on: this poll's batches are decoded and their position handed out.
                log.warning(
                    "incremental snapshot %s: reading %s failed, retrying: %s",
                    request["id"],
                    table,
                    exc,
                )
                return
            except _Skip as exc:
                log.error("incremental snapshot %s skips %s: %s", request["id"], table, exc)
                self._next_table(request)

    def streamed_unseen(self, snapshot: XidSnapshot) -> list[int]:
        """Xids of recently streamed changes that ``snapshot`` does not see (normally none: a
        transaction is visible once the stream carried its commit, but for a moment after its
        commit record is flushed it is still listed as running)."""
        return sorted({x for xids in self._recent for x in xids if not snapshot.sees(x)})

    # -- internals ---------------------------------------------------------------------------

    def _note_xids(self, stream: list[TableBatch]) -> None:
        """Remembers the distinct xids of the last few polls' changes while a snapshot is read
        (of every table: a partition's changes may come under its root's name)."""
        if not self.requests or not self.requests[0]["tables"]:
            return
        xids = [pc.unique(b.column("_xid")) for t, _v, b in stream if "." in t]
        if xids:
            self._recent.append({int(x) for a in xids for x in a.to_pylist()})

    def _take_messages(
        self, batch: pa.RecordBatch, events: list[tuple[int, str, dict[str, Any]]]
    ) -> pa.RecordBatch:
        prefixes = batch.column("prefix")
        ours = pc.fill_null(pc.is_in(prefixes, pa.array([SIGNAL_PREFIX, WATERMARK_PREFIX])), False)
        if not pc.any(ours).as_py():
            return batch
        mine = batch.filter(ours)
        for pos, prefix, content in zip(
            mine.column("_pos").to_pylist(),
            mine.column("prefix").to_pylist(),
            mine.column("content").to_pylist(),
            strict=True,
        ):
            try:
                body = json.loads(content)
            except ValueError:
                log.warning("ignoring a malformed %s message at %s", prefix, pos)
                continue
            if isinstance(body, dict):
                events.append((int(pos), str(prefix), body))
        return batch.filter(pc.invert(ours))

    def _on_signal(self, body: dict[str, Any]) -> None:
        tables = body.get("tables")
        if body.get("type") != "snapshot" or not isinstance(tables, list):
            log.warning("ignoring an unknown signal: %s", body)
            return
        snapshot_id = str(body.get("id") or uuid.uuid4().hex[:12])
        if any(r["id"] == snapshot_id for r in self.requests):
            return
        if body.get("slot") is not None and body.get("slot") != self.slot:
            # A source's own request (a table rewritten or joined, which each source meets).
            return
        names = [".".join(split_name(str(t))) for t in tables]
        replace = [
            n for n in (".".join(split_name(str(t))) for t in body.get("replace", ())) if n in names
        ]
        waiting = self._not_begun()
        if all(name in waiting for name in names):
            self._replace_waiting(replace)
            # Read after this request anyway: a restart that asked again for a table it found
            # rewritten (and stopped before storing a position) left one request per try.
            log.info(
                "incremental snapshot %s of %s: read by a snapshot requested before, which has"
                " not begun reading it",
                snapshot_id,
                ", ".join(names),
            )
            return
        request: dict[str, Any] = {"id": snapshot_id, "tables": names, "after": None, "chunks": 0}
        if replace:
            request["replace"] = replace
        self.requests.append(request)
        log.info("incremental snapshot %s of %s requested", snapshot_id, ", ".join(names))

    def _replace_waiting(self, tables: list[str]) -> None:
        """Marks ``tables``, each waiting in an earlier request that has not begun reading it
        (:meth:`_not_begun`), to be replaced there: the request folded into that one asked for
        it. A first chunk of one read already, its low watermark not met, is read again."""
        for request, waiting in self._waiting():
            for name in waiting:
                if name in tables and name not in request.get("replace", []):
                    request.setdefault("replace", []).append(name)
                    if self._held is not None and self._held.table == name:
                        self._held = None  # its watermarks are ignored from now on

    def _not_begun(self) -> set[str]:
        """The tables requested whose reading has not begun: none of their chunks read, or
        the first one read but its low watermark not yet met in the stream (it was written
        after everything met so far)."""
        return {name for _request, waiting in self._waiting() for name in waiting}

    def _waiting(self) -> list[tuple[dict[str, Any], list[str]]]:
        """Each request with its tables whose reading has not begun (see :meth:`_not_begun`)."""
        held = self._held is not None and self._held.low is not None
        found = []
        for i, request in enumerate(self.requests):
            tables = request["tables"]
            if i == 0 and (request["after"] is not None or held):
                tables = tables[1:]  # the first request's first table is being read
            found.append((request, tables))
        return found

    def _reconcile(self, held: _Held, batch: pa.RecordBatch, high: int | None) -> None:
        """Removes from the held chunk the keys of the changes in ``batch`` that it may not
        reflect: after the low watermark (and not after the high one), or by a transaction its
        snapshot did not see. Only those rows are looked at one by one."""
        pos = batch.column("_pos")
        xids = batch.column("_xid")
        unseen = [x for x in pc.unique(xids).to_pylist() if not held.snapshot.sees(int(x))]
        hits = pc.is_in(xids, pa.array(unseen, xids.type))
        if held.low is not None:
            hits = pc.or_(hits, pc.greater(pos, pa.scalar(held.low, pos.type)))
        if high is not None:
            hits = pc.and_(hits, pc.less_equal(pos, pa.scalar(high, pos.type)))
        if not pc.any(hits).as_py():
            return
        rows = batch.filter(hits)
        if pc.any(pc.equal(rows.column("_op"), "t")).as_py():
            held.batches = []
        found = row_keys(rows, held.pk)
        if "_before" in rows.schema.names:
            found += row_keys(rows, held.pk, "_before")
        held.removed.update(k for k in found if k is not None)

    def _truncate_at(self, held: _Held, low: int) -> TableBatch:
        """The held chunk's ``t`` row, at the low watermark ``low``; handed on once."""
        batch, held.truncate = held.truncate, None
        assert batch is not None
        i = batch.schema.get_field_index("_pos")
        batch = batch.set_column(i, batch.schema.field(i), pa.array([low], pa.uint64()))
        version = 1
        if self._versions is not None:
            version, batch = self._versions.assign(held.table, batch)
        log.info(
            "incremental snapshot %s: %s starts with a truncate of the target's rows",
            held.request,
            held.table,
        )
        return held.table, version, batch

    def _release(self, high: int) -> list[TableBatch]:
        held = self._held
        assert held is not None
        self._held = None
        out: list[TableBatch] = []
        for batch in held.batches:
            rows = batch
            if held.removed:
                keep = pa.array([k not in held.removed for k in row_keys(batch, held.pk)])
                rows = batch.filter(keep)
            if rows.num_rows == 0:
                continue
            i = rows.schema.get_field_index("_pos")
            rows = rows.set_column(
                i, rows.schema.field(i), pa.array([high] * rows.num_rows, pa.uint64())
            )
            # Debezium's marker of incremental snapshot rows (source.snapshot = incremental).
            meta = dict(rows.schema.metadata or {})
            meta[b"arrowtail.snapshot"] = b"incremental"
            rows = rows.replace_schema_metadata(meta)
            version = 1
            if self._versions is not None:
                version, rows = self._versions.assign(held.table, rows)
            out.append((held.table, version, rows))
        request = self.requests[0]
        request["chunks"] += 1
        if self._progress is not None:
            self._progress.advance(sum(b.num_rows for _, _, b in out))
        if held.upto is None:
            self._next_table(request)
        else:
            request["after"] = held.upto
        return out

    def _next_table(self, request: dict[str, Any]) -> None:
        done = request["tables"].pop(0)
        request["after"] = None
        if done in request.get("replace", []):
            request["replace"].remove(done)
        if self._progress is not None:
            self._progress.close()
            log.info(
                "incremental snapshot %s: %s done, %d rows in %.1fs",
                request["id"],
                done,
                self._progress.rows,
                self._progress.seconds,
            )
            self._progress = None

    def _read_chunk(self, request: dict[str, Any], table: str) -> None:
        schema, name = split_name(table)
        token = uuid.uuid4().hex[:12]
        mark = {"id": request["id"], "chunk": request["chunks"], "token": token}
        with pg_admin.connect(self._dsn) as conn:
            sent_as = table
            if table not in self._published_tables(conn):
                # A partition under publish_via_partition_root: read as its root's rows.
                sent_as = pg_admin.leaves_sent_as_root(conn, self.publication).get(table, "")
                if not sent_as:
                    raise _Skip(
                        f"not in publication {self.publication!r}, so its changes are not seen"
                    )
            if not self._wanted(table):
                raise _Skip("not among the tables this run captures (--tables)")
            published = pg_admin.publication_filters(conn, self.publication).get(sent_as)
            shape = table_shape(conn, *split_name(sent_as), published)
            if sent_as != table:
                shape = replace(shape, read_from=(schema, name))
            if not shape.pk:
                raise _Skip(
                    "no primary key among its published columns (chunks are read and "
                    "reconciled by key)"
                )
            if self._progress is None:
                self._progress = TableProgress(f"{table} (incremental)")
            _emit_watermark(conn, {**mark, "kind": "low"})
            conn.autocommit = False
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            text = conn.execute("SELECT pg_current_snapshot()::text").fetchone()
            snapshot = XidSnapshot.parse(str(text[0] if text else "0:0:"))
            late = self.streamed_unseen(snapshot)
            if late:
                # Streamed already, yet not visible: committed (WAL flushed, so decoded) but not
                # yet out of the running set. The chunk could miss its changes, which precede
                # the low watermark; read the chunk again on the next poll instead.
                conn.rollback()
                log.debug("chunk of %s postponed: transactions %s not visible yet", table, late)
                raise _Postpone
            upto = chunk_bound(conn, shape, request["after"], self.chunk_rows)
            batches = _read(conn, shape, request["after"], upto)
            conn.rollback()
            conn.autocommit = True
            _emit_watermark(conn, {**mark, "kind": "high"})
        self._held = _Held(
            request["id"], sent_as, token, mark["chunk"], shape.pk, upto, snapshot, batches
        )
        # A partition read as its root's rows replaces none of the root's other rows.
        if request["after"] is None and sent_as == table and table in request.get("replace", []):
            self._held.truncate = _truncate_row(shape)

    def _published_tables(self, conn: psycopg.Connection) -> set[str]:
        # Asked each time: the publication may gain tables while the source runs.
        return {f"{s}.{t}" for s, t in pg_admin.published_tables(conn, self.publication)}


class _Skip(Exception):
    """A table an incremental snapshot cannot read (the reason is logged)."""


class _Postpone(Exception):
    """The chunk is to be read on a later poll."""


def _read(
    conn: psycopg.Connection, shape: TableShape, after: list[str] | None, upto: list[str] | None
) -> list[pa.RecordBatch]:
    decoder = new_decoder(shape, 0, time.time_ns() // 1000)
    # Rows are counted per table when the chunk is handed on.
    return [b for _, _, b in copy_rows(conn, shape, decoder, None, after=after, upto=upto)]


def _truncate_row(shape: TableShape) -> pa.RecordBatch:
    """A ``t`` row in the columns ``shape``'s snapshot rows have: one all-null row decoded as
    COPY BINARY would send it, its ``_op`` made ``t`` (``_pos`` is set when it is handed on)."""
    decoder = new_decoder(shape, 0, time.time_ns() // 1000)
    row = struct.pack("!h", len(shape.columns)) + struct.pack("!i", -1) * len(shape.columns)
    decoder.feed(COPY_HEADER + row + COPY_TRAILER)
    decoder.finish()
    ((_table, _version, batch),) = decoder.flush()
    i = batch.schema.get_field_index("_op")
    batch = batch.set_column(i, batch.schema.field(i), pa.array(["t"], pa.string()))
    meta = dict(batch.schema.metadata or {})
    meta.pop(b"arrowtail.snapshot", None)
    return batch.replace_schema_metadata(meta)


def _emit_watermark(conn: psycopg.Connection, body: dict[str, Any]) -> None:
    """Writes a non-transactional watermark inside a transaction that takes an xid, so that its
    commit flushes the WAL and the walsender sends the watermark without waiting for the WAL
    writer (PostgreSQL 15 has no flush flag on ``pg_logical_emit_message``)."""
    with conn.transaction():
        conn.execute("SELECT pg_current_xact_id()")
        conn.execute(
            sql.SQL("SELECT pg_logical_emit_message(false, {}, {})").format(
                sql.Literal(WATERMARK_PREFIX), sql.Literal(json.dumps(body))
            )
        )


def _cut(
    table: str, version: int, batch: pa.RecordBatch, high: int, upto: bool
) -> TableBatch | None:
    """The rows of ``batch`` at or before ``high`` (``upto``) or after it; ``None`` if none."""
    pos = batch.column("_pos")
    mask = pc.less_equal(pos, pa.scalar(high, pa.uint64()))
    if not upto:
        mask = pc.invert(mask)
    rows = batch.filter(mask)
    return (table, version, rows) if rows.num_rows else None
