"""The PostgreSQL source: logical replication with pgoutput, decoded in Rust.

Protocol options are chosen by server version: proto_version 4 on PostgreSQL 16+, 3 on 15, 2 on
14 (in-progress transactions are streamed, so a huge transaction never waits whole in the server's
memory or ours), 1 before; ``binary`` tuples and ``messages`` from 14 on. Binary tuples are used
only when every published column type has a binary form the decoder reads.

Positions are ``{"lsn": commit LSN, "end_lsn": end of the commit record}``; ``lsn`` orders them,
``end_lsn`` is what the server is told is flushed, so a restart resumes after the last stored
transaction. ``last_commit_lsn``, the end of the last transaction handed on, rides along (also in
idle positions), so that a resumed run's first changes name the commit before them as an
uninterrupted run's would (Debezium's ``source.sequence``). The standby status update reports
only what the pipeline acknowledged — never more — and goes out at least every
``status_interval`` seconds and whenever a keepalive asks for it; when nothing is in flight, the
keepalive's WAL end becomes a position too, so that once stored and acknowledged an idle slot
does not pin WAL.

The two hot connections (the stream and the snapshot's COPY reads) use arrowtail's own wire client
by default (``wire="native"``: raw socket blocks decoded in Rust); ``wire="libpq"`` runs them
through psycopg instead, for authentication methods the native client does not speak (Kerberos,
GSSAPI, SSPI). Administrative connections always use psycopg.

A lost connection (walsender terminated, server restart) is retried with exponential backoff for
``reconnect_timeout`` seconds, resuming after the last transaction handed to the pipeline.

With ``heartbeat_interval`` set, a heartbeat message is written that often (see
``pg_heartbeat.py``); heartbeats never reach the sink, but their LSN becomes an idle position like
a keepalive's, so a slot whose tables are quiet keeps advancing.
Transactions streamed in progress and prepared ones wait in the decoder for their outcome; once
the messages they brought since the last time pass ``memory_budget``, their rows go to disk
(:mod:`arrowtail.spill`, one directory per transaction under ``spill_dir``) until Stream Commit /
Commit Prepared, and are then handed on from there in order, ``drain_bytes`` per poll, before
anything that committed after them; aborts void them (a subtransaction's: only its rows).

Two hooks work on each poll's batches: incremental snapshots requested while streaming
(``pg_incremental``, whose progress rides in the positions under ``incremental``) and, when
``toast_reselect`` is on, the re-reading of unchanged TOAST values (``pg_toast``).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import psycopg

from arrowtail import _core
from arrowtail._core import format_lsn
from arrowtail.config import WIRES
from arrowtail.exceptions import ConfigError, SourceError, SourceRefused
from arrowtail.redact import redact_url, scrub
from arrowtail.sources.base import (
    Chunk,
    PositionJSON,
    ReservedNames,
    TableBatch,
    retry_with_backoff,
    too_many_to_name,
)
from arrowtail.sources.postgres import admin as pg_admin
from arrowtail.sources.postgres import errors as pg_errors
from arrowtail.sources.postgres.heartbeat import Heartbeat, drop_heartbeats
from arrowtail.sources.postgres.incremental import (
    DEFAULT_CHUNK_ROWS as DEFAULT_INCREMENTAL_CHUNK_ROWS,
)
from arrowtail.sources.postgres.incremental import IncrementalSnapshots, request_snapshot
from arrowtail.sources.postgres.keys import CatalogKeys
from arrowtail.sources.postgres.parallel import DEFAULT_WORKERS as DEFAULT_SNAPSHOT_WORKERS
from arrowtail.sources.postgres.parallel import MOVED, REPLACED, REWRITTEN, Progress
from arrowtail.sources.postgres.position import PgPosition
from arrowtail.sources.postgres.replication import (
    Stream,
    start_native_replication,
    start_replication,
)
from arrowtail.sources.postgres.snapshot import DEFAULT_CHUNK_ROWS as DEFAULT_SNAPSHOT_CHUNK_ROWS
from arrowtail.sources.postgres.toast import ToastReselect
from arrowtail.spill import Spill
from arrowtail.tables import parse_all as parse_tables
from arrowtail.tables import refuse_patterns

log = logging.getLogger("arrowtail.postgres")


#: How often a streaming run looks in the catalog for what no change tells of: a table added to
#: the publication, or replaced under a captured name, and not changed since; a partition
#: attached under a root that publishes it (see ``_look_at_catalog``).
CATALOG_CHECK_SECONDS = 10.0

#: What positions name as the fingerprint of a captured table that left the publication while a
#: run streamed: should it come back, the changes made while it was out are in none.
LEFT = "left"


def _end_lsn(position: PositionJSON) -> int:
    """Where a position ends: ``end_lsn``, or ``lsn`` for positions written without one."""
    return PgPosition.from_json(position).resume_lsn


def _oldest_commit(batches: list[TableBatch]) -> float:
    """Epoch seconds of the oldest ``_commit_ts`` in ``batches`` (now when there is none).

    A flushed batch holds its rows in commit order, so its first row has its oldest commit."""
    oldest = time.time()
    for _table, _version, batch in batches:
        if batch.num_rows and batch.schema.get_field_index("_commit_ts") >= 0:
            low = batch.column("_commit_ts")[0].value
            if low is not None:
                oldest = min(oldest, low / 1e6)
    return oldest


def protocol_for(server_version: int) -> dict[str, Any]:
    """pgoutput options for a server version (``server_version_num``)."""
    if server_version >= 160000:
        proto = 4
    elif server_version >= 150000:
        proto = 3
    elif server_version >= 140000:
        proto = 2
    else:
        proto = 1
    new = server_version >= 140000
    return {
        "proto_version": proto,
        "binary": new,
        "messages": new,
        "streaming": "on" if proto >= 2 else None,
    }


class PostgresSource:
    """Streams committed changes of the tables in a publication.

    Example::

        source = PostgresSource("postgresql://cdc@db/shop", slot="arrowtail",
                                publication="arrowtail", snapshot="initial")
    """

    kind = "postgres"
    position_type = PgPosition

    def __init__(
        self,
        dsn: str,
        *,
        slot: str = "arrowtail",
        publication: str = "arrowtail",
        tables: list[str] | None = None,
        snapshot: str = "never",
        password: str | None = None,
        binary: bool | None = None,
        status_interval: float = 10.0,
        reconnect_timeout: float = 60.0,
        max_poll_bytes: int = 32 << 20,
        settings: dict[str, str] | None = None,
        heartbeat_interval: float | None = None,
        snapshot_chunk_rows: int = DEFAULT_SNAPSHOT_CHUNK_ROWS,
        snapshot_workers: int = DEFAULT_SNAPSHOT_WORKERS,
        incremental_chunk_rows: int = DEFAULT_INCREMENTAL_CHUNK_ROWS,
        toast_reselect: bool = False,
        wire: str = "native",
        memory_budget: int = 256 << 20,
        spill_dir: str | None = None,
        drain_bytes: int = 16 << 20,
        row_lsn: bool = False,
    ) -> None:
        if wire not in WIRES:
            raise ConfigError(f"source.wire must be one of {', '.join(WIRES)}, not {wire!r}")
        self.wire = wire
        if password:
            dsn = psycopg.conninfo.make_conninfo(dsn, password=password)
        self._dsn = dsn
        self.display_dsn = redact_url(dsn)
        self.slot = slot
        self.publication = publication
        self.table_specs = parse_tables(list(tables or []))
        refuse_patterns(self.table_specs)
        self.tables = [spec.name for spec in self.table_specs]
        self.snapshot_mode = snapshot
        self._binary_override = binary
        self.status_interval = status_interval
        self.reconnect_timeout = reconnect_timeout
        self.max_poll_bytes = max_poll_bytes
        self._settings = settings or {}
        self.snapshot_chunk_rows = snapshot_chunk_rows
        if snapshot_workers < 1:
            raise ConfigError("source.snapshot_workers must be at least 1")
        self.snapshot_workers = snapshot_workers
        #: The run's schema versions, shared by the stream decoder and every snapshot reader, so
        #: each batch leaves its decoder numbered for the whole run.
        self.schema_versions = _core.SchemaVersions()
        self._incremental = IncrementalSnapshots(
            dsn,
            publication,
            incremental_chunk_rows,
            self.schema_versions,
            wanted=self._wanted,
            slot=slot,
        )
        #: Batches of captured tables whose column names were checked (pgoutput sends every
        #: published table; ``tables`` may name fewer).
        self._names = ReservedNames()
        #: Whether the publication holds more than ``tables`` (known at ``open``), and the
        #: tables whose changes were left out for that.
        self._subset = False
        self._left_out: set[str] = set()
        #: Tables the stream may bring whose rows are covered (published at the start, or read
        #: by an incremental snapshot requested since): see :meth:`_read_joined`.
        self._covered: set[str] = set()
        #: ``_covered`` as positions name it (see _covered_list), and its size then; whether
        #: positions name it (not past POSITION_TABLES_MAX tables).
        self._covered_size = -1
        self._covered_sorted: dict[str, str] = {}
        self._name_covered = True
        #: Under publish_via_partition_root with a partitioned table published: partitions
        #: attached later need looking for (see _look_at_catalog).
        self._roots_sent_whole = False
        #: When the catalog was last looked at while streaming, and the tables it found joined,
        #: replaced or gone then (see _look_at_catalog).
        self._catalog_checked = time.monotonic()
        self._catalog_found: set[str] = set()
        #: Captured tables that left the publication (see _look_at_catalog and
        #: _read_joined_meanwhile): one that comes back is read whole, starting with a truncate.
        self._unpublished: set[str] = set()
        #: Catalog fingerprints of the covered tables (admin.table_fingerprints): as at open,
        #: or as when the table was last asked to be read again.
        self._fingerprints: dict[str, str] = {}
        #: Tables read again at open for a rewrite while no run streamed: the stream may still
        #: show that rewrite (before the WAL position at open), which needs no second read.
        self._read_at_open: set[str] = set()
        #: Per table seen, the tables it is a partition or inheritance child of (``tables``
        #: given): a listed partitioned table sends its partitions' changes.
        self._ancestors: dict[str, set[str]] = {}
        self._toast = ToastReselect(dsn) if toast_reselect else None
        self._options: dict[str, Any] = {}
        self._stream: Stream | None = None
        # Past ``memory_budget`` bytes of an open transaction, its rows go on before its commit.
        # row_lsn: each change's own WAL position, for a sink that asks (see runner.py).
        self._decoder = _core.PgOutputDecoder(
            versions=self.schema_versions, memory_budget=memory_budget, row_lsn=row_lsn
        )
        self.memory_budget = memory_budget
        self.spill_dir = spill_dir
        self.drain_bytes = drain_bytes
        #: Streamed or prepared transactions with rows on disk, by xid.
        self._spills: dict[int, Spill] = {}
        #: The rows of a committed transaction being handed on from disk.
        self._draining: Generator[TableBatch, None, None] | None = None
        self._keys = CatalogKeys(dsn, publication)
        self._snapshot: Generator[TableBatch | Progress, None, None] | None = None
        self._snapshot_position: PositionJSON | None = None
        self._snapshot_lsn = 0
        self._snapshot_release: Callable[[], None] | None = None
        #: end LSN of the last transaction handed to the pipeline (where a reconnect resumes).
        self._emitted_end = 0
        self._emitted_lsn = 0
        #: end LSN of the last transaction handed to the pipeline, or of the one before the
        #: checkpoint resumed from (None: not known, as after a snapshot).
        self._last_commit: int | None = None
        #: end LSN the pipeline acknowledged (what the server is told).
        self._acked_end = 0
        self._last_status = 0.0
        #: The server's flushed WAL position when the source opened; reaching it is catching up.
        self._target_lsn = 0
        self.reconnects = 0
        #: Heartbeat messages that came back through the slot (and were dropped).
        self.heartbeats_received = 0
        #: (end LSN, oldest commit time in epoch seconds) of positions handed out and not yet
        #: acknowledged, oldest first: what ``lag_seconds`` measures.
        self._unacknowledged: deque[tuple[int, float]] = deque()
        self._heartbeat = (
            Heartbeat(dsn, heartbeat_interval, slot=slot) if heartbeat_interval else None
        )

    # -- Source protocol ---------------------------------------------------------------------

    def open(self, start: PositionJSON | None) -> None:
        # Spill files of a run that died before the commit of their transaction.
        Spill(self.spill_dir).remove_leftovers()
        with pg_admin.connect(self._dsn) as conn:
            version = pg_admin.check_server(conn)
            pg_admin.check_tables(conn, self.publication, self.tables)
            pg_admin.ensure_publication(conn, self.publication, self.table_specs)
            self._options = protocol_for(version)
            if self._binary_override is not None:
                self._options["binary"] = self._binary_override and self._options["binary"]
            elif self._options["binary"]:
                safe, why = pg_admin.binary_safe(conn, self.publication)
                if not safe:
                    log.info("using text tuples: %s, which has no binary decoder", why)
                    self._options["binary"] = False
            slot = pg_admin.get_slot(conn, self.slot)
            if slot is None and self.snapshot_mode == "initial" and start is None:
                pg_admin.check_select(conn, self.publication)
            published = pg_admin.published_tables(conn, self.publication)
            # Partitions whose changes come under their root's name: covered like it.
            leaves: list[str] = []
            if pg_admin.has_roots_sent_whole(conn, self.publication):
                leaves = sorted(pg_admin.leaves_sent_as_root(conn, self.publication))
                self._roots_sent_whole = True
            if self.tables:
                # A listed partitioned table is published as its partitions (unless through
                # its root): they count as listed.
                names = [f"{s}.{t}" for s, t in published]
                self._ancestors = pg_admin.ancestors(conn, names + leaves)
            # Only a publication with more than the listed tables needs them picked out: one
            # that holds just those keeps publishing a table by its OID after a rename.
            self._subset = bool(self.tables) and any(
                not self._listed(f"{s}.{t}") for s, t in published
            )
            tables = [(s, t) for s, t in published if self._wanted(f"{s}.{t}")]
            self._covered = {f"{s}.{t}" for s, t in published} | set(leaves)
            self._name_covered = not too_many_to_name(len(self._covered))
            if self._name_covered:
                self._fingerprints = pg_admin.table_fingerprints(conn, sorted(self._covered))
                self._expect_relations(self._fingerprints)
            self._keys.load(conn)
            self._decoder.alias_types(pg_admin.enum_array_types(conn))
            self._target_lsn = pg_admin.flushed_wal_lsn(conn)
        if self._heartbeat is not None and not self._options["messages"]:
            log.warning(
                "heartbeats are written but PostgreSQL %s does not forward logical messages "
                "to pgoutput (14 or newer does); the slot advances on keepalives only",
                version // 10000,
            )
        resume = PgPosition.from_json(start).snapshot_progress if start is not None else None
        if slot is None and start is not None:
            # A new slot starts at the WAL's end: whatever was committed after the stored
            # position and before now is in no slot, and a finished snapshot is not taken again.
            raise SourceRefused(
                f"replication slot {self.slot!r} does not exist, but a stored position "
                f"({format_lsn(_end_lsn(start))}) says changes were read through it: the changes "
                "committed since then are gone with the slot (dropped, or never on this server), "
                "and a new slot would silently skip them. If the position belongs to another "
                "pipeline, give this one its own (sink_name=NAME on a database target or an "
                "exactly-once Kafka sink, its own --checkpoint file); otherwise remove the stored "
                "position and the sink's data and start over with --snapshot initial"
            )
        if slot is None:
            want_snapshot = self.snapshot_mode == "initial" and start is None
            self._create_slot_and_snapshot(want_snapshot, tables)
        elif start is None and self.snapshot_mode == "initial":
            raise SourceError(
                f"replication slot {self.slot!r} exists but no checkpoint records a finished "
                "snapshot; drop the slot (SELECT pg_drop_replication_slot("
                f"'{self.slot}')) to take a new snapshot, or run with --snapshot never"
            )
        elif start is not None and slot.confirmed_flush_lsn > _end_lsn(start):
            raise SourceError(
                f"checkpoint {format_lsn(_end_lsn(start))} is behind replication "
                f"slot {self.slot!r} (confirmed up to {format_lsn(slot.confirmed_flush_lsn)}): "
                "the changes in between are no longer available; the checkpoint belongs to "
                "another slot or the slot was advanced by hand"
            )
        elif start is not None and resume is not None:
            self._resume_snapshot(PgPosition.from_json(start).lsn, resume, tables)
        self._incremental.restore(start)
        if start is not None:
            # Also under a resumed initial snapshot: a table rewritten while the interrupted
            # one read, which stored no end for it to check, is read again.
            self._read_joined_meanwhile(PgPosition.from_json(start).published)
        if start is not None:
            resumed = PgPosition.from_json(start)
            self._emitted_lsn = resumed.lsn
            self._emitted_end = self._acked_end = resumed.resume_lsn
            self._last_commit = resumed.commit_before_resume
        elif slot is not None:
            self._emitted_end = self._acked_end = slot.confirmed_flush_lsn
        if self._snapshot is None:
            if self._last_commit is not None:
                # The last commit before the resume point comes before the first change
                # (Debezium's source.sequence); after a snapshot none is known.
                self._decoder.set_last_commit_lsn(self._last_commit)
            self._start_stream_when_slot_free()

    def _start_stream_when_slot_free(self) -> None:
        """Starts streaming; a slot still held by the walsender of a run that just died (SIGKILL,
        crash, restart by a supervisor) is released once the server notices the closed
        connection, so that is waited for (up to ``reconnect_timeout``) instead of failing."""
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.2
        while True:
            try:
                self._start_stream()
                return
            except SourceError as exc:
                if not pg_errors.slot_in_use(exc) or time.monotonic() + delay > deadline:
                    raise
                log.info("replication slot %s is still in use; waiting for it", self.slot)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _create_slot_and_snapshot(self, want_snapshot: bool, tables: list[tuple[str, str]]) -> None:
        repl = pg_admin.connect_replication(self._dsn, self._settings)
        try:
            consistent, snapshot_name = pg_admin.create_slot(repl, self.slot, want_snapshot)
        except BaseException:
            repl.close()
            raise
        self._emitted_end = self._acked_end = consistent
        if not want_snapshot:
            repl.close()
            return
        self._start_snapshot(consistent, snapshot_name, None, tables, repl.close)

    def _resume_snapshot(
        self, consistent: int, resume: dict[str, Any], tables: list[tuple[str, str]]
    ) -> None:
        """Reads what an interrupted initial snapshot had not stored, in a snapshot taken now;
        the stream then starts at the slot's consistent point as it would have."""
        stored = sum(1 for t in resume.get("tables", {}).values() if t.get("done"))
        log.info(
            "resuming the initial snapshot: %d of %d tables were stored, the rest is read as it "
            "stands now",
            stored,
            len(tables),
        )
        self._emitted_end = self._acked_end = consistent
        self._start_snapshot(consistent, None, resume, tables, None)

    def _start_snapshot(
        self,
        consistent: int,
        snapshot_name: str | None,
        resume: dict[str, Any] | None,
        tables: list[tuple[str, str]],
        done: Callable[[], None] | None,
    ) -> None:
        from arrowtail.sources.postgres.parallel import snapshot

        def rows() -> Generator[TableBatch | Progress, None, None]:
            try:
                yield from snapshot(
                    self._dsn,
                    snapshot_name,
                    tables,
                    consistent,
                    self.snapshot_chunk_rows,
                    workers=self.snapshot_workers,
                    wire=self.wire,
                    versions=self.schema_versions,
                    publication=self.publication,
                    resume=resume,
                    memory_budget=self.memory_budget,
                    watch=[t for t in sorted(self._covered) if self._wanted(t)],
                    on_again=self._read_after_snapshot,
                    on_read=self._joined_during_snapshot,
                )
            finally:
                # The exported snapshot lives until its replication connection runs another
                # command or closes: only when every reader has adopted it and read.
                if done is not None:
                    done()

        self._snapshot = rows()
        self._snapshot_release = done
        self._snapshot_lsn = consistent
        self._snapshot_position = PgPosition(consistent, consistent, snapshot=True).to_json()

    def _read_after_snapshot(self, table: str, cause: str) -> None:
        """Asks for an incremental snapshot, read once streaming, of a table the initial
        snapshot could not read whole: PostgreSQL rewrote it meanwhile (a piece read after the
        rewrite finds no rows: ``parallel._rewritten``), its rows moved between the reads of
        its page ranges (``parallel.MOVED``), it was replaced by another table under
        its name (whose rows the snapshot does not see), or a column of it was dropped or
        renamed before all its pieces were read (``parallel._gone``)."""
        if cause == REPLACED:
            what = (
                f"{table} was replaced while the initial snapshot read (dropped and created"
                " again, or another table renamed to its name), and the snapshot finds none of"
                " the new table's rows"
            )
        elif cause == MOVED:
            what = (
                f"{table}: its rows moved to another heap file (VACUUM FULL, CLUSTER) between"
                " the reads of two of the initial snapshot's page ranges, which may have missed"
                " some"
            )
        elif cause == REWRITTEN:
            what = (
                f"{table}: PostgreSQL rewrote the table with other columns (ALTER TABLE ... ADD"
                " COLUMN with a volatile default, ALTER COLUMN ... TYPE) while the initial"
                " snapshot read, which finds none of its rows in what it reads after"
            )
        else:
            what = (
                f"{table}: a column was dropped or renamed while the initial snapshot read the"
                " table, and the rows it had not read yet could not be"
            )
        self._read_again(table, what, replace=cause == REPLACED)

    def _joined_during_snapshot(self) -> None:
        """Once the initial snapshot has read every piece, asks for an incremental snapshot of
        the tables that joined the capture meanwhile (added to the publication, attached,
        created or renamed), whose rows the snapshot did not read and no change may bring."""
        try:
            with pg_admin.connect(self._dsn) as conn:
                published, leaves = self._published_now(conn)
            self._cover_and_read(
                (published | set(leaves)) - self._covered,
                lambda table: (
                    f"{table} joined the capture while the initial snapshot read"
                    " (added to the publication, attached, created or renamed) with rows no change"
                    " carries"
                ),
            )
        except (SourceError, psycopg.Error) as exc:
            # The stream still brings such a table's changes, and a restart reads it.
            log.info("looking for tables that joined during the snapshot failed: %s", exc)

    def _published_now(self, conn: psycopg.Connection) -> tuple[set[str], dict[str, str]]:
        """The tables the publication has now, and (under ``publish_via_partition_root``) the
        partitions sent as a root's rows, each with that root."""
        published = {f"{s}.{t}" for s, t in pg_admin.published_tables(conn, self.publication)}
        leaves: dict[str, str] = {}
        if self._roots_sent_whole:
            leaves = pg_admin.leaves_sent_as_root(conn, self.publication)
        return published, leaves

    def poll(self, timeout: float) -> Chunk:
        if self._snapshot is not None:
            chunk = self._poll_snapshot()
            chunk.batches = self._keys.annotate(chunk.batches, settled=True)
        else:
            try:
                chunk = self._poll_stream(timeout)
            except (SourceError, psycopg.Error) as exc:
                chunk = self._reconnect(exc)
        if chunk.position is not None and self._name_covered:
            chunk.position = {**chunk.position, "published": self._covered_list()}
        return chunk

    def _covered_list(self) -> dict[str, str]:
        """The captured tables whose rows are covered up to the position handed out now, with
        their fingerprints (what positions keep as ``published``), sorted; made anew only when
        a table joined or was read again."""
        if self._covered_size != len(self._covered):
            self._covered_size = len(self._covered)
            self._covered_sorted = {
                t: LEFT if t in self._unpublished else self._fingerprints.get(t, "")
                for t in sorted(self._covered | self._unpublished)
                if self._wanted(t)
            }
        return self._covered_sorted

    def acknowledge(self, position: PositionJSON) -> None:
        end = _end_lsn(position)
        while self._unacknowledged and self._unacknowledged[0][0] <= end:
            self._unacknowledged.popleft()
        if end > self._acked_end:
            self._acked_end = end
            self._send_status()

    def close(self) -> None:
        self._discard_spills()
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            snapshot.close()
            if self._snapshot_release is not None:
                # A snapshot never polled did not enter the generator, whose end releases it.
                self._snapshot_release()
        if self._heartbeat is not None:
            self._heartbeat.close()
        if self._toast is not None:
            self._toast.close()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.send_status(self._acked_end)
            except (SourceError, psycopg.Error):
                pass
            # A clean end, so that the server reads that last status update for sure.
            stream.finish(timeout=self.status_interval)

    @property
    def caught_up(self) -> bool:
        """True once the stream reached the WAL position the server had when the source opened
        (the snapshot, if any, is done by then)."""
        if self._snapshot is not None or self._incremental.active:
            return False
        seen = max(self._decoder.last_wal_end, self._emitted_end, self._acked_end)
        return seen >= self._target_lsn

    @property
    def incremental_snapshots(self) -> list[str]:
        """Ids of the incremental snapshots requested and not finished yet, oldest first."""
        return [str(r["id"]) for r in self._incremental.requests]

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "source": self.display_dsn,
            "slot": self.slot,
            "emitted_lsn": format_lsn(self._emitted_lsn),
            "acknowledged_lsn": format_lsn(self._acked_end),
            "reconnects": self.reconnects,
            "options": dict(self._options),
            "wire": self.wire,
        }
        # Age of the oldest change handed out and not yet acknowledged (0 when the sink has
        # stored everything read so far). Read once: the run's loop may take it meanwhile.
        try:
            oldest = self._unacknowledged[0][1]
        except IndexError:
            oldest = None
        info["lag_seconds"] = max(0.0, time.time() - oldest) if oldest is not None else 0.0
        if self._heartbeat is not None:
            info["heartbeats_sent"] = self._heartbeat.sent
            info["heartbeats_received"] = self.heartbeats_received
        if self._incremental.active:
            info["incremental_snapshots"] = self.incremental_snapshots
        try:
            with pg_admin.connect(self._dsn) as conn:
                info.update(pg_admin.lag(conn, self.slot))
        except SourceError:
            pass
        return info

    # -- internals ---------------------------------------------------------------------------

    def _poll_snapshot(self) -> Chunk:
        assert self._snapshot is not None
        item = next(self._snapshot, None)
        if isinstance(item, Progress):
            # Everything handed on before this covers the finished pieces it lists.
            lsn = self._snapshot_lsn
            return Chunk([], PgPosition(lsn, lsn, snapshot_progress=item.state).to_json())
        if item is not None:
            return Chunk([item])
        # Snapshot done: its position commits it, then the stream starts at the slot's point.
        self._snapshot = None
        position = self._snapshot_position
        self._start_stream()
        return Chunk([], position)

    def _start_stream(self) -> None:
        start = start_native_replication if self.wire == "native" else start_replication
        self._stream = start(
            self._dsn,
            self.slot,
            [self.publication],
            start_lsn=self._emitted_end,
            settings=self._settings,
            **self._options,
        )
        self._last_status = time.monotonic()
        log.info(
            "streaming slot %s from %s (proto %s, %s tuples)",
            self.slot,
            format_lsn(self._emitted_end),
            self._options.get("proto_version"),
            "binary" if self._options.get("binary") else "text",
        )

    def _poll_stream(self, timeout: float) -> Chunk:
        if self._draining is not None:
            return self._drain()
        stream = self._stream
        if stream is None:
            self._start_stream()
            stream = self._stream
            assert stream is not None
        if self._heartbeat is not None:
            self._heartbeat.beat_if_due()
        self._look_at_catalog()
        xlog_frames = stream.pump(self._decoder, timeout, self.max_poll_bytes)
        self._spill_held()
        chunk = self._take(idle_advance=True)
        reply = self._decoder.take_reply_requested()
        if reply or time.monotonic() - self._last_status >= self.status_interval:
            self._send_status()
        # Data of a transaction that is not complete yet (streamed in progress, or a large one
        # arriving over several polls) keeps the pipeline from calling the source idle.
        chunk.busy = (not self._decoder.is_idle and xlog_frames > 0) or self._draining is not None
        return chunk

    def _wanted(self, table: str) -> bool:
        """Whether the run captures ``table``: every table the publication sends, unless it
        publishes more than ``tables`` lists (an existing one, e.g. ``FOR ALL TABLES``); then
        the listed ones by name, and the partitions of listed partitioned tables. Pseudo-tables
        always."""
        return not self._subset or "." not in table or self._listed(table)

    def _listed(self, table: str) -> bool:
        """``table`` is in ``tables``, or a partition (or inheritance child) of one that is."""
        return table in self.tables or not self._ancestors.get(table, set()).isdisjoint(self.tables)

    def _learn_ancestors(self, tables: set[str]) -> None:
        """Reads the ancestors of tables first seen in the stream (a partition attached while
        streaming) before they are left out as unlisted."""
        with pg_admin.connect(self._dsn) as conn:
            found = pg_admin.ancestors(conn, sorted(tables))
        for table in tables:
            self._ancestors[table] = found.get(table, set())

    def _captured(self, batches: list[TableBatch]) -> list[TableBatch]:
        """``batches`` of the tables the run captures, refused when a user column has a
        metadata column's name (:class:`ReservedColumnError`)."""
        if self._subset:
            new = {b[0] for b in batches if "." in b[0]} - self._ancestors.keys()
            new -= set(self.tables)
            if new:
                self._learn_ancestors(new)
        kept = [b for b in batches if self._wanted(b[0])]
        for table in {b[0] for b in batches} - {b[0] for b in kept} - self._left_out:
            self._left_out.add(table)
            log.info("%s is published but not in --tables: its changes are left out", table)
        batches = kept
        at = f"the WAL up to LSN {format_lsn(self._decoder.committed_lsn)}"
        return self._names.check(batches, at)

    def _spill_held(self) -> None:
        """Moves the rows of streamed and prepared transactions to disk once the messages they
        brought since the last time pass the memory budget."""
        if self._decoder.held_bytes < self.memory_budget:
            return
        self._apply_spill_events()
        for xid, subxid, table, version, batch in self._decoder.take_held_rows():
            if not self._captured([(table, version, batch)]):
                continue
            # The catalog facts are learnt now, while a failure still means a reconnect (which
            # discards these rows: the server sends their transaction again).
            rows = self._keys.annotate([(table, version, batch)])
            spill = self._spills.get(xid)
            if spill is None:
                log.info("transaction %d past the memory budget goes to disk until its end", xid)
                spill = self._spills[xid] = Spill(self.spill_dir)
            spill.add(rows, subxact=subxid)

    def _apply_spill_events(self) -> None:
        """Aborts and discards the decoder reports for transactions with rows on disk."""
        for xid, subxid in self._decoder.take_spill_events():
            spill = self._spills.get(xid)
            if spill is None:
                continue
            if subxid is None:
                spill.discard()
                del self._spills[xid]
            else:
                spill.abort(subxid)

    def _discard_spills(self) -> None:
        draining, self._draining = self._draining, None
        if draining is not None:
            draining.close()
        for spill in self._spills.values():
            spill.discard()
        self._spills.clear()

    def _drain(self) -> Chunk:
        """The next ``drain_bytes`` of a committed transaction on disk; with its last rows, what
        the decoder completed after it and the position after that."""
        assert self._draining is not None
        if time.monotonic() - self._last_status >= self.status_interval:
            # Nothing is read while draining: the status update keeps the server waiting.
            try:
                self._send_status()
            except (SourceError, psycopg.Error) as exc:
                log.info("status update failed while handing on a transaction: %s", exc)
        out: list[TableBatch] = []
        size = 0
        for row in self._draining:
            out.append(row)
            size += row[2].nbytes
            if size >= self.drain_bytes:
                return Chunk(self._stream_hooks(out), None, busy=True)
        self._draining = None
        rest = self._take(idle_advance=False)
        rest.batches = self._stream_hooks(out) + rest.batches
        rest.busy = True
        return rest

    def _stream_hooks(self, batches: list[TableBatch]) -> list[TableBatch]:
        """Rows from disk get what ``_take`` gives the decoder's: catalog facts (learnt when
        they were spilled), TOAST re-select and the incremental snapshots' reconciliation; a
        table the stream brings for the first time in them is read whole (:meth:`_read_joined`)."""
        batches = self._keys.annotate(batches, lookup=False)
        self._read_joined(batches)
        if self._toast is not None and batches:
            batches = self._toast.fill(batches)
        return self._incremental.process(batches)

    def _take(self, *, idle_advance: bool) -> Chunk:
        """The transactions the decoder has completed since the last call, as a chunk with the
        position after them. ``idle_advance``: with nothing in flight, the server's WAL end
        becomes a position of its own (not after a lost connection, when what was in flight was
        just discarded and the server sends it again)."""
        self._apply_spill_events()
        # Heartbeats (of this run or an earlier one) are not changes: they only move the
        # idle position below. A flush stops before a transaction whose rows are on disk.
        batches, heartbeats = drop_heartbeats(self._decoder.flush())
        batches = self._captured(batches)
        # Before the batches count as emitted: a catalog read that fails ends this poll like a
        # lost stream, and the reconnect reads these transactions again.
        batches = self._keys.annotate(batches)
        for table, before, after in self._keys.take_learnt():
            # Later batches of that schema come annotated, without a second batch built here.
            self._decoder.use_schema(table, before, after)
        for table, found in self._keys.take_rewritten():
            if self._read_at_start(table):
                continue  # a rewrite before the run started, whose table it read at open
            what = (
                f"{table}: PostgreSQL rewrote the table with values no change carries, in columns"
                f" {'; '.join(found)}"
            )
            self._read_again(table, what)
        for table in self._decoder.take_replaced():
            if table not in self._covered or not self._wanted(table):
                continue
            if self._read_at_start(table):
                continue  # replaced before the run started, and read at open
            self._read_replaced(table)
        self._read_joined(batches)
        self.heartbeats_received += heartbeats
        position: PositionJSON | None = None
        committed = self._decoder.committed_lsn
        if committed > self._emitted_lsn:
            self._emitted_lsn = committed
            self._emitted_end = self._decoder.confirmable_lsn
            self._last_commit = self._decoder.committed_end_lsn
            position = PgPosition(committed, self._emitted_end, self._last_commit).to_json()
            self._unacknowledged.append((self._emitted_end, _oldest_commit(batches)))
        # Nothing in flight and everything handed out acknowledged: the keepalive's WAL end holds
        # no change of ours, so it becomes a position of its own. It travels through the sink
        # and the checkpoint like any other, and a quiet slot stops holding WAL back.
        idle = self._decoder.is_idle and not batches and self._acked_end >= self._emitted_end
        wal_end = self._decoder.last_wal_end
        if idle_advance and idle and position is None and wal_end > self._emitted_end:
            self._emitted_lsn = self._emitted_end = wal_end
            position = PgPosition(wal_end, wal_end, self._last_commit).to_json()
        spilled = self._decoder.take_spilled_commit()
        if spilled is not None:
            xid, pos, commit_ts_us, last_commit = spilled
            spill = self._spills.pop(xid, None) or Spill(self.spill_dir)
            self._draining = spill.drain(pos, commit_ts_us, None, last_commit)
        batches, position = self._hooks(batches, position)
        # Incremental snapshot chunks join here; positions are already counted, so only the
        # facts known by now are applied.
        batches = self._keys.annotate(batches, lookup=False)
        return Chunk(batches, position)

    def _read_at_start(self, table: str) -> bool:
        """Whether ``table`` was asked to be read again at open (rewritten or replaced while
        no run streamed) and the stream is still before the WAL end of that moment: what the
        stream shows of it until then is news already acted on."""
        return table in self._read_at_open and self._decoder.committed_lsn <= self._target_lsn

    def _read_replaced(self, table: str, how: str = "") -> None:
        """Reads ``table``, which another table replaced under its name while the run streamed
        (met in the stream, or, ``how`` says, only in the catalog), starting with a truncate."""
        self._read_again(
            table,
            f"{table} was replaced while the run streamed (dropped and created again, or"
            " another table renamed to its name), and rows of the new table may be in no"
            f" change{how}",
            replace=True,
        )

    def _read_joined(self, batches: list[TableBatch]) -> None:
        """Reads again the tables the stream brings that were not published when the run
        started: added to the publication (or attached as a partition, created under ``FOR ALL
        TABLES`` or ``FOR TABLES IN SCHEMA``, renamed) while it streams. The stream carries only
        their changes from then on; the rows already there are in none, so an incremental
        snapshot reads them (once per table and run)."""
        for table in sorted({t for t, _v, _b in batches if "." in t} - self._covered):
            self._covered.add(table)
            self._read_joined_table(
                table,
                f"{table} joined the stream while the run streamed (added to the publication,"
                " attached, created or renamed) with rows no change carries",
            )

    def _read_joined_table(self, table: str, what: str) -> None:
        """Reads ``table``, which joined the capture (``what`` says how). One that left the
        publication while a run streamed comes back without the changes made while it was out,
        deletes among them, so it is read starting with a truncate."""
        if table not in self._unpublished:
            self._read_again(table, what, quiet=True)
            return
        self._unpublished.discard(table)
        self._covered_size = -1
        self._read_again(
            table,
            f"{table} came back to the publication after it had left it, and the changes made"
            " while it was out are in none",
            replace=True,
        )

    def _look_at_catalog(self) -> None:
        """Every :data:`CATALOG_CHECK_SECONDS`, looks in the catalog for tables whose rows no
        change brings and no batch tells of, and reads them by an incremental snapshot:

        - under ``publish_via_partition_root``, a partition attached with its rows (its changes
          come under its root's name, so :meth:`_read_joined` never meets it), as its root's
          rows;
        - a table added to the publication (or created or renamed into it) and not changed
          since;
        - a table replaced under a captured name and not changed since: the stream names the
          new table only in the Relation message before its first change (:meth:`_take`). Its
          OID differs from the one its fingerprint holds, which each read updates.

        A captured table no longer published is no longer covered: it left the publication
        (``ALTER PUBLICATION ... DROP TABLE``, ``SET TABLE``), was dropped or renamed, and should
        it come back, it is read whole (:meth:`_read_joined_table`).

        Each of these counts once two looks in a row find it: a change of a joined or replaced
        table in between is the stream's news, read as such (:meth:`_read_joined`,
        :meth:`_take`), and a table out of the publication for a moment loses nothing.
        What the stream meets later of those is no news then. Before PostgreSQL 14, which
        cannot read a table while streaming, only partitions are looked for (each one found is
        warned of)."""
        if time.monotonic() - self._catalog_checked < CATALOG_CHECK_SECONDS:
            return
        self._catalog_checked = time.monotonic()
        messages = bool(self._options.get("messages"))
        if not (messages or self._roots_sent_whole):
            return
        oids: dict[str, int] | None = None
        try:
            with pg_admin.connect(self._dsn) as conn:
                published, leaves = self._published_now(conn)
                if messages and self._name_covered:
                    oids = pg_admin.table_oids(
                        conn, sorted(self._fingerprints.keys() | self._unpublished)
                    )
        except (SourceError, psycopg.Error) as exc:
            log.info("looking at the catalog failed, trying again later: %s", exc)
            return
        self._cover_and_read(
            set(leaves) - self._covered,
            lambda leaf: (
                f"{leaf} became a partition of {leaves[leaf]} while the run streamed,"
                " which is published through its root: its rows are in no change"
            ),
        )
        joined = published - self._covered if messages else set()
        replaced = self._replaced_in_catalog(oids or {}, published | set(leaves))
        if oids is not None and self._unpublished - oids.keys():
            # Dropped (or renamed) for good: one created again under the name is a new table.
            self._unpublished &= oids.keys()
            self._covered_size = -1
        gone = self._covered - published - set(leaves) if messages else set()
        before, self._catalog_found = self._catalog_found, joined | replaced | gone
        self._uncover(gone & before)
        self._cover_and_read(
            joined & before,
            lambda table: (
                f"{table} joined the capture while the run streamed (added to the publication,"
                " created or renamed) with rows no change carries, and no change of it came"
            ),
        )
        for table in sorted(replaced & before):
            self._read_replaced(table, "; no change of it came")

    def _replaced_in_catalog(self, oids: dict[str, int], published: set[str]) -> set[str]:
        """The covered tables whose OID in the catalog (``oids``) differs from the one their
        fingerprint holds. A new table not published (yet) is not captured: its rows would come
        with no change after. Once added, it is news like any other replacement; one not
        covered (back after it left) is read as it joins."""
        replaced = set()
        for table, oid in oids.items():
            known = pg_admin.relid(self._fingerprints.get(table, ""))
            if known is None or known == oid or not self._wanted(table):
                continue
            if table in self._covered and table in published:
                replaced.add(table)
        return replaced

    def _uncover(self, left: set[str]) -> None:
        """Counts the ``left`` tables, no longer published, as out of the publication."""
        if not left:
            return
        self._covered -= left
        self._unpublished |= left
        self._covered_size = -1
        for table in sorted(t for t in left if self._wanted(t)):
            log.info(
                "%s left the publication while the run streamed (or was dropped or renamed):"
                " should it come back, it is read whole again",
                table,
            )

    def _cover_and_read(self, new: set[str], what: Callable[[str], str]) -> None:
        """Counts the ``new`` tables found in the catalog as covered (learning their ancestors
        first where only the listed tables are captured) and reads again those captured, by an
        incremental snapshot: their rows are in no change (``what`` says why, per table)."""
        if not new:
            return
        if self._subset:
            self._learn_ancestors(new)
        for table in sorted(new):
            self._covered.add(table)
            if self._wanted(table):
                self._read_joined_table(table, what(table))

    def _read_joined_meanwhile(self, stored: dict[str, str] | None) -> None:
        """Reads again the captured tables the stored position does not name (``stored``; None
        in a position stored before the list was kept): they joined the capture while no run
        streamed (added to the publication or to ``tables``, attached with their rows, renamed),
        and the stream from there carries only their changes. So too the tables rewritten with
        other columns since their fingerprints were taken, which the stream shows only by the
        table's next change in a layout other than its last one, if at all. Columns added with a
        default since are marked added since the start, for the targets to fill."""
        if stored is None:
            return
        # Out of the publication, since a run streamed or since the stored position: named as
        # such in the positions stored from now on (before PostgreSQL 14, which cannot read
        # one that comes back, not kept).
        if self._options.get("messages"):
            self._unpublished = set(stored) - self._covered
        self._covered_size = -1
        for table, now in self._covered_list().items():
            before = stored.get(table)
            if now == LEFT:
                continue
            if before == LEFT:
                self._read_again(
                    table,
                    f"{table} came back to the publication while no run streamed, after it had"
                    " left it, and the changes made while it was out are in none",
                    replace=True,
                )
                continue
            if before is None:
                self._read_again(
                    table,
                    f"{table} joined the capture while no run streamed (added to the"
                    " publication or to the tables, attached or renamed) with rows no change"
                    " carries",
                    quiet=True,
                )
                continue
            if not before or not now:
                continue
            if pg_admin.replaced(before, now):
                self._read_at_open.add(table)
                self._read_again(
                    table,
                    f"{table} was replaced while no run streamed (dropped and created again, or"
                    " another table renamed to its name), and rows of the new table may be in"
                    " no change",
                    replace=True,
                )
                continue
            rewritten, added = pg_admin.fingerprint_changes(before, now)
            if rewritten:
                self._read_at_open.add(table)
                self._read_again(
                    table,
                    f"{table}: PostgreSQL rewrote the table with other columns while no run"
                    " streamed (ALTER TABLE ... ADD COLUMN with a volatile default, ALTER COLUMN"
                    " ... TYPE), with values in the rows already there that no change carries",
                )
            elif added:
                # Added after the stored position: a target sets their values in all its rows,
                # even when the run's first change of the table already has them.
                self._keys.mark_added_since_start(table, added)
                log.info(
                    "%s: column(s) %s added with a default while no run streamed",
                    table,
                    ", ".join(added),
                )

    def _read_again(
        self, table: str, what: str, *, quiet: bool = False, replace: bool = False
    ) -> None:
        """Asks for an incremental snapshot of ``table``, which holds rows no change carries
        (``what`` says why: a rewrite, see ``CatalogKeys._note_rewritten``, or a table that
        joined the stream). The request is a logical message written now, so a restart that
        reads the stream from before it still meets it. Where that cannot be done, a warning
        says what to run; ``quiet``: a request made is logged as information only.
        ``replace``: another table replaced ``table`` under its name, and the snapshot starts
        with a ``t`` row, which removes the old table's rows from the target."""
        if not self._options.get("messages"):
            log.warning(
                "%s, and PostgreSQL before 14 cannot snapshot a table while streaming: take a"
                " new snapshot of it (a new slot with --snapshot initial)",
                what,
            )
            return
        try:
            with pg_admin.connect(self._dsn) as conn:
                request_snapshot(self._dsn, [table], slot=self.slot, conn=conn, replace=replace)
                self._take_fingerprint(conn, table)
        except (ConfigError, SourceError, psycopg.Error) as exc:
            log.warning(
                "%s; an incremental snapshot of it could not be requested (%s): run arrowtail"
                " snapshot --incremental --tables %s",
                what,
                scrub(str(exc).strip()),
                table,
            )
            return
        (log.info if quiet else log.warning)(
            "%s: reading the table again by an incremental snapshot", what
        )

    def _take_fingerprint(self, conn: psycopg.Connection, table: str) -> None:
        """Keeps the catalog fingerprint ``table`` has now, which the next stored positions
        name, once the table is asked to be read again."""
        if not self._name_covered:
            return
        try:
            found = pg_admin.table_fingerprints(conn, [table])
            self._fingerprints.update(found)
            # Read under the OID of the moment: the stream's first Relation of it is no news.
            self._expect_relations(found)
        except psycopg.Error as exc:
            # A restart may then read the table once more: nothing is lost.
            log.info("the catalog fingerprint of %s could not be read: %s", table, exc)
        self._covered_size = -1

    def _expect_relations(self, fingerprints: dict[str, str]) -> None:
        """Tells the decoder the OID each table of ``fingerprints`` has: a Relation message of
        one under another OID reports it replaced (see :meth:`_take`)."""
        relids = {t: pg_admin.relid(f) for t, f in fingerprints.items()}
        self._decoder.expect_relations({t: r for t, r in relids.items() if r is not None})

    def _hooks(
        self, batches: list[TableBatch], position: PositionJSON | None
    ) -> tuple[list[TableBatch], PositionJSON | None]:
        """TOAST re-select, then incremental snapshots (signals, watermarks, the next chunk);
        the position gains the snapshot progress."""
        if self._toast is not None and batches:
            batches = self._toast.fill(batches)
        batches = self._incremental.process(batches)
        self._incremental.step()
        last = PgPosition(self._emitted_lsn, self._emitted_end, self._last_commit).to_json()
        return batches, self._incremental.attach(position, last)

    def _send_status(self) -> None:
        if self._stream is None:
            return
        self._stream.send_status(self._acked_end)
        self._last_status = time.monotonic()

    def _reconnect(self, cause: BaseException) -> Chunk:
        """Restarts the stream after a lost connection. What was in flight is discarded (the
        server sends it again); transactions the decoder completed before the loss but had not
        handed out yet are handed out now, and the stream restarts after them, so they are
        neither lost nor delivered twice."""
        log.warning("replication connection lost: %s", scrub(str(cause)).strip())
        if self._stream is not None:
            try:
                self._stream.close()
            except psycopg.Error:
                pass
            self._stream = None
        self._decoder.reset_in_flight()
        chunk = self._take(idle_advance=False)
        retry_with_backoff(
            self._start_stream,
            what="PostgreSQL",
            timeout=self.reconnect_timeout,
            retry_on=(SourceError, psycopg.Error),
            # A dropped slot, a revoked privilege or a wrong password stay so: say it now rather
            # than after the time-out.
            give_up=pg_errors.is_refused,
        )
        self.reconnects += 1
        log.info("reconnected after %s reconnects", self.reconnects)
        return chunk
