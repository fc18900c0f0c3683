"""Initial snapshots read by several connections that share one snapshot, resumable by piece.

One planner and ``workers`` reader threads, each with its own connection, reading in the same
snapshot (``BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT
'<name>'``) in a transaction per piece, and per table for the planner (:func:`_adopt`):

- the planner (on the connection that also reads the catalog) cuts every table into pieces and
  puts them on a shared work queue, table after table. On PostgreSQL 14+, which reads a ``ctid``
  range with a TID range scan, a table is cut into heap page ranges of about ``chunk_rows`` rows:
  the server reads them for less CPU than key ranges, each of which is an index scan in key
  order (4-15% less for the benchmark's integer key, about half for a random uuid key). A
  table with a primary key whose snapshot was resumed from key ranges, a partition read as its
  root, and every keyed table on older servers are cut into keyset ranges of ``chunk_rows`` rows
  (:func:`snapshot.chunk_bound`; a dense integer key into ranges of ``chunk_rows`` key values,
  :func:`_value_bounds`); older servers read a keyless table whole;
- each reader takes the next piece, copies it through its own COPY decoder (the decoding releases
  the GIL; consecutive pieces of one table share the decoder, restarted for each, so that its
  buffers keep their size and its null arrays are made once) and puts the batches on a bounded
  hand-off queue, then a "piece done" note;
- the caller's thread (the pipeline's) takes them off in order, counts progress, holds each
  piece's batches until its note and then hands them on, numbering ``_seq`` per table across
  pieces; after finished pieces (at most every ``chunk_rows`` rows or second) it yields the
  snapshot state: which ranges of which tables are stored once everything yielded before is. A
  piece's note follows all its batches on the queue, so that state never claims a row not yet
  handed on; and since no piece's rows go on before the piece is done, no row handed on before
  the state lies in a piece the state does not claim (which a resumed run would read again).

Once every piece is read, the tables PostgreSQL rewrote or replaced meanwhile are named
(:func:`_rewritten`): a piece read after such a rewrite finds no rows, nor does one read after
the table was dropped and created again, so the source reads them again.

The state (:class:`SnapshotState`, JSON under ``snapshot_progress`` in the position) lets a
restarted run read only what is missing: key ranges not finished are found by keyset pagination
over the rows outside the finished ranges, page ranges by their complement. A resumed run reads
in a new snapshot, where a row of a keyed table may have moved (an update writes a new row
version, on another page when its own is full) from a page range not finished into a finished
one: so a keyed table's finished page ranges are read again too, for the row versions the first
snapshot did not see (:func:`_written_since`). A keyed table rewritten in between (``VACUUM
FULL``, ``CLUSTER``: another heap file) is read again whole.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from arrowtail import _core
from arrowtail.exceptions import SourceError
from arrowtail.lazy import call
from arrowtail.progress import TableProgress
from arrowtail.sources.base import TableBatch
from arrowtail.sources.marks import SnapshotMarks
from arrowtail.sources.postgres import admin as pg_admin
from arrowtail.sources.postgres import client as pgproto
from arrowtail.sources.postgres import errors as pg_errors
from arrowtail.sources.postgres import snapshot as pg_snapshot
from arrowtail.sources.postgres.admin import publication_filters

log = logging.getLogger("arrowtail.postgres.snapshot")

#: Reader connections of an initial snapshot (``source.snapshot_workers``); docs/pg-snapshots.md
#: gives the measurements behind it.
DEFAULT_WORKERS = 2
#: Bytes of rows held for unfinished pieces, shared by the readers (the source's
#: ``memory_budget``).
DEFAULT_MEMORY_BUDGET = 256 << 20
#: Pages counted to estimate the rows per heap page of a table without a primary key.
SAMPLE_PAGES = 16
#: Longest wait between two snapshot positions while pieces finish (rows permitting).
PROGRESS_SECONDS = 1.0
#: Hand-off queue slots per reader: each holds one batch of about ``CHUNK_BYTES`` of COPY data.
SLOTS_PER_WORKER = 2
#: Why a table is read again after the snapshot (``on_again``): rewritten while it read,
#: replaced (dropped and created again, or another table renamed to its name), or a column of it
#: dropped or renamed before all its pieces were read.
REWRITTEN = "rewritten"
REPLACED = "replaced"
COLUMN_GONE = "column gone"
#: ... or, for a keyed table read in page ranges, its rows moved to another heap file (``VACUUM
#: FULL``, ``CLUSTER``) between the reads of two of its pieces (:func:`_check_file`).
MOVED = "moved"
#: The first server version (``server_version_num``) that reads a ``ctid`` range with a TID
#: range scan, so that tables are cut into heap page ranges.
TID_RANGES_SINCE = 140000
#: Key types whose ranges a snapshot can cut by value (:func:`_value_bounds`).
INTEGER_KEYS = frozenset({"smallint", "integer", "bigint"})

Key = list[str] | None


#: What a keyed table's page ranges are counted against: the snapshot they were first read in
#: (``pg_current_snapshot()`` as text) and the table's heap file then (``pg_class.relfilenode``).
Seen = tuple[str, int]


@dataclass
class Piece:
    """One read of a table: the heap pages ``pages = (first, end)`` (``end`` ``None``: to the
    end), or the keys ``after < key <= upto`` of a table with a primary key read by key, or
    (neither) the whole table; minus ``where`` (the ranges a resumed snapshot already stored),
    or, for a finished page range of a keyed table read again, only the rows ``where`` keeps.
    ``seen``: a keyed table's :data:`Seen`, stored with its finished page ranges; ``file``: a
    keyless table's heap file (``relfilenode``) as the snapshot sees it, stored likewise."""

    shape: pg_snapshot.TableShape
    after: Key = None
    upto: Key = None
    pages: tuple[int, int | None] | None = None
    where: sql.Composable | None = None
    seen: Seen | None = None
    file: int | None = None

    @property
    def bounded(self) -> bool:
        """Whether the piece holds about ``chunk_rows`` rows at most: all but a keyless table
        read whole."""
        return bool(self.shape.pk) or self.pages is not None


