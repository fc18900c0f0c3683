"""Heartbeats and lag warnings against the session PostgreSQL.

- Heartbeats: with ``--heartbeat`` and a busy table outside the publication, the slot's
  ``confirmed_flush_lsn`` moves past the writes; the heartbeat messages never reach the sink,
  while an application's own logical message still does.
- Lag warnings: a transaction left open pins the slot's ``restart_lsn`` while other transactions
  write megabytes of WAL; with ``--lag-warn-bytes`` below that, the run logs the warning line and
  its metrics endpoint reports ``arrowtail_lag_warning 1``.
- ``arrowtail status`` shows the slot's positions, lag and retained WAL, and with a threshold
  exits 1 when the slot is past it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from arrowtail.sources.postgres.heartbeat import PREFIX
from arrowtail.sources.postgres.source import PostgresSource
from tests.servers._process import free_port
from tests.support import pg_run
from tests.support.chaos import start_arrowtail, wait_for
from tests.support.pg_run import (
    create_database,
    current_wal,
    env_for,
    run_args,
    slot_state,
)
from tests.support.replay import parquet_changes

DB = "pgops_heartbeat"
PUB = "hb_pub"
SCHEMA = f"""
CREATE TABLE quiet (id int PRIMARY KEY, v text);
CREATE TABLE busy (id serial PRIMARY KEY, payload text);
CREATE PUBLICATION {PUB} FOR TABLE quiet;
"""


@pytest.fixture(scope="module")
def database(postgres: Any) -> str:
    create_database(postgres, DB, SCHEMA)
    return DB


def new_slot(postgres: Any, slot: str) -> None:
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))


def drop_slot(postgres: Any, slot: str) -> None:
    pg_run.drop_slot(postgres, DB, slot)


def write_busy(postgres: Any, rows: int, size: int = 100) -> int:
    """Writes ``rows`` rows into the unpublished table in a few transactions; returns the WAL
    position after them."""
    with postgres.connect(dbname=DB) as conn:
        for _ in range(4):
            conn.execute(
                "INSERT INTO busy (payload) SELECT repeat(md5(g::text), %s) "
                "FROM generate_series(1, %s) g",
                (max(1, size // 32), rows // 4),
            )
    return current_wal(postgres)


def test_source_consumes_heartbeats_and_acknowledges_past_busy_unpublished_writes(
    postgres: Any, database: str
) -> None:
    slot = "hb_source"
    new_slot(postgres, slot)
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, DB)
    source = PostgresSource(dsn, slot=slot, publication=PUB, heartbeat_interval=0.2)
    source.open(None)
    try:
        target = write_busy(postgres, 2000)
        acknowledged = 0
        seen_tables: set[str] = set()

        def step() -> bool:
            nonlocal acknowledged
            chunk = source.poll(0.2)
            seen_tables.update(t for t, _, _ in chunk.batches)
            if chunk.position is not None:
                # Nothing in flight, so each position is stored at once (as a sink would).
                source.acknowledge(chunk.position)
                acknowledged = int(chunk.position["end_lsn"])
            return acknowledged >= target and source.heartbeats_received >= 1

        wait_for(step, "a position past the busy writes", timeout=30)
        info = source.describe()
        # Heartbeats were written and came back through the slot, and were not handed out.
        assert info["heartbeats_sent"] >= 1
        assert info["heartbeats_received"] >= 1
        assert info["lag_seconds"] == 0.0
    finally:
        source.close()
    assert "_messages" not in seen_tables
    confirmed, _ = slot_state(postgres, DB, slot)
    assert confirmed >= target
    drop_slot(postgres, slot)


def test_lag_seconds_is_the_age_of_the_oldest_unacknowledged_change(
    postgres: Any, database: str
) -> None:
    slot = "hb_lag_seconds"
    new_slot(postgres, slot)
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, DB)
    source = PostgresSource(dsn, slot=slot, publication=PUB)
    source.open(None)
    try:
        assert source.describe()["lag_seconds"] == 0.0
        with postgres.connect(dbname=DB) as conn:
            conn.execute("INSERT INTO quiet VALUES (100, 'first')")
        positions = []

        def handed_out() -> bool:
            chunk = source.poll(0.2)
            if chunk.batches and chunk.position is not None:
                positions.append(chunk.position)
            return bool(positions)

        wait_for(handed_out, "the insert")
        # Not acknowledged (a slow sink): the lag grows with the change's age...
        wait_for(lambda: source.describe()["lag_seconds"] >= 1.0, "the lag to grow")
        # ...and is gone once the sink stored it.
        source.acknowledge(positions[0])
        assert source.describe()["lag_seconds"] == 0.0
    finally:
        source.close()
        with postgres.connect(dbname=DB) as conn:
            conn.execute("DELETE FROM quiet WHERE id = 100")
    drop_slot(postgres, slot)


def test_run_with_heartbeats_advances_slot_and_keeps_heartbeats_out_of_the_sink(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    slot = "hb_run"
    new_slot(postgres, slot)
    out = tmp_path / "parquet"
    args = run_args(postgres, DB, out, slot, PUB, "--heartbeat", "0.3", "--idle-exit", "600")
    run = start_arrowtail(args, env_for(postgres), tmp_path, "run")
    try:
        wait_for(
            lambda: "streaming slot" in run.output() or run.proc.poll() is not None,
            "the run to start streaming",
        )
        with postgres.connect(dbname=DB) as conn:
            conn.execute("INSERT INTO quiet VALUES (1, 'one')")
            conn.execute("SELECT pg_logical_emit_message(false, 'app.event', 'hello')")
        target = write_busy(postgres, 4000)
        wait_for(
            lambda: slot_state(postgres, DB, slot)[0] >= target or run.proc.poll() is not None,
            "the slot to confirm past the busy writes",
            timeout=30,
        )
        assert run.proc.poll() is None, run.output()
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0, run.output()
    finally:
        run.kill()
    # Logical messages land in the _messages pseudo-table (which the replay helper skips).
    files = sorted((out / "_messages").glob("*.parquet"))
    prefixes = [p for f in files for p in pq.read_table(f).column("prefix").to_pylist()]
    assert prefixes == ["app.event"], prefixes
    assert PREFIX not in prefixes
    quiet = [b for t, _, b in parquet_changes(out) if t == "public.quiet"]
    assert [r["v"] for b in quiet for r in b.to_pylist()] == ["one"]
    assert postgres.app_password not in run.output()
    drop_slot(postgres, slot)


def test_lag_warning_when_the_slot_retains_more_wal_than_allowed(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    slot = "hb_lag"
    new_slot(postgres, slot)
    out = tmp_path / "parquet"
    port = free_port()
    args = run_args(
        postgres,
        DB,
        out,
        slot,
        PUB,
        "--lag-warn-bytes",
        str(1 << 20),
        "--metrics-port",
        str(port),
        "--idle-exit",
        "600",
    )
    env = env_for(postgres, ARROWTAIL_RUN_LAG_CHECK_INTERVAL="0.3")
    run = start_arrowtail(args, env, tmp_path, "run")
    holder = postgres.connect(dbname=DB, autocommit=False)
    try:
        wait_for(
            lambda: "streaming slot" in run.output() or run.proc.poll() is not None,
            "the run to start streaming",
        )
        # An open transaction with an xid: decoding must restart before it, so the slot keeps
        # all the WAL written after it, here about 4 MB.
        holder.execute("INSERT INTO busy (payload) VALUES ('held open')")
        write_busy(postgres, 16000, size=200)
        wait_for(
            lambda: "replication lag past threshold" in run.output() or run.proc.poll() is not None,
            "the lag warning",
            timeout=30,
        )
        assert run.proc.poll() is None, run.output()
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            metrics = resp.read().decode()
        assert "arrowtail_lag_warning 1" in metrics, metrics
        holder.rollback()
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0, run.output()
    finally:
        holder.close()
        run.kill()
    warnings = [line for line in run.output().splitlines() if "lag past threshold" in line]
    # One line for the crossing, not one per check.
    assert len(warnings) == 1, warnings
    assert "WARNING" in warnings[0] and "limit 1.0 MB" in warnings[0], warnings[0]
    drop_slot(postgres, slot)


def status(postgres: Any, slot: str, *extra: str) -> subprocess.CompletedProcess[str]:
    url = postgres.dsn_for(postgres.app_user, None, DB)
    return subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", "status", "--source", url, "--slot", slot]
        + ["--password-env", "RUN_PG_PASSWORD", *extra],
        env=env_for(postgres),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_shows_slot_lag_and_exits_1_past_a_threshold(postgres: Any, database: str) -> None:
    slot = "hb_status"
    new_slot(postgres, slot)
    confirmed, _ = slot_state(postgres, DB, slot)
    # Nobody consumes the slot: everything written after it is lag.
    target = write_busy(postgres, 8000, size=200)
    result = status(postgres, slot, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["slot"] == slot and report["slot_active"] is False
    lsn = report["slot_confirmed_flush_lsn"].split("/")
    assert (int(lsn[0], 16) << 32) + int(lsn[1], 16) == confirmed
    assert report["lag_bytes"] >= target - confirmed > 1 << 20
    assert report["retained_wal_bytes"] >= report["lag_bytes"]
    assert report["wal_status"] == "reserved"
    assert "lag_warning" not in report

    human = status(postgres, slot)
    assert human.returncode == 0, human.stderr
    lines = {line.split()[0]: line for line in human.stdout.splitlines()}
    assert " MB (" in lines["lag_bytes"] and " bytes)" in lines["lag_bytes"], human.stdout
    assert lines["slot_active"].split()[1] == "False"

    over = status(postgres, slot, "--json", "--lag-warn-bytes", str(1 << 20))
    assert over.returncode == 1, over.stderr
    assert json.loads(over.stdout)["lag_warning"] is True
    assert "replication lag past threshold" in over.stderr
    under = status(postgres, slot, "--json", "--lag-warn-bytes", str(1 << 40))
    assert under.returncode == 0 and json.loads(under.stdout)["lag_warning"] is False
    for run in (result, human, over, under):
        assert postgres.app_password not in run.stdout + run.stderr
    drop_slot(postgres, slot)
