"""Initial snapshots in primary-key chunks on a real PostgreSQL, as a server before 14 (which has
no TID range scan) is read, and as a resumed snapshot stored by key ranges goes on: composite,
text (collation order) and uuid keys read in many small chunks arrive exactly once each and
replay to the tables; a table without a primary key is read with one COPY. An analyzed table
with a dense integer key is cut into ranges of key values without a bound query, a sparse one by
keyset pagination."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from arrowtail.pipeline import Pipeline, Summary
from arrowtail.sinks.parquet import ParquetSink
from arrowtail.sources.postgres import parallel
from arrowtail.sources.postgres import snapshot as pg_snapshot
from arrowtail.sources.postgres.source import PostgresSource
from tests.support.pg_run import create_database
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "chunks_pg"

TABLES = {
    "pairs": "SELECT g, CASE WHEN g % 2 = 0 THEN 'B ' || g ELSE 'a-' || g END, g * 2 "
    "FROM generate_series(1, 120) g",
    "ids": "SELECT gen_random_uuid(), g FROM generate_series(1, 50) g",
    "loose": "SELECT g % 5, 'x' FROM generate_series(1, 30) g",
}


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[str]:
    schema = [
        "CREATE TABLE pairs (n int, s text, v int, PRIMARY KEY (s, n))",
        "CREATE TABLE ids (id uuid PRIMARY KEY, v int)",
        "CREATE TABLE loose (n int, s text)",
        *(f"INSERT INTO {table} {rows}" for table, rows in TABLES.items()),
    ]
    create_database(postgres, DB, ";\n".join(schema), publication="chunks")
    yield DB


@pytest.fixture(autouse=True)
def by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner cuts tables as it does on a server without TID range scans."""
    monkeypatch.setattr(parallel, "TID_RANGES_SINCE", 10**9)


def record_keyset_bounds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Makes every keyset bound query of the snapshot note its table and the bound it found."""
    bounds: list[tuple[str, Any]] = []
    real = pg_snapshot.chunk_bound

    def counting(conn: Any, shape: Any, after: Any, rows: int) -> Any:
        bound = real(conn, shape, after, rows)
        bounds.append((shape.name, bound))
        return bound

    monkeypatch.setattr(pg_snapshot, "chunk_bound", counting)
    return bounds


def snapshot_to_parquet(postgres: Any, db: str, name: str, chunk_rows: int, out: Path) -> Summary:
    """Runs an initial snapshot of ``db`` (slot and publication ``name``) in chunks of
    ``chunk_rows`` into Parquet under ``out`` until idle, drops the slot and gives the summary."""
    source = PostgresSource(
        postgres.dsn_for(postgres.app_user, postgres.app_password, db),
        slot=name,
        publication=name,
        snapshot="initial",
        snapshot_chunk_rows=chunk_rows,
    )
    summary = Pipeline(source, ParquetSink(out), idle_exit=0.5).run()
    with postgres.connect(dbname=db) as conn:
        conn.execute(sql.SQL("SELECT pg_drop_replication_slot({})").format(sql.Literal(name)))
    return summary


def test_initial_snapshot_in_small_chunks(
    postgres: Any, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounds = record_keyset_bounds(monkeypatch)
    summary = snapshot_to_parquet(postgres, DB, "chunks", 7, tmp_path)

    # ceil(120 / 7) = 18 chunks (the last bound is None), ceil(50 / 7) = 8; none for 'loose'.
    assert [b for t, b in bounds if t == "public.pairs"].count(None) == 1
    assert len([t for t, _b in bounds if t == "public.pairs"]) == 18
    assert len([t for t, _b in bounds if t == "public.ids"]) == 8
    assert not [t for t, _b in bounds if t == "public.loose"]
    assert summary.by_table_op[("public.pairs", "r")] == 120
    changes = parquet_changes(tmp_path)
    seqs = [s for t, _v, b in changes if t == "public.pairs" for s in b.column("_seq").to_pylist()]
    assert sorted(seqs) == list(range(120)), "each row once, numbered across chunks"
    got = replay(changes)
    with postgres.connect(dbname=DB) as conn:
        for table, key in (("pairs", (1, 0)), ("ids", (0,)), ("loose", None)):
            cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            names = [d.name for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur]
            if key is None:
                assert len(got[f"public.{table}"]) == len({tuple(r.values()) for r in rows})
                continue
            want = {tuple(r[names[i]] for i in key): r for r in rows}
            assert_tables_equal(got[f"public.{table}"], want, table)


def test_dense_integer_keys_are_cut_by_value_and_sparse_ones_by_keyset(
    postgres: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = "chunks_values_pg"
    # 'dense': keys from -20 to 75 with a few gaps (90 rows over a span of 96); 'sparse': 40 keys
    # a thousand apart; 'fresh': dense but never analyzed, so it has no row estimate.
    schema = [
        "CREATE TABLE dense (id bigint PRIMARY KEY, v text)",
        "CREATE TABLE sparse (id integer PRIMARY KEY, v text)",
        "CREATE TABLE fresh (id smallint PRIMARY KEY, v text)",
        "INSERT INTO dense SELECT g, 'd' || g FROM generate_series(-20, 75) g WHERE g % 17 <> 3",
        "INSERT INTO sparse SELECT g * 1000, 's' || g FROM generate_series(1, 40) g",
        "INSERT INTO fresh SELECT g, 'f' || g FROM generate_series(1, 30) g",
        "ANALYZE dense",
        "ANALYZE sparse",
    ]
    create_database(postgres, db, ";\n".join(schema), publication="values")
    keyset = record_keyset_bounds(monkeypatch)
    by_value: dict[str, list[int] | None] = {}
    real_values = parallel._value_bounds

    def recording(conn: Any, shape: Any, rows: int, estimate: int) -> Any:
        by_value[shape.name] = bounds = real_values(conn, shape, rows, estimate)
        return bounds

    monkeypatch.setattr(parallel, "_value_bounds", recording)
    snapshot_to_parquet(postgres, db, "values", 10, tmp_path)

    paginated = [name for name, _bound in keyset]
    # Ten key values a range from the smallest key: bounds -11, -1, ..., 69, then open-ended.
    assert by_value["public.dense"] == list(range(-11, 75, 10))
    assert "public.dense" not in paginated
    # Keyset pagination asks for a bound until fewer than ten rows are left: 40 // 10 + 1 and
    # 30 // 10 + 1 queries.
    assert by_value["public.sparse"] is None and paginated.count("public.sparse") == 5
    assert by_value["public.fresh"] is None and paginated.count("public.fresh") == 4

    changes = parquet_changes(tmp_path)
    got = replay(changes)
    with postgres.connect(dbname=db) as conn:
        for table in ("dense", "sparse", "fresh"):
            cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            want = {(r[0],): {"id": r[0], "v": r[1]} for r in cur}
            assert_tables_equal(got[f"public.{table}"], want, table)
            seqs = sorted(
                s
                for t, _v, b in changes
                if t == f"public.{table}"
                for s in b.column("_seq").to_pylist()
            )
            assert seqs == list(range(len(want))), f"{table}: each row once"