@dataclass(frozen=True)
class Progress:
    """Yielded after a piece: the snapshot state (JSON) covering everything yielded so far."""

    state: dict[str, Any]


class SnapshotState:
    """What an initial snapshot has stored, per table::

        {"tables": {"public.a": {"done": true},
                    "public.b": {"keys": [[null, ["100"]], [["300"], ["400"]]], "seq": 200},
                    "public.c": {"pages": [[0, 64]], "seq": 5000}}}

    ``keys``: finished ``(after, upto]`` ranges of key values as text (``null``: unbounded), merged
    where they meet; ``pages``: finished ``[first, end)`` heap page ranges, and for a table with
    a primary key ``seen``, its :data:`Seen` as a list, for one without ``file``, the heap file
    they were read from; ``seq``: the next ``_seq`` of the table. Tables not listed are not
    started."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.tables: dict[str, dict[str, Any]] = copy.deepcopy((data or {}).get("tables", {}))

    def to_json(self) -> dict[str, Any]:
        return {"tables": copy.deepcopy(self.tables)}

    def done(self, table: str) -> bool:
        return bool(self.tables.get(table, {}).get("done"))

    def seq(self, table: str) -> int:
        return int(self.tables.get(table, {}).get("seq", 0))

    def key_ranges(self, table: str) -> list[tuple[Key, Key]]:
        return [(a, b) for a, b in self.tables.get(table, {}).get("keys", [])]

    def page_ranges(self, table: str) -> list[tuple[int, int | None]]:
        return [(a, b) for a, b in self.tables.get(table, {}).get("pages", [])]

    def seen(self, table: str) -> Seen | None:
        found = self.tables.get(table, {}).get("seen")
        return None if found is None else (str(found[0]), int(found[1]))

    def file(self, table: str) -> int | None:
        found = self.tables.get(table, {}).get("file")
        return None if found is None else int(found)

    def finish_piece(self, piece: Piece, seq: int) -> None:
        entry = self.tables.setdefault(piece.shape.name, {})
        entry["seq"] = seq
        if piece.pages is None and piece.shape.pk:
            entry["keys"] = _merge_keys(self.key_ranges(piece.shape.name), piece.after, piece.upto)
            return
        if piece.seen is not None and self.seen(piece.shape.name) != piece.seen:
            # The table is read anew (rewritten since its ranges were stored): they count no more.
            entry["pages"] = []
            entry["seen"] = list(piece.seen)
        stored = self.file(piece.shape.name)
        if piece.file is not None and stored != piece.file:
            if stored is not None:
                # Read anew in another heap file: the stored ranges count no more. Ranges
                # stored without a file (an older checkpoint) were kept by the planner.
                entry["pages"] = []
            entry["file"] = piece.file
        first, end = piece.pages if piece.pages is not None else (0, None)
        entry["pages"] = _merge_pages(self.page_ranges(piece.shape.name), first, end)

    def finish_table(self, table: str) -> None:
        self.tables[table] = {"done": True}


def _merge_keys(ranges: list[tuple[Key, Key]], after: Key, upto: Key) -> list[list[Key]]:
    """``ranges`` with ``(after, upto]`` added, joined to a range that ends at ``after`` and one
    that starts at ``upto`` (keys compare in the server's order, so only meeting ends join)."""
    out = list(ranges)
    for i, (a, b) in enumerate(out):
        if after is not None and b == after:
            after = a
            del out[i]
            break
    for i, (a, b) in enumerate(out):
        if upto is not None and a == upto:
            upto = b
            del out[i]
            break
    out.append((after, upto))
    return [[a, b] for a, b in out]


def _merge_pages(
    ranges: list[tuple[int, int | None]], first: int, end: int | None
) -> list[list[int | None]]:
    """``ranges`` with ``[first, end)`` added, sorted and with touching ranges joined."""
    out: list[list[int | None]] = []
    for a, b in sorted([*ranges, (first, end)], key=lambda r: r[0]):
        last = out[-1] if out else None
        if last is not None and (last[1] is None or last[1] >= a):
            if last[1] is not None:
                last[1] = None if b is None else max(last[1], b)
        else:
            out.append([a, b])
    return out


def page_gaps(done: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    """The page ranges ``done`` leaves out, the last one open-ended (unless ``done`` reaches the
    end)."""
    gaps: list[tuple[int, int | None]] = []
    start: int | None = 0
    for a, b in sorted(done, key=lambda r: r[0]):
        if start is not None and a > start:
            gaps.append((start, a))
        start = None if b is None else max(start or 0, b)
        if start is None:
            break
    if start is not None:
        gaps.append((start, None))
    return gaps


def _not_in(shape: pg_snapshot.TableShape, ranges: list[tuple[Key, Key]]) -> sql.Composable | None:
    """That a row lies in none of the key ``ranges`` (``None`` when there are none)."""
    if not ranges:
        return None
    return sql.SQL(" AND ").join(
        sql.SQL("NOT ({})").format(pg_snapshot.key_range(shape, a, b)) for a, b in ranges
    )


def _connect(dsn: str, wire: str) -> psycopg.Connection | pgproto.PgConnection:
    """A connection for reading pieces, in no transaction yet (see :func:`_adopt`)."""
    if wire == "native":
        return pgproto.connect(dsn)
    return pg_admin.connect(dsn)


def _run(
    conn: psycopg.Connection | pgproto.PgConnection, query: sql.SQL | sql.Composed
) -> list[Any]:
    """Runs ``query`` on either wire's connection; the rows of its last result (none for a
    statement that returns none)."""
    if isinstance(conn, pgproto.PgConnection):
        return conn.query(query.as_string(None))
    cur = conn.execute(query)
    return cur.fetchall() if cur.description is not None else []


def _adopt(conn: psycopg.Connection | pgproto.PgConnection, snapshot_name: str) -> None:
    """Begins a transaction on ``conn`` (in autocommit mode) inside the exported snapshot
    ``snapshot_name``, in one round trip. Each piece (and each table's planning) has a
    transaction of its own, ended by :func:`_leave`, so that the table locks its reads take are
    held only while it runs: a connection that kept them through the whole snapshot would make
    a later reader of the same table queue behind DDL that waits for that lock, a wait
    PostgreSQL cannot see as a deadlock since it passes through this process."""
    begin = sql.SQL(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}"
    ).format(sql.Literal(snapshot_name))
    _run(conn, begin)


def _check_file(
    conn: psycopg.Connection | pgproto.PgConnection, piece: Piece, threads: _Threads
) -> None:
    """Compares the heap file (``relfilenode``) a page range ``piece`` just read on ``conn``
    with the one its table's pieces must read (:meth:`_Threads.read_file`); the piece's
    transaction holds the table's lock from the read on, so no rewrite came between. A keyed
    table whose rows moved is read again (:data:`MOVED`); a keyless one, which only a new
    initial snapshot can read again, is named in a warning. A partitioned table, read whole
    through its partitions, has no file of its own."""
    query = sql.SQL("SELECT pg_relation_filenode({})").format(
        sql.Literal(piece.shape.relation.as_string(None))
    )
    rows = _run(conn, query)
    if rows[0][0] is None or threads.read_file(piece, int(rows[0][0])):
        return
    if piece.seen is not None:
        threads.put(("again", piece.shape.name, MOVED))
    else:
        log.warning(
            "%s: its rows moved to another heap file (VACUUM FULL, CLUSTER) between the reads of"
            " two of the initial snapshot's page ranges, which may have missed some or read"
            " some twice; a table without a primary key cannot be read again while streaming:"
            " take a new initial snapshot of it",
            piece.shape.name,
        )


def _leave(conn: psycopg.Connection | pgproto.PgConnection) -> None:
    """Ends the transaction :func:`_adopt` began, releasing its locks."""
    _run(conn, sql.SQL("ROLLBACK"))


class _Threads:
    """The planner and the readers, and the queues between them and the consumer."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.work: queue.Queue[Piece | None] = queue.Queue()
        self.out: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=SLOTS_PER_WORKER * workers)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        #: Per table read in page ranges, the heap file its pieces must read: for a keyed one
        #: the file its stored finished ranges were read in, or else the one its first finished
        #: piece read.
        self.files: dict[str, int] = {}
        #: The tables some piece of which read another file than that.
        self.moved: set[str] = set()
        self._files_lock = threading.Lock()

    def expect_file(self, table: str, heap: int) -> None:
        """Tells the heap file every piece of ``table`` must read (before any is planned)."""
        with self._files_lock:
            self.files[table] = heap

    def read_file(self, piece: Piece, heap: int) -> bool:
        """Notes the heap file a page range ``piece`` was read from; False, once per table, when
        it is not the one its table's pieces must read, so they may have missed rows or read
        some twice (the rows moved between pages)."""
        table = piece.shape.name
        with self._files_lock:
            if self.files.setdefault(table, heap) == heap or table in self.moved:
                return True
            self.moved.add(table)
            return False

    def put(self, item: tuple[Any, ...]) -> bool:
        """Hands ``item`` to the consumer; False once the snapshot is being stopped."""
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def start(self, name: str, target: Callable[[], None]) -> None:
        def body() -> None:
            try:
                target()
            except BaseException as exc:  # handed to the consumer, which raises it
                self.put(("error", exc))
            finally:
                self.put(("exit",))

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def shut(self) -> None:
        """Stops every thread after its current step and waits a little for them."""
        self.stop.set()
        for _ in range(self.workers):
            self.work.put(None)
        for thread in self.threads:
            thread.join(timeout=5)


def snapshot(
    dsn: str,
    snapshot_name: str | None,
    tables: list[tuple[str, str]],
    position: int,
    chunk_rows: int = pg_snapshot.DEFAULT_CHUNK_ROWS,
    *,
    workers: int = DEFAULT_WORKERS,
    wire: str = "libpq",
    versions: _core.SchemaVersions | None = None,
    publication: str | None = None,
    resume: dict[str, Any] | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    watch: list[str] | None = None,
    on_again: Callable[[str, str], None] | None = None,
    on_read: Callable[[], None] | None = None,
) -> Iterator[TableBatch | Progress]:
    """Reads ``tables`` as of the exported snapshot ``snapshot_name`` with ``workers`` reader
    connections, yielding batches (rows with ``position`` as ``_pos``) and, after finished
    pieces, a :class:`Progress`. ``resume``: the state of an interrupted snapshot, whose finished
    parts are skipped; with no ``snapshot_name`` a new snapshot is taken and exported here.
    ``wire="native"`` reads the COPY data over arrowtail's own client. With ``publication``, each
    table's column list and row filter there apply. ``memory_budget``: bytes of unfinished
    pieces held at most (see :func:`_consume`). ``on_again(table, cause)``: a table to read
    again, as soon as the consumer learns it, before any later snapshot position: ``cause`` is
    :data:`COLUMN_GONE` (see :func:`_gone`), :data:`MOVED` (see :func:`_check_file`), or
    :data:`REWRITTEN` or :data:`REPLACED` for the
    tables of ``watch`` (partitions too) rewritten or replaced since the snapshot was taken,
    found once every piece is read (see :func:`_rewritten`). ``on_read``: called once every
    piece is read, last."""
    snapshot_ts_us = time.time_ns() // 1000
    state = SnapshotState(resume)
    exporter: psycopg.Connection | None = None
    if snapshot_name is None:
        # Exports the snapshot and keeps it importable; it reads no table, so it holds no lock.
        exporter = pg_admin.connect(dsn, autocommit=False)
        exporter.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = exporter.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        snapshot_name = str(row[0])
    threads = _Threads(workers)
    asked: dict[str, str] = {}

    def again(table: str, cause: str) -> None:
        # Once per table; a replaced one again, since its reading must start with a t row.
        before = asked.get(table)
        if before is None or (cause == REPLACED and before != REPLACED):
            asked[table] = cause
            if on_again is not None:
                on_again(table, cause)

    try:
        name = snapshot_name

        def read() -> None:
            reader = _connect(dsn, wire)
            # The decoder of the reader's last piece, while it may serve the next one.
            last: tuple[pg_snapshot.TableShape, _core.CopyDecoder] | None = None
            try:
                while not threads.stop.is_set():
                    piece = threads.work.get()
                    if piece is None:
                        return
                    if last is not None and last[0] == piece.shape:
                        # The same table's next piece: the decoder keeps its allocations.
                        decoder = last[1]
                        decoder.restart(0)
                    else:
                        decoder = pg_snapshot.new_decoder(
                            piece.shape, position, snapshot_ts_us, 0, versions
                        )
                    last = None
                    _adopt(reader, name)
                    try:
                        for batch in pg_snapshot.copy_rows(
                            reader,
                            piece.shape,
                            decoder,
                            None,
                            after=piece.after,
                            upto=piece.upto,
                            where=piece.where,
                            pages=piece.pages,
                        ):
                            if not threads.put(("batch", piece, batch)):
                                return
                    except (psycopg.Error, SourceError) as exc:
                        # Changed before the piece's read took its lock: nothing was read.
                        _gone(exc, piece.shape.name, threads)
                    else:
                        last = (piece.shape, decoder)
                        if piece.pages is not None:
                            _check_file(reader, piece, threads)
                    _leave(reader)
                    threads.put(("done", piece))
            finally:
                reader.close()

        for i in range(workers):
            threads.start(f"arrowtail-snapshot-{i}", read)
        threads.start(
            "arrowtail-snapshot-plan",
            # The planner reads its own copy of the state the consumer updates.
            lambda: _plan(
                dsn,
                name,
                tables,
                chunk_rows,
                publication,
                SnapshotState(resume),
                threads,
            ),
        )
        # A resumed snapshot handed on its first row before (docs/debezium.md).
        first = f"{tables[0][0]}.{tables[0][1]}" if tables and resume is None else None
        hold = max(1, memory_budget // workers)
        yield from _consume(threads, state, chunk_rows, SnapshotMarks(first), hold, again)
        for table, cause in _rewritten(dsn, name, watch or []):
            again(table, cause)
        if on_read is not None:
            on_read()
    finally:
        threads.shut()
        if exporter is not None:
            exporter.close()


def _rewritten(dsn: str, snapshot_name: str, watch: list[str]) -> list[tuple[str, str]]:
    """Those of ``watch`` (``schema.table``) that PostgreSQL rewrote with other columns
    (:data:`REWRITTEN`) or that were replaced (:data:`REPLACED`: dropped and created again, or
    another table renamed to the name) since the snapshot ``snapshot_name`` was taken: their
    catalog fingerprint as the snapshot sees it differs from the one of the moment
    (:func:`pg_admin.fingerprint_changes`, :func:`pg_admin.replaced`).

    Such a rewrite (``ALTER TABLE ... ADD COLUMN ... DEFAULT random()``, ``ALTER COLUMN ...
    TYPE``) is not MVCC-safe: it writes every row anew under its own transaction, which an older
    snapshot does not see, so a piece read after it finds no rows; and the stream carries none
    of them either. A table rewritten after its pieces were read is named too (its rows are
    read again), as is one rewritten before and again after. The pieces of a replaced table
    read the new table (the name is looked up anew) as the snapshot sees it: without the rows
    written since, which a change carries only when the table was published as they were
    written."""
    if not watch:
        return []
    with pg_admin.connect(dsn) as conn:
        _adopt(conn, snapshot_name)
        seen = pg_admin.table_fingerprints(conn, watch)
        _leave(conn)
        now = pg_admin.table_fingerprints(conn, watch)
    found = []
    for table, before in sorted(seen.items()):
        if table not in now:
            continue
        if pg_admin.replaced(before, now[table]):
            found.append((table, REPLACED))
        elif pg_admin.fingerprint_changes(before, now[table])[0]:
            found.append((table, REWRITTEN))
    return found


def _gone(exc: psycopg.Error | SourceError, table: str, threads: _Threads) -> None:
    """Acts on an error reading ``table`` that DDL committed since the snapshot was taken may
    cause (the snapshot reads the catalog as it was, the statements it runs meet the catalog
    of the moment): a table dropped or renamed is named in a warning (one renamed into the
    capture is read under its new name once the run streams); a column dropped or renamed
    sends the consumer the table, to read again, ahead of the piece's end (a snapshot position
    that counts the piece as read must not be stored before the request is written).
    Anything else is raised."""
    code = pg_errors.code_of(exc)
    if code == pg_errors.UNDEFINED_TABLE:
        log.warning(
            "%s was dropped or renamed while the initial snapshot read it: the rows read before"
            " stay in the target under this name, as a DROP or a rename is no change",
            table,
        )
    elif code == pg_errors.UNDEFINED_COLUMN:
        threads.put(("again", table, COLUMN_GONE))
    else:
        raise exc


def _plan(
    dsn: str,
    snapshot_name: str,
    tables: list[tuple[str, str]],
    chunk_rows: int,
    publication: str | None,
    state: SnapshotState,
    threads: _Threads,
) -> None:
    """Cuts the tables into pieces for the readers, table after table, telling the consumer each
    table's row estimate before and its number of pieces after; then lets the readers end. Each
    table is planned in a transaction of its own in the snapshot (see :func:`_adopt`)."""
    conn = pg_admin.connect(dsn)
    try:
        _adopt(conn, snapshot_name)
        filters = publication_filters(conn, publication) if publication else {}
        tid_ranges = conn.info.server_version >= TID_RANGES_SINCE
        todo = [(s, t) for s, t in tables if not state.done(f"{s}.{t}")]
        # relkind and relfilenode as the snapshot sees them: a plain table's heap file.
        sizes: dict[tuple[str, str], tuple[int, int, int | None]] = {
            (str(n), str(r)): (int(rows), int(pages), int(node) if kind == "r" else None)
            for n, r, rows, pages, kind, node in conn.execute(
                "SELECT n.nspname, c.relname, c.reltuples::bigint, c.relpages, c.relkind, "
                "c.relfilenode "
                "FROM unnest(%s::text[], %s::text[]) AS w(nsp, rel) "
                "JOIN pg_namespace n ON n.nspname = w.nsp "
                "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel",
                pg_admin.name_arrays([f"{s}.{t}" for s, t in todo]) or ([], []),
            ).fetchall()
        }
        snapshot_seen = _snapshot_seen(conn) if tid_ranges else None
        _leave(conn)
        threads.put(("total", sum(max(rows, 0) for rows, _pages, _node in sizes.values())))
        for schema, table in todo:
            if threads.stop.is_set():
                return
            name = f"{schema}.{table}"
            estimate, relpages, heap = sizes.get((schema, table), (-1, 0, None))
            threads.put(("table", name, estimate))
            count = 0
            _adopt(conn, snapshot_name)
            try:
                shape = pg_snapshot.table_shape(conn, schema, table, filters.get(name))
                by_pages = (
                    snapshot_seen is not None
                    and heap is not None
                    and shape.read_from is None
                    and not state.key_ranges(name)
                )
                if shape.pk and by_pages:
                    assert snapshot_seen is not None and heap is not None
                    stored = _stored_ranges_hold(conn, state, name, heap)
                    if stored is not None:
                        # The finished ranges hold only while the rows stay in that file.
                        threads.expect_file(name, stored[1])
                    now = (snapshot_seen, heap)
                    pieces = _keyed_page_pieces(
                        conn, shape, chunk_rows, state, estimate, relpages, now, stored
                    )
                elif shape.pk:
                    pieces = _key_pieces(conn, shape, chunk_rows, state, estimate)
                elif tid_ranges:
                    pieces = _page_pieces(
                        conn,
                        shape,
                        chunk_rows,
                        page_gaps(_keyless_ranges(state, name, heap, threads)),
                        estimate,
                        relpages,
                        file=heap or None,
                    )
                else:
                    pieces = iter([Piece(shape)])
                for piece in pieces:
                    threads.work.put(piece)
                    count += 1
            except (psycopg.Error, SourceError) as exc:
                # Changed meanwhile; the pieces already planned meet that too.
                _gone(exc, name, threads)
            _leave(conn)
            threads.put(("planned", name, count))
    finally:
        conn.close()
        for _ in range(threads.workers):
            threads.work.put(None)


def _key_pieces(
    conn: psycopg.Connection,
    shape: pg_snapshot.TableShape,
    chunk_rows: int,
    state: SnapshotState,
    estimate: int,
) -> Iterator[Piece]:
    """Keyset ranges of ``chunk_rows`` rows over the keys no finished range holds; on a first
    read of a table with a dense integer key, ranges of ``chunk_rows`` key values instead."""
    where = _not_in(shape, state.key_ranges(shape.name))
    if where is None and (bounds := _value_bounds(conn, shape, chunk_rows, estimate)) is not None:
        after: Key = None
        for bound in bounds:
            yield Piece(shape, after=after, upto=[str(bound)])
            after = [str(bound)]
        yield Piece(shape, after=after)
        return
    after = None
    while True:
        if where is None:
            upto = pg_snapshot.chunk_bound(conn, shape, after, chunk_rows)
        else:
            upto = pg_snapshot.chunk_bound(conn, shape, after, chunk_rows, where)
        yield Piece(shape, after=after, upto=upto, where=where)
        if upto is None:
            return
        after = upto


def _value_bounds(
    conn: psycopg.Connection, shape: pg_snapshot.TableShape, chunk_rows: int, estimate: int
) -> list[int] | None:
    """Upper bounds of ranges of ``chunk_rows`` consecutive values of a one-column integer key,
    from its smallest value to its largest, or ``None`` to cut the table by keyset pagination.

    A range of ``chunk_rows`` distinct integers holds at most ``chunk_rows`` rows, as a keyset
    piece does, and needs no query to find: each keyset bound costs the server an index scan
    over the ``chunk_rows`` keys before it, together about a sixth of what the COPY of the
    benchmark's 2M-row table costs it. Used only while the keys fill at least half their span
    by the catalog's row estimate (or the span is under two pieces), so that the ranges are
    not mostly empty; a table never analyzed has no estimate and is paginated."""
    if len(shape.pk) != 1 or shape.pk_types[0] not in INTEGER_KEYS or estimate <= 0:
        return None
    key = sql.Identifier(shape.pk[0])
    row = conn.execute(
        sql.SQL("SELECT min({k}), max({k}) FROM {t}").format(
            k=key, t=sql.Identifier(shape.schema, shape.table)
        )
    ).fetchone()
    if row is None or row[0] is None:
        return None
    low, high = int(row[0]), int(row[1])
    if high - low + 1 > 2 * max(estimate, chunk_rows):
        return None
    return list(range(low - 1 + chunk_rows, high, chunk_rows))


def _snapshot_seen(conn: psycopg.Connection) -> str:
    """The snapshot ``conn``'s transaction reads in, as ``pg_snapshot`` text."""
    row = conn.execute("SELECT pg_current_snapshot()::text").fetchone()
    assert row is not None
    return str(row[0])


