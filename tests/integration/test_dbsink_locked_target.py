"""A PostgreSQL target table that another session holds while a schema change reaches it.

``ALTER TABLE`` needs the table to itself: it waited for a reader's open transaction for as long
as that lasted, and every later reader of the table queued behind it, so one report left open on
the target stopped the target's readers. Now each attempt waits two seconds at most, in a
savepoint, and is tried again; readers get their turn in between, and a table held through every
attempt stops the run with the sessions that hold it named."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from arrowtail.exceptions import SinkError
from arrowtail.sinks.database import postgres as pg_target
from tests.support.batches import make_batch
from tests.support.cli import cli, cli_popen
from tests.support.dbsink_child import make_sink, position
from tests.support.dbsink_targets import PgTarget
from tests.support.pg_run import fresh_db, wait_slot_active

SCHEMA = "locked"


def _wait_for(what: str, check: Any, proc: Any = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"arrowtail exited early: {proc.communicate()[1]}")
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")


def test_readers_of_the_target_are_not_queued_behind_a_waiting_alter(postgres: Any) -> None:
    src = fresh_db(postgres, "locked_src")
    src.execute(
        f"CREATE SCHEMA {SCHEMA}; CREATE TABLE {SCHEMA}.t (id int PRIMARY KEY, v text);"
        f" INSERT INTO {SCHEMA}.t VALUES (1, 'a'), (2, 'b'); CREATE PUBLICATION lockedp FOR ALL"
        " TABLES"
    )
    dst = fresh_db(postgres, "locked_dst")
    source = postgres.dsn_for(postgres.user, None, "locked_src")
    target = postgres.dsn_for(postgres.user, None, "locked_dst")
    run = ["run", "--source", source, "--slot", "locked", "--publication", "lockedp"]
    proc = cli_popen(*run, "--to", target, "--create-tables", "--snapshot", "initial")
    wait_slot_active(src, "locked", proc)
    _wait_for(
        "the snapshot in the target",
        lambda: (
            dst.execute(f"SELECT to_regclass('{SCHEMA}.t') IS NOT NULL").fetchone()[0]
            and dst.execute(f"SELECT count(*) FROM {SCHEMA}.t").fetchone()[0] == 2
        ),
        proc,
    )
    blocker = psycopg.connect(target)  # a report left open: its transaction holds the table
    blocker.execute(f"SELECT count(*) FROM {SCHEMA}.t").fetchone()
    src.execute(f"ALTER TABLE {SCHEMA}.t ADD COLUMN n int DEFAULT 1")
    src.execute(f"INSERT INTO {SCHEMA}.t VALUES (3, 'c', 3)")
    _wait_for(
        "an ALTER TABLE waiting for the table's lock",
        lambda: dst.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock'"
            f" AND relation = '{SCHEMA}.t'::regclass"
        ).fetchone()[0],
        proc,
    )
    # A reader arriving while the ALTER waits gets its turn (one attempt waits 2 s at most).
    with psycopg.connect(target, autocommit=True) as reader:
        reader.execute("SET lock_timeout = '20s'")
        assert reader.execute(f"SELECT count(*) FROM {SCHEMA}.t").fetchone() == (2,)
    blocker.rollback()
    blocker.close()
    _wait_for(
        "the new row in the target",
        lambda: dst.execute(f"SELECT count(*) FROM {SCHEMA}.t").fetchone()[0] == 3,
        proc,
    )
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert f"target table {SCHEMA}.t: waiting for other sessions' locks to alter it" in err, err
    check = cli("verify", "--source", source, "--against", target, "--tables", f"{SCHEMA}.t")
    assert check.returncode == 0, check.stdout + check.stderr
    assert dst.execute(f"SELECT id, n FROM {SCHEMA}.t ORDER BY id").fetchall() == [
        (1, 1),
        (2, 1),
        (3, 3),
    ]
    src.close()
    dst.close()


def test_a_table_held_through_every_attempt_names_its_holders(
    postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_target, "ALTER_ATTEMPTS", 2)
    target = PgTarget(postgres)
    target.reset()
    target.execute(
        "DROP TABLE IF EXISTS sinktest.held", "CREATE TABLE sinktest.held (id bigint PRIMARY KEY)"
    )
    sink = make_sink("postgres", target.params)
    sink.create_tables = True
    sink.open()
    columns = [("id", pa.int64()), ("extra", pa.int32())]
    batch = make_batch(
        columns, [{"_op": "c", "_pos": 100, "id": 1, "extra": 2}], table="sinktest.held"
    )
    with psycopg.connect(postgres.dsn) as blocker:
        blocker.execute("SELECT count(*) FROM sinktest.held").fetchone()
        pid = blocker.info.backend_pid
        with pytest.raises(SinkError) as failed:
            sink.write("sinktest.held", 1, batch)
        blocker.rollback()
    message = str(failed.value)
    assert "target table sinktest.held: cannot alter it, other sessions kept it locked" in message
    assert f"pid {pid} (idle in transaction since " in message, message
    sink.close()
    # Nothing was stored: a new sink starts from no position and can alter the table now.
    again = make_sink("postgres", target.params)
    again.create_tables = True
    assert again.open() is None
    again.write("sinktest.held", 1, batch)
    again.commit(position("postgres", 100))
    again.close()
    assert target.execute("SELECT id, extra FROM sinktest.held") == [(1, 2)]
