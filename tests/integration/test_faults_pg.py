"""Faults around a running ``arrowtail run`` from PostgreSQL into Parquet:

- the server restarts, or its walsender is terminated (``pg_terminate_backend``), in the middle of
  a large transaction's stream: the run reconnects by itself and, in the end, nothing is lost;
- the sink directory becomes unwritable: the run exits non-zero with one clear line, the slot
  never confirmed more than the manifest stored, and a rerun after repair completes;
- a checkpoint older than the slot: a clear error instead of silently skipping changes.

Permissions do not bind root (CI runs as root), so the sink is made unwritable by putting a file
where its manifest directory was: every later commit fails with ENOTDIR.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.support import pg_run
from tests.support.chaos import (
    check_committed_files,
    manifest,
    start_arrowtail,
    wait_for,
)
from tests.support.pg_run import create_database, env_for
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "faults_pg"
PUB = "faults_pub"


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[str]:
    schema = "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, s text)"
    create_database(postgres, DB, schema, publication=PUB)
    yield DB


def fresh_slot(postgres: Any, slot: str) -> None:
    with postgres.connect(dbname=DB) as conn:
        conn.execute("DELETE FROM t")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))


def drop_slot(postgres: Any, slot: str) -> None:
    with postgres.connect(dbname=DB) as conn:
        wait_for(
            lambda: (
                conn.execute(
                    "SELECT NOT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
                ).fetchone()
                in (None, (True,))
            ),
            f"slot {slot} to be released",
        )
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (slot,),
        )


def insert(postgres: Any, lo: int, hi: int) -> None:
    """One transaction inserting ids lo..hi, then a transaction updating and deleting some."""
    with postgres.connect(dbname=DB) as conn:
        conn.execute(
            "INSERT INTO t SELECT g, g %% 13, md5(g::text) "
            "FROM generate_series(%s::int, %s::int) g",
            (lo, hi),
        )
        conn.execute("UPDATE t SET v = -v WHERE id BETWEEN %s AND %s AND id %% 3 = 0", (lo, hi))
        conn.execute("DELETE FROM t WHERE id BETWEEN %s AND %s AND id %% 5 = 0", (lo, hi))


def stored_ids(out: Path) -> set[int]:
    images = replay(parquet_changes(out))
    return {row["id"] for row in images.get("public.t", {}).values()}


def committed_ids(out: Path) -> set[int]:
    """Ids of the rows in the files the manifest lists (committed), whatever else is on disk."""
    ids: set[int] = set()
    for entry in manifest(out)["files"]:
        ids |= set(pq.read_table(out / entry["path"], columns=["id"]).column("id").to_pylist())
    return ids


def run_args(postgres: Any, out: Path, slot: str, *extra: str) -> list[str]:
    return pg_run.run_args(postgres, DB, out, slot, PUB, *extra)


def check_replay(postgres: Any, out: Path) -> None:
    check_committed_files(out)
    with postgres.connect(dbname=DB) as conn:
        cur = conn.execute("SELECT * FROM t")
        names = [d.name for d in cur.description]
        want = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
    got = replay(parquet_changes(out)).get("public.t", {})
    assert_tables_equal(got, want, "public.t")


def slot_confirmed(postgres: Any, slot: str) -> int:
    with postgres.connect(dbname=DB) as conn:
        row = conn.execute(
            "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("fault", ["restart", "terminate"])
def test_reconnects_after_server_fault(
    postgres: Any, database: str, tmp_path: Path, fault: str
) -> None:
    slot = f"fault_{fault}"
    fresh_slot(postgres, slot)
    out = tmp_path / "parquet"
    run = start_arrowtail(
        run_args(postgres, out, slot, "--idle-exit", "600"), env_for(postgres), tmp_path, "run"
    )
    try:
        insert(postgres, 1, 1000)
        wait_for(lambda: 999 in stored_ids(out) or run.proc.poll() is not None, "round 1")
        # A large transaction, and the fault while its changes are on the wire.
        insert(postgres, 1001, 150_000)
        if fault == "restart":
            postgres.restart()
        else:
            with postgres.connect(dbname=DB) as conn:
                wait_for(
                    lambda: (
                        conn.execute(
                            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                            "WHERE slot_name = %s AND active_pid IS NOT NULL",
                            (slot,),
                        ).fetchone()
                        == (True,)
                    ),
                    "the walsender to be terminated",
                )
        insert(postgres, 150_001, 151_000)
        wait_for(
            lambda: 151_000 - 1 in stored_ids(out) or run.proc.poll() is not None,
            "the changes after the fault",
            timeout=180,
        )
        assert run.proc.poll() is None, run.output()
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0, run.output()
    finally:
        run.kill()
    assert "replication connection lost" in run.output()
    assert postgres.app_password not in run.output()
    check_replay(postgres, out)
    drop_slot(postgres, slot)


def test_waits_for_a_slot_still_held_by_a_dead_run(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    """A restarted run may find the slot still active (the killed run's walsender has not yet
    noticed): it waits for the slot instead of failing."""
    from arrowtail.sources.postgres.replication import start_replication

    slot = "fault_slot_busy"
    fresh_slot(postgres, slot)
    out = tmp_path / "parquet"
    holder = start_replication(postgres.dsn_for(postgres.user, None, DB), slot, [PUB])
    run = start_arrowtail(
        run_args(postgres, out, slot, "--idle-exit", "600"), env_for(postgres), tmp_path, "run"
    )
    try:
        wait_for(
            lambda: "still in use" in run.output() or run.proc.poll() is not None,
            "the run to find the slot busy",
        )
        assert run.proc.poll() is None, run.output()
        holder.close()
        insert(postgres, 1, 1000)
        wait_for(lambda: 999 in stored_ids(out) or run.proc.poll() is not None, "the changes")
        assert run.proc.poll() is None, run.output()
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0, run.output()
    finally:
        holder.close()
        run.kill()
    check_replay(postgres, out)
    drop_slot(postgres, slot)


def test_unwritable_sink_exits_and_acknowledges_nothing_unstored(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    slot = "fault_unwritable"
    fresh_slot(postgres, slot)
    out = tmp_path / "parquet"
    manifest_dir, saved = out / "_arrowtail", tmp_path / "saved_arrowtail"
    args = run_args(postgres, out, slot, "--idle-exit", "600")
    run = start_arrowtail(args, env_for(postgres), tmp_path, "run")
    try:
        insert(postgres, 1, 1000)
        wait_for(lambda: 999 in stored_ids(out) or run.proc.poll() is not None, "round 1")
        assert run.proc.poll() is None, run.output()
        # The manifest directory becomes a file: every later commit fails, as it would on a
        # read-only or full disk (permissions would not stop root, which CI runs as).
        blocker = tmp_path / "blocker"
        blocker.write_text("not a directory")
        manifest_dir.rename(saved)
        blocker.rename(manifest_dir)
        insert(postgres, 1001, 2000)
        code = run.wait(timeout=120)
    finally:
        run.kill()
    err = run.stderr.read_text()
    assert code == 3, run.output()
    errors = [line for line in err.splitlines() if line.startswith("arrowtail: error:")]
    assert len(errors) == 1, err
    assert "cannot commit Parquet files" in errors[0], errors[0]
    assert "Not a directory" in errors[0] or "No such file" in errors[0], errors[0]
    assert "Traceback" not in err
    assert postgres.app_password not in run.output()

    manifest_dir.unlink()
    saved.rename(manifest_dir)
    # The slot confirmed nothing the manifest does not hold.
    stored = manifest(out)["checkpoint"]
    assert slot_confirmed(postgres, slot) <= int(stored["end_lsn"])
    assert 1001 not in committed_ids(out)

    args = run_args(postgres, out, slot, "--idle-exit", "3")
    rerun = start_arrowtail(args, env_for(postgres), tmp_path, "rerun")
    assert rerun.wait(timeout=120) == 0, rerun.output()
    check_replay(postgres, out)
    drop_slot(postgres, slot)


def test_checkpoint_older_than_slot_is_a_clear_error(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    slot = "fault_old_checkpoint"
    fresh_slot(postgres, slot)
    out = tmp_path / "parquet"
    env = env_for(postgres)
    insert(postgres, 1, 500)
    first = start_arrowtail(run_args(postgres, out, slot, "--idle-exit", "2"), env, tmp_path, "a")
    assert first.wait(timeout=120) == 0, first.output()
    old = tmp_path / "old"
    shutil.copytree(out, old)
    insert(postgres, 501, 1000)
    second = start_arrowtail(run_args(postgres, out, slot, "--idle-exit", "2"), env, tmp_path, "b")
    assert second.wait(timeout=120) == 0, second.output()
    check_replay(postgres, out)

    stale = start_arrowtail(run_args(postgres, old, slot, "--idle-exit", "2"), env, tmp_path, "c")
    assert stale.wait(timeout=120) == 3, stale.output()
    err = stale.stderr.read_text()
    errors = [line for line in err.splitlines() if line.startswith("arrowtail: error:")]
    assert len(errors) == 1 and "is behind replication slot" in errors[0], err
    assert "Traceback" not in err
    drop_slot(postgres, slot)