#: Row versions some transaction wrote that the snapshot ``{}`` (``pg_snapshot`` text) did
#: not see. ``xmin`` is a 32-bit transaction id; its 64-bit id is the one of the same low 32
#: bits at or before the current snapshot's ``xmax`` (exact while fewer than 2^32 transactions
#: separate them; a frozen row keeps its ``xmin`` as it was written).
_WRITTEN_SINCE = (
    "NOT pg_visible_in_snapshot(((SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
    " - (((SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint) % 4294967296)"
    " - xmin::text::bigint + 4294967296) % 4294967296)::text::xid8, {}::pg_snapshot)"
)
#: Transactions between a stored snapshot and the current one past which :data:`_WRITTEN_SINCE`
#: could take a row as seen that was not: the table is then read again whole.
_XID_HORIZON = 1 << 31


def _written_since(seen: str) -> sql.Composable:
    """That a row version was written by a transaction the snapshot ``seen`` did not see."""
    return sql.SQL(_WRITTEN_SINCE).format(sql.Literal(seen))


def _stored_ranges_hold(
    conn: psycopg.Connection, state: SnapshotState, table: str, heap: int
) -> Seen | None:
    """The :data:`Seen` of a keyed table's stored finished page ranges, if a resumed snapshot
    can build on them: the table's rows are still in the heap file they were read from (a
    rewrite, ``VACUUM FULL`` or ``CLUSTER`` moves every row) and fewer than
    :data:`_XID_HORIZON` transactions passed. ``None`` when none are stored or they cannot be
    built on (then the table is read again whole, and its stored ranges replaced)."""
    seen, done = state.seen(table), state.page_ranges(table)
    if not done:
        return None
    if seen is not None and seen[1] == heap:
        row = conn.execute(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            " - pg_snapshot_xmin(%s::pg_snapshot)::text::bigint",
            (seen[0],),
        ).fetchone()
        if row is not None and int(row[0]) < _XID_HORIZON:
            return seen
    log.info(
        "%s: its rows are no longer where the stored pieces of its snapshot read them: reading"
        " it again whole",
        table,
    )
    return None


