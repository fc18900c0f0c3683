"""``arrowtail run`` end to end: a real PostgreSQL, a live workload, the Parquet sink, a clean stop
by ``--idle-exit``, and the replay of the files compared with ``SELECT *`` value by value. The run
uses the password-protected replication role (not a superuser), with its password given through
an environment variable, and no output may contain that password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "run_pg"

SCHEMA = """
CREATE TABLE customers (
    id bigint PRIMARY KEY, name text NOT NULL, email text, balance numeric(12,2),
    created timestamptz, tags text[], profile jsonb, ref uuid, big text
);
CREATE TABLE orders (
    id serial PRIMARY KEY, customer_id bigint, amount numeric(10,2), placed date,
    note varchar(40), shipped boolean, weight double precision
);
"""


def app_dsn(postgres: Any, db: str) -> str:
    return postgres.capture_dsn(db)


@pytest.fixture(scope="module")
def database(postgres: Any) -> Any:
    admin = postgres.connect()
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    conn = postgres.connect(dbname=DB)
    conn.execute(SCHEMA)
    conn.execute("ALTER TABLE customers REPLICA IDENTITY FULL")
    postgres.grant_capture(DB)
    conn.execute("CREATE PUBLICATION cdc FOR ALL TABLES")
    # Rows that exist before the slot: they must arrive through the snapshot.
    conn.execute(
        "INSERT INTO customers SELECT g, 'pre ' || g, NULL, g * 1.5, now(), ARRAY['a', NULL], "
        "'{\"k\": 1}', gen_random_uuid(), NULL FROM generate_series(1, 300) g"
    )
    conn.execute(
        "INSERT INTO orders (customer_id, amount, placed, note, shipped, weight) "
        "SELECT g % 300 + 1, g, date '2024-01-01' + g, 'n' || g, g % 2 = 0, g / 3.0 "
        "FROM generate_series(1, 500) g"
    )
    yield conn
    conn.close()
    admin.close()


def workload(conn: Any, round_: int) -> None:
    base = 1000 * round_
    with conn.transaction():
        conn.execute(
            "INSERT INTO customers SELECT g, 'c' || g, 'c' || g || '@x.org', g / 7.0, now(), "
            "ARRAY['t' || g], jsonb_build_object('g', g), gen_random_uuid(), NULL "
            "FROM generate_series(%s::int, %s::int) g",
            (base + 1, base + 400),
        )
    for i in range(20):
        with conn.transaction():
            conn.execute(
                "UPDATE customers SET balance = balance + 1, email = NULL WHERE id %% 20 = %s",
                (i,),
            )
            conn.execute(
                "INSERT INTO orders (customer_id, amount, placed, note, shipped, weight) "
                "VALUES (%s, %s, now(), 'live', true, 0.1)",
                (base + i + 1, i),
            )
    conn.execute("DELETE FROM orders WHERE id % 7 = 0")
    conn.execute("DELETE FROM customers WHERE id BETWEEN %s AND %s", (base + 1, base + 30))
    # A value big enough to be TOASTed, then an update that leaves it untouched.
    conn.execute("UPDATE customers SET big = repeat('x', 300000) WHERE id = %s", (base + 100,))
    conn.execute("UPDATE customers SET name = 'renamed' WHERE id = %s", (base + 100,))


def run_arrowtail(postgres: Any, out: Path, *extra: str, env: dict[str, str]) -> Any:
    cmd = [
        sys.executable,
        "-m",
        "arrowtail.cli",
        "run",
        "--source",
        app_dsn(postgres, DB),
        "--password-env",
        "RUN_PG_PASSWORD",
        "--to",
        f"parquet:{out}",
        "--slot",
        "run_slot",
        "--publication",
        "cdc",
        *extra,
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def source_tables(conn: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    out = {}
    # jsonb as its text form, which is what the stream carries (docs/design.md: json -> string).
    for table, select in (
        ("customers", "SELECT *, profile::text AS profile FROM customers"),
        ("orders", "SELECT * FROM orders"),
    ):
        cur = conn.execute(select)
        names = [d.name for d in cur.description]
        out[f"public.{table}"] = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
    return out


def check_replay(out: Path, conn: Any) -> None:
    images = replay(parquet_changes(out))
    for table, want in source_tables(conn).items():
        # REPLICA IDENTITY FULL keys the stream by the whole row: re-key by id.
        got = {(row["id"],): row for row in images.get(table, {}).values()}
        assert_tables_equal(got, want, table)


def test_snapshot_then_stream_then_resume(postgres: Any, database: Any, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    env = dict(os.environ, RUN_PG_PASSWORD=postgres.app_password)
    proc = run_arrowtail(postgres, out, "--snapshot", "initial", "--idle-exit", "4", env=env)
    # The workload runs while arrowtail snapshots and streams in its own process.
    workload(database, 1)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert postgres.app_password not in stdout + stderr
    assert "stopped: idle for 4s" in stderr
    check_replay(out, database)

    # A second run resumes from the manifest's position: new changes only, nothing repeated.
    workload(database, 2)
    proc = run_arrowtail(postgres, out, "--idle-exit", "3", env=env)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    check_replay(out, database)
    changes = parquet_changes(out)
    keys = [
        (b.column("_pos")[i].as_py(), b.column("_seq")[i].as_py(), t)
        for t, _, b in changes
        for i in range(b.num_rows)
    ]
    assert len(keys) == len(set(keys)), "a change was stored twice"
    # The slot confirmed what the sink stored, and not beyond the server's WAL.
    row = database.execute(
        "SELECT confirmed_flush_lsn <= pg_current_wal_lsn(), confirmed_flush_lsn IS NOT NULL "
        "FROM pg_replication_slots WHERE slot_name = 'run_slot'"
    ).fetchone()
    assert row == (True, True)


def test_bad_password_is_one_clear_line(postgres: Any, database: Any, tmp_path: Path) -> None:
    env = dict(os.environ, RUN_PG_PASSWORD="wrong-password-123")
    proc = run_arrowtail(postgres, tmp_path / "x", "--idle-exit", "1", env=env)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3
    errors = [line for line in stderr.splitlines() if line.startswith("arrowtail: error:")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("arrowtail: error: cannot connect to PostgreSQL")
    assert "password authentication failed" in errors[0]
    assert "Traceback" not in stderr
    assert "wrong-password-123" not in stderr
