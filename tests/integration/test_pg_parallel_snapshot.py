"""Initial snapshots read by several connections sharing one exported snapshot, on a real
PostgreSQL: a composite key, a uuid key, a table without a key and small tables, the big ones in
heap page ranges, read at once give exactly the source's rows with one reader (psycopg) and with
three (native wire); changes committed while the readers run are not in the snapshot and arrive
once through the stream; a run killed with SIGKILL in the middle of the snapshot resumes without
reading a stored piece again; rows a piece handed over before another piece ended and was stored
are not stored with it, and the resumed run stores each of them once. Rows of a keyed table that
move into page ranges already read (updated between a stop and the restart, or compacted by
``VACUUM FULL``, then or while the snapshot reads) reach the target whole; a keyless table
compacted between a stop and the restart is read again whole."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from arrowtail.pipeline import Pipeline
from arrowtail.sinks.parquet import ParquetSink
from arrowtail.sources.postgres import parallel
from arrowtail.sources.postgres import snapshot as pg_snapshot
from arrowtail.sources.postgres.source import PostgresSource
from arrowtail.verify.compare import verify
from tests.support import pg_run
from tests.support.chaos import check_committed_files, checkpoint, start_arrowtail, wait_for
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "parallel_pg"
PUB = "parallel"
#: Rows of each table the snapshot reads.
SNAPSHOT_ROWS = {
    "public.pairs": 3000,
    "public.ids": 1500,
    "public.loose": 4000,
    "public.small_a": 40,
    "public.small_b": 30,
}

SCHEMA = """
CREATE TABLE pairs (n int, s text, v numeric(10,2), t timestamptz, b bytea, PRIMARY KEY (s, n));
CREATE TABLE ids (id uuid PRIMARY KEY, v int, j text);
CREATE TABLE loose (n int, s text, d date);
CREATE TABLE small_a (id int PRIMARY KEY, v text);
CREATE TABLE small_b (id bigint PRIMARY KEY, v float8);
INSERT INTO pairs SELECT g, CASE WHEN g % 3 = 0 THEN 'B ' || g ELSE 'a-' || g END, g / 7.0,
    '2026-01-01'::timestamptz + g * interval '1 minute', decode(md5(g::text), 'hex')
    FROM generate_series(1, 3000) g;
INSERT INTO ids SELECT gen_random_uuid(), g, md5(g::text)
    FROM generate_series(1, 1500) g;
INSERT INTO loose SELECT g % 50, repeat('x', g % 40), DATE '2020-01-01' + g
    FROM generate_series(1, 4000) g;