def _keyless_ranges(
    state: SnapshotState, table: str, heap: int | None, threads: _Threads
) -> list[tuple[int, int | None]]:
    """The stored finished page ranges of a keyless table that a resumed snapshot can skip: all
    of them while its rows are in the heap file they were read from (which its pieces must then
    read), none once the file changed (``VACUUM FULL``, ``CLUSTER``, ``TRUNCATE``): rows may have
    moved from unfinished ranges into finished ones, so the table is read again whole, and the
    rows stored before the stop arrive twice (a keyless table has no key to tell them by). A
    checkpoint that stored no file (an older one) is taken as it is."""
    done, stored = state.page_ranges(table), state.file(table)
    if not done or stored is None or not heap:
        return done
    if stored == heap:
        threads.expect_file(table, heap)
        return done
    log.warning(
        "%s: its rows are no longer where the stored pieces of its snapshot read them (the table"
        " was rewritten since): reading it again whole; a table without a primary key gets the"
        " rows stored before the stop again",
        table,
    )
    return []


def _keyed_page_pieces(
    conn: psycopg.Connection,
    shape: pg_snapshot.TableShape,
    chunk_rows: int,
    state: SnapshotState,
    estimate: int,
    relpages: int,
    now: Seen,
    stored: Seen | None,
) -> Iterator[Piece]:
    """Heap page ranges of a table with a primary key, as :func:`_page_pieces` cuts them.

    A first read covers every page, its pieces noting ``now``. A resumed one whose finished
    ranges ``stored`` can build on (:func:`_stored_ranges_hold`) reads the unfinished ranges
    whole and the finished ones for the row versions written since that snapshot: a row
    updated meanwhile may have moved into a finished range, and the stream's change of it may
    lack its unchanged TOAST values. Every row version the current snapshot sees is then
    either read or was in the same place, seen, in a finished range."""
    if stored is None:
        yield from _page_pieces(conn, shape, chunk_rows, [(0, None)], estimate, relpages, seen=now)
        return
    done = state.page_ranges(shape.name)
    yield from _page_pieces(
        conn, shape, chunk_rows, page_gaps(done), estimate, relpages, seen=stored
    )
    yield from _page_pieces(
        conn,
        shape,
        chunk_rows,
        done,
        estimate,
        relpages,
        seen=stored,
        where=_written_since(stored[0]),
    )


