"""A MySQL/MariaDB target altered in the middle of a transaction that already wrote the table.

An ALTER TABLE waits for the metadata lock of every open transaction that wrote the table, the
sink's own too (its DDL runs on a second connection, since DDL commits implicitly). A backlog
with rows from before and after a schema change (``ADD COLUMN``, a widened column, a new primary
key) arrives in one poll, so the sink wrote the table and then waited 30 seconds for itself, and
failed; the restart read the same backlog and failed again. Now the sink rolls its transaction
back, alters the table and writes the transaction's batches again (or, past ``keep_bytes``,
commits what it wrote first, with a warning). An ALTER that another session's transaction blocks
waits 2 seconds at a time, tried again, so the table's readers do not queue behind it for long."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import pyarrow as pa
import pytest

from arrowtail.exceptions import SinkError
from arrowtail.sinks.database import mysql as my_target
from tests.support.batches import make_batch
from tests.support.cli import cli
from tests.support.dbsink_child import make_sink, position
from tests.support.dbsink_targets import MariaTarget
from tests.support.pg_run import fresh_db

SCHEMA = "myalter"


def test_a_backlog_across_schema_changes_applies_in_one_run(postgres: Any, mariadb: Any) -> None:
    src = fresh_db(postgres, "myalter_src")
    src.execute(
        f"CREATE SCHEMA {SCHEMA}; CREATE TABLE {SCHEMA}.t (a int PRIMARY KEY, v text);"
        f" INSERT INTO {SCHEMA}.t VALUES (1, 'one'); CREATE PUBLICATION myalterp FOR ALL TABLES"
    )
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
    source = postgres.dsn_for(postgres.user, None, "myalter_src")
    target = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password)
    run = ["run", "--source", source, "--slot", "myalter", "--publication", "myalterp"]
    run += ["--to", f"{target}?sink_name=myalter", "--create-tables", "--idle-exit", "2"]
    first = cli(*run, "--snapshot", "initial", env=env)
    assert first.returncode == 0, first.stderr
    # The backlog the next run reads in one poll: rows of the table before and after each change.
    for statement in [
        "INSERT INTO {s}.t VALUES (2, 'two')",
        "ALTER TABLE {s}.t ADD COLUMN w int DEFAULT 5",
        "INSERT INTO {s}.t VALUES (3, 'three', 7)",
        "ALTER TABLE {s}.t DROP CONSTRAINT t_pkey, ADD PRIMARY KEY (a, v)",
        "INSERT INTO {s}.t VALUES (1, 'uno', 8)",
        "UPDATE {s}.t SET w = 9 WHERE a = 2",
    ]:
        src.execute(statement.format(s=SCHEMA))
    second = cli(*run, env=env)
    assert second.returncode == 0, second.stderr
    assert "Lock wait timeout" not in second.stderr
    assert "w = '5' in the rows already there" in second.stderr, second.stderr
    assert "primary key (a) replaced by (a, v)" in second.stderr, second.stderr
    check = cli(
        "verify", "--source", source, "--against", target, "--tables", f"{SCHEMA}.t", env=env
    )
    assert check.returncode == 0, check.stdout + check.stderr
    with my.cursor() as cur:
        cur.execute(f"SELECT a, v, w FROM {SCHEMA}.t ORDER BY a, v")
        rows = [tuple(r) for r in cur.fetchall()]
        cur.execute(f"DROP DATABASE {SCHEMA}")
    assert rows == [(1, "one", 5), (1, "uno", 8), (2, "two", 9), (3, "three", 7)]
    my.close()
    src.close()


COLUMNS = [("id", pa.int64()), ("name", pa.string())]


def _batch(pos: int, rows: list[dict], wide: bool = False) -> pa.RecordBatch:
    columns = COLUMNS + [("extra", pa.int32())] if wide else COLUMNS
    return make_batch(columns, [{"_op": "c", "_pos": pos, **r} for r in rows], table="sinktest.alt")


@pytest.mark.parametrize("keep_bytes", [64 * 1024 * 1024, 0])
def test_the_sink_moves_its_transaction_out_of_its_alters_way(
    mariadb: Any, keep_bytes: int, caplog: Any
) -> None:
    target = MariaTarget(mariadb)
    target.reset()
    sink = make_sink("mysql", target.params)
    sink.create_tables = True
    sink.keep_bytes = keep_bytes
    sink.open()
    with caplog.at_level(logging.WARNING):
        sink.write("sinktest.alt", 1, _batch(100, [{"id": 1, "name": "a"}]))
        sink.write("sinktest.other", 1, _batch(100, [{"id": 9, "name": "z"}]))
        sink.write("sinktest.alt", 2, _batch(200, [{"id": 2, "name": "b", "extra": 5}], True))
        sink.commit(position("mysql", 200))
    sink.close()
    committed_early = [r for r in caplog.records if "committing the rows written" in r.message]
    assert len(committed_early) == (1 if keep_bytes == 0 else 0)
    rows = target.execute("SELECT id, name, extra FROM sinktest.alt ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "a", None), (2, "b", 5)]
    assert [tuple(r) for r in target.execute("SELECT id, name FROM sinktest.other")] == [(9, "z")]
    reopened = make_sink("mysql", target.params)
    assert reopened.open() == position("mysql", 200)
    reopened.close()


@pytest.mark.parametrize("released", [True, False])
def test_an_alter_another_session_blocks_is_tried_again(
    mariadb: Any, released: bool, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(my_target, "DDL_ATTEMPTS", 3)
    target = MariaTarget(mariadb)
    target.reset()
    target.execute("CREATE TABLE sinktest.alt (id BIGINT PRIMARY KEY, name LONGTEXT)")
    blocker = mariadb.connect(database=mariadb.database)
    blocker.begin()
    with blocker.cursor() as cur:  # a report's open transaction holds the table
        cur.execute("SELECT count(*) FROM sinktest.alt")
    if released:
        threading.Timer(3.0, blocker.rollback).start()
    sink = make_sink("mysql", target.params)
    sink.create_tables = True
    sink.open()
    wide = _batch(100, [{"id": 1, "name": "a", "extra": 5}], True)
    with caplog.at_level(logging.INFO, "arrowtail.sinks.database.target"):
        if released:
            sink.write("sinktest.alt", 1, wide)
            sink.commit(position("mysql", 100))
        else:
            with pytest.raises(SinkError, match="3 times .another session holds the table's"):
                sink.write("sinktest.alt", 1, wide)
    sink.close()
    assert any("waiting for other sessions' locks" in r.message for r in caplog.records)
    if released:
        rows = target.execute("SELECT id, name, extra FROM sinktest.alt")
        assert [tuple(r) for r in rows] == [(1, "a", 5)]
    else:
        blocker.rollback()
        assert target.execute("SELECT count(*) FROM sinktest.alt") == [(0,)]
    blocker.close()