INSERT INTO small_a SELECT g, 'a' || g FROM generate_series(1, 40) g;
INSERT INTO small_b SELECT g, g * 0.5 FROM generate_series(1, 30) g;
"""
KEYS = {"pairs": (1, 0), "ids": (0,), "small_a": (0,), "small_b": (0,)}


@pytest.fixture
def database(postgres: Any) -> Iterator[str]:
    pg_run.create_database(postgres, DB, SCHEMA, publication=PUB)
    yield DB


def source_rows(postgres: Any) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with postgres.connect(dbname=DB) as conn:
        for table in (*KEYS, "loose"):
            cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            names = [d.name for d in cur.description]
            out[table] = [dict(zip(names, r, strict=True)) for r in cur]
    return out


def assert_equal_to_source(postgres: Any, changes: list[Any]) -> None:
    """Keyed tables replay to the source; the keyless one holds the same rows as a multiset."""
    want = source_rows(postgres)
    got = replay(changes)
    for table, key in KEYS.items():
        names = list(want[table][0])
        rows = {tuple(r[names[i]] for i in key): r for r in want[table]}
        assert_tables_equal(got[f"public.{table}"], rows, table)
    loose = Counter(
        (r["n"], r["s"], r["d"])
        for t, _v, b in changes
        if t == "public.loose"
        for r in b.to_pylist()
        if r["_op"] in ("r", "c")
    )
    assert loose == Counter((r["n"], r["s"], r["d"]) for r in want["loose"])


def snapshot_ops(changes: list[Any], op: str = "r") -> Counter[str]:
    return Counter(t for t, _v, b in changes for o in b.column("_op").to_pylist() if o == op)


def _two_readers(
    dsn: str, *, chunk_rows: int, slot: str = "parallel", publication: str = PUB, **options: Any
) -> PostgresSource:
    """A source of ``publication`` on ``slot`` whose initial snapshot runs two readers."""
    return PostgresSource(
        dsn,
        slot=slot,
        publication=publication,
        snapshot="initial",
        snapshot_chunk_rows=chunk_rows,
        snapshot_workers=2,
        **options,
    )


@pytest.mark.parametrize(("workers", "wire"), [(1, "libpq"), (3, "native")])
def test_workers_read_exactly_the_source_rows(
    postgres: Any,
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    wire: str,
) -> None:
    reads: list[tuple[str, str, Any]] = []
    real = pg_snapshot.copy_rows

    def recording(conn: Any, shape: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append((shape.name, threading.current_thread().name, kwargs.get("pages")))
        return real(conn, shape, *args, **kwargs)

    monkeypatch.setattr(pg_snapshot, "copy_rows", recording)
    source = PostgresSource(
        postgres.dsn_for(postgres.app_user, postgres.app_password, DB),
        slot="parallel",
        publication=PUB,
        snapshot="initial",
        snapshot_chunk_rows=240,
        snapshot_workers=workers,
        wire=wire,
    )
    summary = Pipeline(source, ParquetSink(tmp_path), idle_exit=0.5).run()
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_drop_replication_slot('parallel')")

    # The snapshot's own positions carry its progress; the last one (the snapshot's end, or a
    # keepalive's WAL end after it) carries none.
    assert summary.last_position is not None
    assert "snapshot_progress" not in summary.last_position
    # Each big table, with a key or without, is read in page ranges of about 240 rows: the
    # first from page 0, the last open-ended, none overlapping, none left out.
    for table in ("public.pairs", "public.ids", "public.loose"):
        pages = sorted(r[2] for r in reads if r[0] == table)
        assert len(pages) >= 4 and pages[0][0] == 0 and pages[-1][1] is None, (table, pages)
        assert all(a[1] == b[0] for a, b in zip(pages, pages[1:], strict=False)), pages
    readers = {name for _t, name, _p in reads}
    assert all(n.startswith("arrowtail-snapshot-") for n in readers)
    # Over thirty pieces: with three readers more than one of them takes some.
    assert min(workers, 2) <= len(readers) <= workers, readers

    changes = parquet_changes(tmp_path)
    counts = snapshot_ops(changes)
    assert counts == SNAPSHOT_ROWS
    for table, n in counts.items():
        seqs = sorted(s for t, _v, b in changes if t == table for s in b.column("_seq").to_pylist())
        assert seqs == list(range(n)), f"{table}: each row once, numbered across pieces"
    assert_equal_to_source(postgres, changes)


def test_changes_during_the_snapshot_arrive_once_after_it(
    postgres: Any, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pg_snapshot.copy_rows
    written = threading.Event()
    lock = threading.Lock()

    def write_once() -> None:
        # Committed while the readers hold the snapshot: none of it may be in the snapshot.
        with postgres.connect(dbname=DB) as conn:
            conn.execute("UPDATE pairs SET v = v + 1000 WHERE n % 10 = 0")  # 300 rows
            conn.execute("DELETE FROM pairs WHERE n % 10 = 5")  # 300 rows
            conn.execute(
                "INSERT INTO pairs SELECT g, 'new ' || g, 0, now(), NULL "
                "FROM generate_series(1, 200) g"
            )
            conn.execute("UPDATE ids SET v = -v WHERE v <= 100")  # 100 rows
            conn.execute("INSERT INTO loose SELECT -g, 'late', NULL FROM generate_series(1, 50) g")
            conn.execute("DELETE FROM small_a WHERE id <= 10")

    def writing(*args: Any, **kwargs: Any) -> Any:
        with lock:
            if not written.is_set():
                write_once()
                written.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(pg_snapshot, "copy_rows", writing)
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, DB)
    source = PostgresSource(
        dsn,
        slot="parallel",
        publication=PUB,
        snapshot="initial",
        snapshot_chunk_rows=300,
        snapshot_workers=3,
    )
    Pipeline(source, ParquetSink(tmp_path), idle_exit=0).run()
    assert written.is_set()
    monkeypatch.setattr(pg_snapshot, "copy_rows", real)
    # A second run streams from the stored position up to what the server had when it opened.
    resumed = PostgresSource(dsn, slot="parallel", publication=PUB, snapshot="initial")
    Pipeline(resumed, ParquetSink(tmp_path), idle_exit=0.5).run()
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_drop_replication_slot('parallel')")

    changes = parquet_changes(tmp_path)
    assert snapshot_ops(changes) == SNAPSHOT_ROWS
    assert snapshot_ops(changes, "u") == {"public.pairs": 300, "public.ids": 100}
    assert snapshot_ops(changes, "d") == {"public.pairs": 300, "public.small_a": 10}
    assert snapshot_ops(changes, "c") == {"public.pairs": 200, "public.loose": 50}
    assert_equal_to_source(postgres, changes)


BIG = """
CREATE TABLE big (id int PRIMARY KEY, a text, b numeric(12,3), c timestamptz);
CREATE TABLE heap (n int, s text);
INSERT INTO big SELECT g, md5(g::text), g / 3.0, '2026-01-01'::timestamptz + g * interval '1 s'
    FROM generate_series(1, 60000) g;