def _page_pieces(
    conn: psycopg.Connection,
    shape: pg_snapshot.TableShape,
    chunk_rows: int,
    ranges: list[tuple[int, int | None]],
    estimate: int,
    relpages: int,
    *,
    seen: Seen | None = None,
    where: sql.Composable | None = None,
    file: int | None = None,
) -> Iterator[Piece]:
    """Heap page ranges holding about ``chunk_rows`` rows each over ``ranges``; a range that is
    open-ended stays so in its last piece, so pages added since the size was read are read
    too."""
    ident = sql.Identifier(shape.schema, shape.table)
    row = conn.execute(
        sql.SQL(
            "SELECT pg_relation_size({rel}) / current_setting('block_size')::int, "
            "(SELECT count(*) FROM {t} WHERE {r})"
        ).format(
            rel=sql.Literal(ident.as_string(conn)),
            t=ident,
            r=pg_snapshot.page_range(0, SAMPLE_PAGES),
        )
    ).fetchone()
    pages, sampled = (int(row[0]), int(row[1])) if row else (0, 0)
    if sampled and pages:
        per_page = sampled / min(pages, SAMPLE_PAGES)
    elif estimate > 0 and relpages > 0:
        per_page = estimate / relpages
    else:
        per_page = 100.0
    step = max(1, int(chunk_rows / max(per_page, 1.0)))
    for first, end in ranges:
        stop = pages if end is None else end
        while first + step < stop:
            yield Piece(shape, pages=(first, first + step), where=where, seen=seen, file=file)
            first += step
        yield Piece(shape, pages=(first, end), where=where, seen=seen, file=file)


