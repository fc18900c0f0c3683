"""Incremental snapshots on a real PostgreSQL: rows that existed before the slot (``--snapshot
never``) arrive through a watermarked, chunked snapshot requested while the source streams, while a
writer updates, deletes and re-inserts those very keys; the replay of the Parquet files equals the
table. A run killed in the middle of the snapshot resumes it from the checkpoint. The source runs
as the password-protected replication role (not a superuser), which also writes the requests.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from arrowtail import cli
from arrowtail.exceptions import ConfigError
from arrowtail.pipeline import Pipeline
from arrowtail.sinks.parquet import ParquetSink
from arrowtail.sources.postgres.incremental import request_snapshot
from arrowtail.sources.postgres.source import PostgresSource
from tests.support import pg_run
from tests.support.chaos import check_committed_files, manifest, start_arrowtail, wait_for
from tests.support.pg_run import create_database
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "incr_pg"
PUB = "incr_pub"
ROWS = 20_000


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[str]:
    create_database(postgres, DB, "CREATE TABLE nokey (x int)", publication=PUB)
    yield DB


def app_dsn(postgres: Any) -> str:
    return postgres.dsn_for(postgres.app_user, postgres.app_password, DB)


def make_table(postgres: Any, name: str) -> None:
    """``name`` with ROWS rows and a composite primary key, before any slot exists."""
    with postgres.connect(dbname=DB) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id int, region text, v int NOT NULL, note text, "
                "PRIMARY KEY (id, region))"
            ).format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} SELECT g, 'r' || (g %% 3), g, md5(g::text) "
                "FROM generate_series(1, %s) g"
            ).format(sql.Identifier(name)),
            (ROWS,),
        )
        conn.execute(f"GRANT SELECT ON {name} TO {postgres.app_user}")


def create_slot(postgres: Any, slot: str) -> None:
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))


def drop_slot(postgres: Any, slot: str) -> None:
    pg_run.drop_slot(postgres, DB, slot)


def table_image(postgres: Any, name: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    with postgres.connect(dbname=DB) as conn:
        cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)))
        names = [d.name for d in cur.description]
        return {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in cur}


def churn(postgres: Any, name: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """Small transactions updating, deleting and re-inserting keys all over the table, and
    inserting new ones, until ``stop``."""
    rng = random.Random(5)
    table = sql.Identifier(name)
    with postgres.connect(dbname=DB) as conn:
        while not stop.is_set():
            with conn.transaction():
                for _ in range(5):
                    g = rng.randint(1, ROWS + 2000)
                    key = (g, f"r{g % 3}")
                    op = rng.choice(("update", "update", "delete", "upsert"))
                    if op == "update":
                        q = "UPDATE {} SET v = v + 7 WHERE (id, region) = (%s, %s)"
                        conn.execute(sql.SQL(q).format(table), key)
                    elif op == "delete":
                        q = "DELETE FROM {} WHERE id = %s AND region = %s"
                        conn.execute(sql.SQL(q).format(table), key)
                    else:
                        q = (
                            "INSERT INTO {} VALUES (%s, %s, -1, 'again') ON CONFLICT (id, region) "
                            "DO UPDATE SET v = excluded.v, note = excluded.note"
                        )
                        conn.execute(sql.SQL(q).format(table), key)
                    counts[op] += 1


def test_refuses_tables_without_a_primary_key(postgres: Any, database: str) -> None:
    with pytest.raises(ConfigError, match="no primary key"):
        request_snapshot(app_dsn(postgres), ["public.nokey"])
    with pytest.raises(ConfigError, match="does not exist"):
        request_snapshot(app_dsn(postgres), ["public.missing"])


def test_incremental_snapshot_with_concurrent_writes(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    make_table(postgres, "items")
    create_slot(postgres, "incr_live")
    source = PostgresSource(
        app_dsn(postgres), slot="incr_live", publication=PUB, incremental_chunk_rows=1500
    )
    sink = ParquetSink(tmp_path / "out")
    pipeline = Pipeline(source, sink, idle_exit=2.0, poll_timeout=0.1)
    stop = threading.Event()
    counts = {"update": 0, "delete": 0, "upsert": 0}
    writer = threading.Thread(target=churn, args=(postgres, "items", stop, counts))
    writer.start()
    try:
        wait_for(lambda: counts["update"] > 50, "the writer to start")
        request_snapshot(app_dsn(postgres), ["public.items"])
        runner = threading.Thread(target=pipeline.run)
        runner.start()
        read = pipeline.summary.by_table_op
        wait_for(
            lambda: read[("public.items", "r")] > 0 and not source.incremental_snapshots,
            "the snapshot to end",
            timeout=120,
        )
    finally:
        stop.set()
        writer.join()
    runner.join(timeout=60)
    assert not runner.is_alive(), "the pipeline did not stop after going idle"
    drop_slot(postgres, "incr_live")

    by_op = pipeline.summary.by_table_op
    # Most rows came from the snapshot, and the writer's changes were streamed beside them.
    assert by_op[("public.items", "r")] > ROWS // 2, by_op
    assert by_op[("public.items", "u")] > 0 and by_op[("public.items", "d")] > 0, by_op
    assert counts["delete"] > 20 and counts["upsert"] > 20, counts
    changes = parquet_changes(tmp_path / "out")
    # Signals and watermarks are consumed by the source, never stored.
    assert not [t for t, _v, _b in changes if t == "_messages"]
    got = replay(changes)
    assert_tables_equal(got["public.items"], table_image(postgres, "items"), "public.items")
    assert "incremental" not in (manifest(tmp_path / "out")["checkpoint"] or {})


def test_incremental_snapshot_resumes_after_a_kill(
    postgres: Any,
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_table(postgres, "resumed")
    create_slot(postgres, "incr_kill")
    monkeypatch.setenv("INCR_PG_PASSWORD", postgres.app_password)
    url = postgres.capture_dsn(DB)
    request = ["snapshot", "--incremental", "--source", url, "--password-env", "INCR_PG_PASSWORD"]
    assert cli.main([*request, "--tables", "public.nokey"]) == 2
    assert "no primary key" in capsys.readouterr().err
    assert cli.main([*request, "--tables", "public.resumed"]) == 0
    out = tmp_path / "out"
    args = [
        "run",
        "--source",
        url,
        "--password-env",
        "INCR_PG_PASSWORD",
        "--to",
        f"parquet:{out}",
        "--slot",
        "incr_kill",
        "--publication",
        PUB,
        "--incremental-chunk-rows",
        "1000",
    ]
    env = {**os.environ, "INCR_PG_PASSWORD": postgres.app_password}

    def progress() -> list[Any]:
        try:
            return list((manifest(out).get("checkpoint") or {}).get("incremental", []))
        except FileNotFoundError:
            return []

    first = start_arrowtail(args, env, tmp_path / "logs", "first")
    try:
        wait_for(lambda: any(p["chunks"] >= 3 for p in progress()), "three stored chunks")
    finally:
        first.kill()
    stored = progress()
    assert stored and stored[0]["tables"] == ["public.resumed"], stored
    assert stored[0]["after"] is not None
    # Changes while no run is active, to keys already read and keys still ahead.
    with postgres.connect(dbname=DB) as conn:
        conn.execute("UPDATE resumed SET v = -v WHERE id % 97 = 0")
        conn.execute("DELETE FROM resumed WHERE id % 89 = 0")
        conn.execute("INSERT INTO resumed VALUES (2, 'x', 0, 'new'), (19999, 'x', 0, 'new')")

    second = start_arrowtail([*args, "--idle-exit", "2"], env, tmp_path / "logs", "second")
    assert second.wait(timeout=180) == 0, second.output()
    assert "resuming incremental snapshot" in second.output()
    drop_slot(postgres, "incr_kill")

    assert "incremental" not in manifest(out)["checkpoint"]
    check_committed_files(out)
    got = replay(parquet_changes(out))
    assert_tables_equal(got["public.resumed"], table_image(postgres, "resumed"), "public.resumed")