INSERT INTO heap SELECT g, repeat('h', g % 30) FROM generate_series(1, 30000) g;
"""


def test_sigkill_during_parallel_snapshot_resumes_without_rereading(
    postgres: Any, tmp_path: Path
) -> None:
    db, slot = "parallel_kill", "parallel_kill"
    pg_run.create_database(postgres, db, BIG, publication="pk")
    out = tmp_path / "parquet"
    env = pg_run.env_for(postgres)

    def args(*extra: str) -> list[str]:
        return pg_run.run_args(
            postgres,
            db,
            out,
            slot,
            "pk",
            "--snapshot",
            "initial",
            "--snapshot-workers",
            "3",
            "--snapshot-chunk-rows",
            "500",
            *extra,
        )

    def mid_snapshot() -> bool:
        position = checkpoint(out)
        if position is None:
            return False
        tables = position.get("snapshot_progress", {}).get("tables", {})
        return (
            sum(len(t.get("keys", t.get("pages", []))) + t.get("done", 0) for t in tables.values())
            > 0
        )

    first = start_arrowtail(args("--idle-exit", "600"), env, tmp_path, "first")
    try:
        wait_for(mid_snapshot, "a stored piece of the snapshot", timeout=120)
    finally:
        first.kill()
    stored = checkpoint(out)
    assert "snapshot_progress" in stored and not stored.get("snapshot"), stored
    before = parquet_changes(out)
    stored_rows = sum(b.num_rows for _t, _v, b in before)
    assert 0 < stored_rows < 90000, stored_rows

    final = start_arrowtail(args("--idle-exit", "1"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert "resuming the initial snapshot" in final.output()
    done = checkpoint(out)
    # Past the snapshot (its end, or a keepalive's WAL end after it).
    assert "snapshot_progress" not in done and done["lsn"] >= stored["lsn"], json.dumps(done)

    check_committed_files(out)
    changes = parquet_changes(out)
    # No concurrent writes: a piece read twice would show as a key (or heap row) stored twice.
    keys = Counter(
        r for t, _v, b in changes if t == "public.big" for r in b.column("id").to_pylist()
    )
    assert len(keys) == 60000 and max(keys.values()) == 1
    heap = Counter(
        (r["n"], r["s"]) for t, _v, b in changes if t == "public.heap" for r in b.to_pylist()
    )
    with postgres.connect(dbname=db) as conn:
        want = Counter(conn.execute("SELECT n, s FROM heap").fetchall())
        cur = conn.execute("SELECT * FROM big")
        names = [d.name for d in cur.description]
        rows = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    assert heap == want
    assert_tables_equal(replay(changes)["public.big"], rows, "big")


@pytest.mark.parametrize("first_cut", ["pages", "keys"])
def test_stop_in_the_middle_then_resume_ends_equal_to_the_source(
    postgres: Any,
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first_cut: str,
) -> None:
    """``first_cut="keys"``: the first run cuts keyed tables into key ranges, as a server before
    14 and earlier versions of arrowtail did; the resumed run goes on by key ranges where a
    table's stored state has them."""
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, DB)

    def source() -> PostgresSource:
        return _two_readers(dsn, chunk_rows=200)

    if first_cut == "keys":
        monkeypatch.setattr(parallel, "TID_RANGES_SINCE", 10**9)
    first = Pipeline(source(), ParquetSink(tmp_path), idle_exit=0.5)

    def stop_after_a_stored_piece(summary: Any) -> None:
        if summary.last_position and "snapshot_progress" in summary.last_position:
            first.stop("test")

    first.on_progress = stop_after_a_stored_piece
    summary = first.run()
    assert summary.stopped_by == "test"
    stored = summary.acknowledged
    assert stored is not None and "snapshot_progress" in stored and not stored.get("snapshot")
    partial = sum(snapshot_ops(parquet_changes(tmp_path)).values())
    assert 0 < partial < 8570, partial
    assert stored["snapshot_progress"]["tables"], stored

    # Changes between the stop and the restart: the pieces read again show them, and the stream
    # (from the first snapshot's point) brings them after; the keyless table is left alone (a
    # row inserted there could be read twice, as docs/pg-snapshots.md says).
    with postgres.connect(dbname=DB) as conn:
        conn.execute("UPDATE pairs SET v = v + 500 WHERE n % 7 = 0")
        conn.execute("DELETE FROM pairs WHERE n % 11 = 0")
        conn.execute(
            "INSERT INTO pairs SELECT g, 'late ' || g, 1, now(), NULL FROM generate_series(1, 90) g"
        )
        conn.execute("UPDATE ids SET v = v * 10 WHERE v % 9 = 0")
        conn.execute("DELETE FROM small_a WHERE id > 30")

    monkeypatch.setattr(parallel, "TID_RANGES_SINCE", 140000)
    reads: list[tuple[str, Any]] = []
    real = pg_snapshot.copy_rows

    def recording(conn: Any, shape: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append((shape.name, kwargs.get("pages")))
        return real(conn, shape, *args, **kwargs)

    monkeypatch.setattr(pg_snapshot, "copy_rows", recording)
    again = Pipeline(source(), ParquetSink(tmp_path), idle_exit=0.5).run()
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_drop_replication_slot('parallel')")
    tables = stored["snapshot_progress"]["tables"]
    for table, entry in tables.items():
        if "keys" in entry:
            # Stored by key ranges: the resumed run reads the rest by key ranges too.
            mine = [pages for t, pages in reads if t == table]
            assert mine and all(pages is None for pages in mine), (table, reads)
    assert (first_cut == "keys") == any("keys" in entry for entry in tables.values()), tables
    # Past the snapshot: the stream's changes are stored after it.
    assert again.acknowledged is not None and "snapshot_progress" not in again.acknowledged
    assert again.acknowledged["lsn"] > stored["lsn"]
    changes = parquet_changes(tmp_path)
    assert snapshot_ops(changes)["public.loose"] == 4000
    assert snapshot_ops(changes, "d") == {"public.pairs": 272, "public.small_a": 10}
    assert_equal_to_source(postgres, changes)


def test_rows_of_a_piece_still_being_read_are_not_stored_before_it_ends(
    postgres: Any, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One piece of ``pairs`` hands on part of its rows, then its reader waits while the table's
    first piece ends and its position is stored: that position must not carry the waiting
    piece's rows, so the resumed run reads that piece (and no finished one) and every row is
    stored once."""
    real, chunk_bytes = pg_snapshot.copy_rows, pg_snapshot.CHUNK_BYTES
    # Batches of about 4 KiB of COPY data (libpq hands the reader one row at a time): a piece of
    # 500 rows is handed on in several.
    monkeypatch.setattr(pg_snapshot, "CHUNK_BYTES", 4096)
    handed, release = threading.Event(), threading.Event()
    lock = threading.Lock()
    waiting: dict[str, Any] = {}

    def interleaved(conn: Any, shape: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        rows = real(conn, shape, *args, **kwargs)
        if shape.name != "public.pairs":
            yield from rows
            return
        if kwargs["pages"][0] == 0:
            # The table's first piece is read only once another one has handed on a batch.
            assert handed.wait(60), "no other piece of pairs handed on a batch"
            yield from rows
            return
        with lock:
            mine = "keys" not in waiting
            waiting.setdefault("keys", [])
        if not mine:
            yield from rows
            return
        first = next(rows)
        batch = first[2]
        waiting["keys"] = list(
            zip(batch.column("s").to_pylist(), batch.column("n").to_pylist(), strict=True)
        )
        yield first
        # Back here only after the reader put that batch on the hand-off queue.
        handed.set()
        assert release.wait(60), "the first run never stopped"
        yield from rows

    monkeypatch.setattr(pg_snapshot, "copy_rows", interleaved)
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, DB)

    def source() -> PostgresSource:
        return _two_readers(dsn, chunk_rows=500, wire="libpq")

    def pairs_ranges(position: Any) -> list[Any]:
        tables = (position or {}).get("snapshot_progress", {}).get("tables", {})
        return list(tables.get("public.pairs", {}).get("pages", []))

    first = Pipeline(source(), ParquetSink(tmp_path), idle_exit=0.5)

    def stop_once_the_first_piece_is_stored(summary: Any) -> None:
        # The first piece of pairs ended after the waiting one handed on its batch.
        if any(a == 0 for a, _b in pairs_ranges(summary.last_position)):
            first.stop("test")
            release.set()

    first.on_progress = stop_once_the_first_piece_is_stored
    try:
        summary = first.run()
    finally:
        release.set()
    assert summary.stopped_by == "test"
    stored = summary.acknowledged
    assert any(a == 0 for a, _b in pairs_ranges(stored)), stored
    # The waiting piece handed on part of its rows, none of which is stored.
    assert 0 < len(waiting["keys"]) < 500, len(waiting["keys"])
    before = Counter(
        (r["s"], r["n"])
        for t, _v, b in parquet_changes(tmp_path)
        if t == "public.pairs"
        for r in b.to_pylist()
    )
    assert 0 < sum(before.values()) < 3000, before
    assert not set(waiting["keys"]) & set(before), "rows of an unfinished piece were stored"

    read_again: Counter[str] = Counter()

    def counting(conn: Any, shape: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for item in real(conn, shape, *args, **kwargs):
            read_again[shape.name] += item[2].num_rows
            yield item

    monkeypatch.setattr(pg_snapshot, "copy_rows", counting)
    monkeypatch.setattr(pg_snapshot, "CHUNK_BYTES", chunk_bytes)
    again = Pipeline(source(), ParquetSink(tmp_path), idle_exit=0.5).run()
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_drop_replication_slot('parallel')")
    assert again.acknowledged is not None and "snapshot_progress" not in again.acknowledged

    changes = parquet_changes(tmp_path)
    counts = snapshot_ops(changes)
    assert counts == SNAPSHOT_ROWS
    pairs = Counter(
        (r["s"], r["n"]) for t, _v, b in changes if t == "public.pairs" for r in b.to_pylist()
    )
    assert len(pairs) == 3000 and max(pairs.values()) == 1
    # The resumed run read exactly the rows the first one did not store: no finished piece.
    assert read_again["public.pairs"] == 3000 - sum(before.values())
    for table, n in counts.items():
        seqs = sorted(s for t, _v, b in changes if t == table for s in b.column("_seq").to_pylist())
        assert seqs == list(range(n)), f"{table}: each row once, numbered across both runs"
    assert_equal_to_source(postgres, changes)


MOVED = """
CREATE TABLE moved (id int PRIMARY KEY, v int, big text) WITH (fillfactor = 100);
ALTER TABLE moved ALTER COLUMN big SET STORAGE EXTERNAL;
INSERT INTO moved SELECT g, g, repeat(md5(g::text), 80) FROM generate_series(1, 6000) g;
"""


@pytest.mark.parametrize(
    "between", ["updates move rows", "vacuum full", "vacuum full as the resumed run reads"]
)
def test_a_resumed_keyed_table_finds_rows_moved_into_finished_page_ranges(
    postgres: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
    between: str,
) -> None:
    """A keyed table is read in heap page ranges; the run stops with some finished. Before the
    restart, rows of unfinished ranges move into finished ones: updated (their new versions go
    to pages freed by a vacuum), or the table rewritten by ``VACUUM FULL``, before the restart
    or once the resumed run has planned its pieces (from the stored ranges, which the rewrite
    makes wrong). The updates leave the out-of-line ``big`` unchanged, so the stream's changes
    do not carry it: only a read of the moved rows in the resumed snapshot does, and a resumed
    run that skipped the finished ranges would fail the replay ("unchanged but no earlier
    image")."""
    db = "parallel_moved"
    pg_run.create_database(postgres, db, MOVED, publication="pm")
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, db)

    def source() -> PostgresSource:
        return _two_readers(dsn, chunk_rows=300, slot="moved", publication="pm")

    def pages_of(position: Any) -> list[tuple[int, int | None]]:
        tables = (position or {}).get("snapshot_progress", {}).get("tables", {})
        return [(a, b) for a, b in tables.get("public.moved", {}).get("pages", [])]

    first = Pipeline(source(), ParquetSink(tmp_path), idle_exit=0.5)

    def stop_after_a_stored_piece(summary: Any) -> None:
        if pages_of(summary.last_position):
            first.stop("test")

    first.on_progress = stop_after_a_stored_piece
    summary = first.run()
    assert summary.stopped_by == "test"
    stored = summary.acknowledged
    done = pages_of(stored)
    gaps = parallel.page_gaps(done)
    assert done and gaps, (done, gaps)
    table = stored["snapshot_progress"]["tables"]["public.moved"]
    assert table["seen"][1] > 0 and ":" in table["seen"][0], table

    def in_ranges(ranges: list[tuple[int, int | None]]) -> sql.Composable:
        return sql.SQL(" OR ").join(
            sql.SQL("({})").format(pg_snapshot.page_range(a, b)) for a, b in ranges
        )

    with postgres.connect(dbname=db, autocommit=True) as conn:
        # Room in the finished ranges, then rows of the unfinished ones moved there.
        conn.execute(sql.SQL("DELETE FROM moved WHERE ({}) AND id % 2 = 0").format(in_ranges(done)))
        if between == "vacuum full":
            conn.execute("VACUUM FULL moved")
        elif between == "updates move rows":
            conn.execute("VACUUM moved")
            conn.execute(sql.SQL("UPDATE moved SET v = -v WHERE {}").format(in_ranges(gaps)))
        if between != "vacuum full as the resumed run reads":
            moved = conn.execute(
                sql.SQL("SELECT count(*) FROM moved WHERE ({}) AND {}").format(
                    in_ranges(done),
                    sql.SQL("v < 0" if between == "updates move rows" else "id % 2 = 0"),
                )
            ).fetchone()
            assert moved is not None and moved[0] > 0, "no row moved into a finished range"
        else:
            # Once the planner has built on the stored ranges, before any piece is read.
            real = parallel._keyed_page_pieces

            def compacting(*args: Any, **kwargs: Any) -> Any:
                with postgres.connect(dbname=db, autocommit=True) as other:
                    other.execute("SET lock_timeout = '30s'")
                    other.execute("VACUUM FULL moved")
                return real(*args, **kwargs)

            monkeypatch.setattr(parallel, "_keyed_page_pieces", compacting)

    with caplog.at_level(logging.INFO, logger="arrowtail"):
        again = Pipeline(source(), ParquetSink(tmp_path), idle_exit=2).run()
    if between == "vacuum full as the resumed run reads":
        assert (
            "public.moved: its rows moved to another heap file (VACUUM FULL, CLUSTER)"
        ) in caplog.text, caplog.text
        assert "public.moved done" in caplog.text, caplog.text
    elif between == "vacuum full":
        assert (
            "public.moved: its rows are no longer where the stored pieces of its snapshot read"
            " them: reading it again whole"
        ) in caplog.text, caplog.text
    assert again.acknowledged is not None and "snapshot_progress" not in again.acknowledged
    changes = parquet_changes(tmp_path)
    with postgres.connect(dbname=db) as conn:
        cur = conn.execute("SELECT * FROM moved")
        names = [d.name for d in cur.description]
        want = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
        conn.execute("SELECT pg_drop_replication_slot('moved')")
    assert_tables_equal(replay(changes)["public.moved"], want, "moved")


def test_a_resumed_keyless_table_rewritten_meanwhile_is_read_again_whole(
    postgres: Any, tmp_path: Path, caplog: Any
) -> None:
    """A keyless table is read in heap page ranges; the run stops with some finished, whose heap
    file the checkpoint stores. Rows are deleted in the finished ranges and ``VACUUM FULL``
    compacts the table: rows of unfinished ranges move into finished ones, where a resumed run
    reading only the unfinished ranges would miss them. The resumed run finds the file changed,
    says so, and reads the table again whole: every source row arrives, the rows stored before
    the stop twice."""
    db = "parallel_keyless"
    schema = (
        "CREATE TABLE heap (n int, v text) WITH (autovacuum_enabled = false);"
        " ALTER TABLE heap REPLICA IDENTITY FULL;"
        " INSERT INTO heap SELECT g, md5(g::text) FROM generate_series(1, 6000) g;"
    )
    pg_run.create_database(postgres, db, schema, publication="pk")
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, db)

    def source() -> PostgresSource:
        return _two_readers(dsn, chunk_rows=300, slot="keyless", publication="pk")

    def stored(position: Any) -> dict[str, Any]:
        tables = (position or {}).get("snapshot_progress", {}).get("tables", {})
        return dict(tables.get("public.heap", {}))

    first = Pipeline(source(), ParquetSink(tmp_path), idle_exit=0.5)

    def stop_after_a_stored_piece(summary: Any) -> None:
        if stored(summary.last_position).get("pages"):
            first.stop("test")

    first.on_progress = stop_after_a_stored_piece
    summary = first.run()
    assert summary.stopped_by == "test"
    assert checkpoint(tmp_path) == summary.acknowledged
    before = parquet_changes(tmp_path)
    entry = stored(summary.acknowledged)
    done = [(a, b) for a, b in entry["pages"]]
    assert done and parallel.page_gaps(done), done
    assert entry["file"] > 0, entry
    ranges = sql.SQL(" OR ").join(
        sql.SQL("({})").format(pg_snapshot.page_range(a, b)) for a, b in done
    )
    with postgres.connect(dbname=db, autocommit=True) as conn:
        conn.execute(sql.SQL("DELETE FROM heap WHERE ({}) AND n % 2 = 0").format(ranges))
        conn.execute("VACUUM FULL heap")
        moved = conn.execute(
            sql.SQL("SELECT count(*) FROM heap WHERE ({}) AND n % 2 = 0").format(ranges)
        ).fetchone()
        assert moved is not None and moved[0] > 0, "no row moved into a finished range"
        want = Counter(conn.execute("SELECT n, v FROM heap").fetchall())
    with caplog.at_level(logging.INFO, logger="arrowtail"):
        again = Pipeline(source(), ParquetSink(tmp_path), idle_exit=2).run()
    assert (
        "public.heap: its rows are no longer where the stored pieces of its snapshot read them"
        " (the table was rewritten since): reading it again whole"
    ) in caplog.text, caplog.text
    assert again.acknowledged is not None and "snapshot_progress" not in again.acknowledged
    with postgres.connect(dbname=db) as conn:
        conn.execute("SELECT pg_drop_replication_slot('keyless')")
    got = Counter(
        (r["n"], r["v"])
        for t, _v, b in parquet_changes(tmp_path)
        if t == "public.heap"
        for r in b.to_pylist()
        if r["_op"] == "r"
    )
    assert not want - got, f"{sum((want - got).values())} source rows never arrived"
    # The rows of the first run, and all the source's rows from the second.
    first_rows = sum(b.num_rows for t, _v, b in before if t == "public.heap")
    assert sum(got.values()) == first_rows + sum(want.values())


@pytest.mark.parametrize("key", ["PRIMARY KEY", ""])
def test_rows_moved_by_vacuum_full_between_two_pieces_are_read_again(
    postgres: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any, key: str
) -> None:
    """A table read in page ranges by one reader is compacted by ``VACUUM FULL`` (rows deleted
    before the snapshot leave room) once its first piece is read: later rows move into pages
    already read, and the later pieces, which read the new heap file, miss them. The pieces'
    files differ, so a keyed table is read again by an incremental snapshot, and ``verify``
    finds it equal to the source; a keyless one, which cannot be, is named in a warning."""
    db = "parallel_vacuum"
    schema = (
        f"CREATE TABLE packed (id int {key}, v text) WITH (autovacuum_enabled = false);"
        " INSERT INTO packed SELECT g, md5(g::text) FROM generate_series(1, 6000) g;"
        " DELETE FROM packed WHERE id <= 3000 AND id % 2 = 0;"
    )
    pg_run.create_database(postgres, db, schema, publication="pv")
    real = pg_snapshot.copy_rows
    pieces: list[Any] = []

    def compacting(conn: Any, shape: Any, *args: Any, **kwargs: Any) -> Any:
        pieces.append(kwargs.get("pages"))
        if len(pieces) == 2:
            with postgres.connect(dbname=db, autocommit=True) as other:
                other.execute("SET lock_timeout = '30s'")
                other.execute("VACUUM FULL packed")
        return real(conn, shape, *args, **kwargs)

    monkeypatch.setattr(pg_snapshot, "copy_rows", compacting)
    dsn = postgres.dsn_for(postgres.user, None, db)
    source = PostgresSource(
        dsn,
        slot="packed",
        publication="pv",
        snapshot="initial",
        snapshot_chunk_rows=300,
        snapshot_workers=1,
    )
    out = tmp_path / "cdc"
    with caplog.at_level(logging.INFO, logger="arrowtail"):
        Pipeline(source, ParquetSink(out), idle_exit=2).run()
    with postgres.connect(dbname=db) as conn:
        conn.execute("SELECT pg_drop_replication_slot('packed')")
    assert len(pieces) > 3 and all(p is not None for p in pieces), pieces
    logged = caplog.text
    if not key:
        assert (
            "public.packed: its rows moved to another heap file (VACUUM FULL, CLUSTER) between"
            " the reads of two of the initial snapshot's page ranges, which may have missed some"
            " or read some twice; a table without a primary key cannot be read again while"
            " streaming: take a new initial snapshot of it"
        ) in logged, logged
        assert logged.count("public.packed: its rows moved") == 1, logged
        return
    assert (
        "public.packed: its rows moved to another heap file (VACUUM FULL, CLUSTER) between the"
        " reads of two of the initial snapshot's page ranges, which may have missed some:"
        " reading the table again by an incremental snapshot"
    ) in logged, logged
    assert "public.packed done, 4500 rows" in logged, logged
    report = verify(dsn, f"parquet:{out}", ["public.packed"])
    assert report.equal, report.summary()
    assert report.tables[0].source_rows == 4500