def _consume(
    threads: _Threads,
    state: SnapshotState,
    chunk_rows: int,
    marks: SnapshotMarks,
    hold_bytes: int = DEFAULT_MEMORY_BUDGET,
    again: Callable[[str, str], None] | None = None,
) -> Iterator[TableBatch | Progress]:
    """The consumer side: batches with ``_seq`` numbered per table, progress per table and
    overall, and a :class:`Progress` after a finished piece once ``chunk_rows`` rows or
    :data:`PROGRESS_SECONDS` passed since the last one (each is a commit of the sink, so many
    small tables do not make one each), until every thread has ended. ``marks`` holds batches
    back until it knows their snapshot markers (a table ends when its last piece is done).

    A :class:`Progress` covers every row handed on before it, so no row of a piece still being
    read may go before it: such a row would be stored under a position that does not count its
    piece as finished, and a resumed run would read the piece and store the row again. The
    batches of a piece are therefore held until the piece is done and handed on with it (a
    piece holds at most ``chunk_rows`` rows, about as many for a heap page range). A keyless
    table read whole (a server without TID range scans) is no such bound piece: its batches go
    on as they come, and no :class:`Progress` is given while it has handed on some but not
    all of its rows. Neither is a piece whose rows pass ``hold_bytes`` (very wide rows): what
    it holds goes on then, and the rest as it comes, under the same rule, so memory stays
    bounded and only the checkpoints wait for the piece to end. ``again(table, cause)``: told
    of a table a reader or the planner found needs reading again (see :func:`_gone`)."""
    bars: dict[str, TableProgress] = {}
    planned: dict[str, int] = {}
    finished: dict[str, int] = {}
    seqs: dict[str, int] = {}
    # Batches of running pieces, held until the piece is done (by piece), and their bytes.
    held: dict[int, list[TableBatch]] = {}
    held_bytes: dict[int, int] = {}
    # Rows each running whole-table piece has handed on so far.
    streamed: dict[int, int] = {}
    overall: TableProgress | None = None
    exits = 0
    started = time.monotonic()
    # Rows read and the time at the last Progress.
    marked_rows, marked_at = 0, started

    def due() -> bool:
        if streamed:
            return False
        return (
            overall is not None
            and overall.rows - marked_rows >= chunk_rows
            or time.monotonic() - marked_at >= PROGRESS_SECONDS
        )

    def hand_on(item: TableBatch, handed: int) -> Iterator[TableBatch | Progress]:
        """``item``, whose rows the piece's decoder numbered from ``handed``, as the next rows
        of its table."""
        table, version, batch = item
        seq = seqs.setdefault(table, state.seq(table))
        seqs[table] = seq + batch.num_rows
        yield from marks.batch((table, version, _renumber(batch, seq - handed)))

    def release(piece: Piece) -> Iterator[TableBatch | Progress]:
        """What ``piece`` holds, handed on in order; its rows handed on so far are then counted
        in ``streamed`` (a piece holds batches or streams them, never both)."""
        handed = streamed.get(id(piece), 0)
        for item in held.pop(id(piece), []):
            yield from hand_on(item, handed)
            handed += item[2].num_rows
        held_bytes.pop(id(piece), None)
        streamed[id(piece)] = handed

    def table_finished(table: str) -> bool:
        return table in planned and finished.get(table, 0) >= planned[table]

    def close_table(table: str) -> None:
        state.finish_table(table)
        bar = bars.pop(table)
        bar.close()
        log.info(
            "snapshot of %s: %d rows in %.1fs (%.0f rows/s)",
            table,
            bar.rows,
            bar.seconds,
            bar.rate,
        )

    while exits < threads.workers + 1:
        item = threads.out.get()
        kind = item[0]
        if kind == "batch":
            piece, (table, version, batch) = item[1], item[2]
            bars[table].advance(batch.num_rows)
            if overall is not None:
                overall.advance(batch.num_rows)
            size = held_bytes.get(id(piece), 0) + batch.get_total_buffer_size()
            if piece.bounded and id(piece) not in streamed and size <= hold_bytes:
                held.setdefault(id(piece), []).append((table, version, batch))
                held_bytes[id(piece)] = size
            else:
                # Past the bound (or never bound): what the piece holds goes on first.
                yield from release(piece)
                handed = streamed[id(piece)]
                streamed[id(piece)] = handed + batch.num_rows
                yield from hand_on((table, version, batch), handed)
        elif kind == "done":
            piece = item[1]
            table = piece.shape.name
            yield from release(piece)
            streamed.pop(id(piece), None)
            finished[table] = finished.get(table, 0) + 1
            state.finish_piece(piece, seqs.get(table, state.seq(table)))
            if table_finished(table):
                close_table(table)
                yield from marks.table_done(table)
            if due():
                marked_rows, marked_at = overall.rows if overall else 0, time.monotonic()
                yield from marks.other(Progress(state.to_json()))
        elif kind == "total":
            # An estimate (pg_class.reltuples) of every table still to read.
            overall = TableProgress("snapshot (all tables)", item[1])
        elif kind == "table":
            table, estimate = item[1], item[2]
            bars[table] = TableProgress(table, estimate if estimate > 0 else None)
        elif kind == "planned":
            table, count = item[1], item[2]
            planned[table] = count
            if table_finished(table):
                close_table(table)
                yield from marks.table_done(table)
                if due():
                    marked_rows, marked_at = overall.rows if overall else 0, time.monotonic()
                    yield from marks.other(Progress(state.to_json()))
        elif kind == "error":
            raise item[1]
        elif kind == "again":
            # A table to read again, told before the piece that found it ends.
            if again is not None:
                again(item[1], item[2])
        elif kind == "exit":
            exits += 1
    yield from marks.finish()
    if overall is not None:
        overall.close()
        log.info(
            "snapshot: %d rows of %d tables in %.1fs (%.0f rows/s)",
            overall.rows,
            len(planned),
            time.monotonic() - started,
            overall.rate,
        )


def _renumber(batch: pa.RecordBatch, shift: int) -> pa.RecordBatch:
    """``batch`` with ``shift`` (never negative: a table's count only grows) added to ``_seq``."""
    if shift == 0:
        return batch
    i = batch.schema.get_field_index("_seq")
    arrays = list(batch.columns)
    arrays[i] = call("add", arrays[i], pa.scalar(shift, pa.uint32()))
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)
