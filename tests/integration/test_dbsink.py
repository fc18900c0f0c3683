"""The database sinks against real PostgreSQL and MariaDB servers: a sequence of change batches
gives exactly the table a row-by-row replay gives; a process killed between commits and replayed
from the start applies no change twice (an update trigger counts the updates each row received)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from arrowtail.exceptions import SinkError
from tests.batches import make_batch
from tests.integration.dbsink_cases import (
    HITS_AFTER_B3,
    HITS_AFTER_B5,
    NAMES,
    batches,
    last_pos,
    reference,
)
from tests.integration.dbsink_child import make_sink, position

ROOT = Path(__file__).resolve().parents[2]
TABLE = "shop.items"


class PgTarget:
    engine = "postgres"

    def __init__(self, server):
        self.server = server
        self.params = {"dsn": server.dsn}

    def execute(self, *statements: str) -> list:
        with self.server.connect() as conn:
            out = []
            for s in statements:
                cur = conn.execute(s)
                out = cur.fetchall() if cur.description else out
            return out

    def reset(self) -> None:
        self.execute(
            "DROP SCHEMA IF EXISTS shop CASCADE",
            "DROP TABLE IF EXISTS arrowtail_state",
            "CREATE SCHEMA shop",
            "CREATE TABLE shop.items (id bigint PRIMARY KEY, name text, note text,"
            " price numeric(10,2), n integer, ts timestamptz, blob bytea,"
            " hits integer NOT NULL DEFAULT 0)",
            "CREATE FUNCTION shop.count_hits() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN NEW.hits := OLD.hits + 1; RETURN NEW; END $$",
            "CREATE TRIGGER count_hits BEFORE UPDATE ON shop.items FOR EACH ROW"
            " EXECUTE FUNCTION shop.count_hits()",
        )

    def rows(self, table: str = "shop.items", cols: list[str] = NAMES) -> dict:
        got = self.execute(f"SELECT {', '.join(cols)}, hits FROM {table} ORDER BY 1")
        return {r[0]: dict(zip([*cols, "hits"], r, strict=True)) for r in got}


class MariaTarget:
    engine = "mysql"

    def __init__(self, server):
        self.server = server
        self.params = {
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": server.password,
            "database": server.database,
        }

    def execute(self, *statements: str) -> list:
        conn = self.server.connect(database=self.server.database)
        try:
            out: list = []
            with conn.cursor() as cur:
                for s in statements:
                    cur.execute(s)
                    out = list(cur.fetchall()) if cur.description else out
            return out
        finally:
            conn.close()

    def reset(self) -> None:
        self.execute(
            "DROP DATABASE IF EXISTS shop",
            "DROP TABLE IF EXISTS arrowtail_state",
            "CREATE DATABASE shop",
            "CREATE TABLE shop.items (id BIGINT PRIMARY KEY, name LONGTEXT, note LONGTEXT,"
            " price DECIMAL(10,2), n INT, ts DATETIME(6), `blob` LONGBLOB,"
            " hits INT NOT NULL DEFAULT 0) ENGINE=InnoDB",
            "CREATE TRIGGER shop.count_hits BEFORE UPDATE ON shop.items FOR EACH ROW"
            " SET NEW.hits = OLD.hits + 1",
        )

    def rows(self, table: str = "shop.items", cols: list[str] = NAMES) -> dict:
        quoted = ", ".join(f"`{c}`" for c in cols)
        got = self.execute(f"SELECT {quoted}, hits FROM {table} ORDER BY 1")
        out = {}
        for r in got:
            row = dict(zip([*cols, "hits"], r, strict=True))
            if isinstance(row.get("ts"), dt.datetime):
                row["ts"] = row["ts"].replace(tzinfo=dt.timezone.utc)
            out[r[0]] = row
        return out


@pytest.fixture(params=["postgres", "mariadb"])
def target(request):
    server = request.getfixturevalue(request.param)
    t = PgTarget(server) if request.param == "postgres" else MariaTarget(server)
    t.reset()
    return t


def _source(t) -> str:
    return "postgres" if t.engine == "postgres" else "mysql"


def _apply(t, batch_list, sink_name="arrowtail") -> None:
    sink = make_sink(t.engine, {**t.params, "sink_name": sink_name})
    sink.open()
    try:
        for b in batch_list:
            sink.write(TABLE, 1, b)
            sink.commit(position(t.engine, last_pos(b)))
    finally:
        sink.close()


def _expect(t, batch_list, hits) -> None:
    want = reference(batch_list)
    got = t.rows()
    assert sorted(got) == sorted(want)
    for key, row in got.items():
        assert {c: row[c] for c in NAMES} == want[key], f"row {key}"
    assert {k: r["hits"] for k, r in got.items()} == hits


def test_sequence_of_batches_matches_row_by_row_replay(target):
    bs = batches(TABLE, _source(target))
    _apply(target, bs[:3])
    _expect(target, bs[:3], HITS_AFTER_B3)
    _apply(target, bs[3:])
    _expect(target, bs, HITS_AFTER_B5)
    sink = make_sink(target.engine, target.params)
    assert sink.open() == position(target.engine, 1800)
    sink.close()


def _wait_for_line(proc: subprocess.Popen, want: str, deadline: float) -> list[str]:
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.startswith(want):
            return lines
    raise AssertionError(f"child never said {want!r}: {lines}; stderr: {proc.stderr.read()}")


def test_killed_between_commits_then_replayed_applies_each_change_once(target, tmp_path):
    bs = batches(TABLE, _source(target))
    path = tmp_path / "batches.arrow"
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, bs[0].schema) as w:
        for b in bs[:3]:
            w.write_batch(b)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.dbsink_child",
            target.engine,
            json.dumps(target.params),
            str(path),
            "2",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        lines = _wait_for_line(proc, "written", time.monotonic() + 60)
        assert lines == ["committed 1000", "committed 1300", "written"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # Only the two committed batches are visible, with the position of the second.
    _expect(target, bs[:2], {1: 1, 2: 1, 4: 1, 5: 0, 6: 0})
    sink = make_sink(target.engine, target.params)
    assert sink.open() == position(target.engine, 1300)
    sink.close()
    # Replaying from the very start applies B3 once and nothing of B1, B2 again.
    _apply(target, bs[:3])
    _expect(target, bs[:3], HITS_AFTER_B3)
    _apply(target, bs[:3])
    _expect(target, bs[:3], HITS_AFTER_B3)


def test_uncommitted_writes_are_rolled_back_on_close(target):
    bs = batches(TABLE, _source(target))
    _apply(target, bs[:1])
    sink = make_sink(target.engine, target.params)
    sink.open()
    sink.write(TABLE, 1, bs[1])
    sink.close()
    _expect(target, bs[:1], {i: 0 for i in range(1, 6)})


def test_missing_target_column_is_reported_by_name(target):
    target.execute("ALTER TABLE shop.items DROP COLUMN note")
    sink = make_sink(target.engine, target.params)
    sink.open()
    with pytest.raises(SinkError, match="missing column.*note"):
        sink.write(TABLE, 1, batches(TABLE, _source(target))[0])
    sink.close()


def test_missing_table_is_reported_without_create_tables(target):
    sink = make_sink(target.engine, target.params)
    sink.open()
    with pytest.raises(SinkError, match="shop.absent.*does not exist"):
        sink.write("shop.absent", 1, batches("shop.absent", _source(target))[0])
    sink.close()


def test_unrepresentable_value_names_the_column(target):
    if target.engine == "postgres":
        cols, value = [("id", pa.int64()), ("name", pa.string())], "nul\x00byte"
    else:
        cols, value = [("id", pa.int64()), ("name", pa.float64())], math.nan
    batch = make_batch(
        cols,
        [{"_op": "c", "_pos": 1, "_seq": 0, "id": 1, "name": value}],
        table="shop.odd",
        source=_source(target),
    )
    sink = make_sink(target.engine, target.params)
    sink.create_tables = True
    sink.open()
    with pytest.raises(SinkError, match="column name"):
        sink.write("shop.odd", 1, batch)
    sink.close()


def test_stored_position_never_goes_back(target):
    bs = batches(TABLE, _source(target))
    _apply(target, bs[:3])
    sink = make_sink(target.engine, target.params)
    assert sink.open() == position(target.engine, 1400)
    sink.write(TABLE, 1, bs[1])  # already applied: skipped entirely
    sink.commit(position(target.engine, 1300))
    assert sink.durable_position() == position(target.engine, 1400)
    sink.close()
    sink = make_sink(target.engine, target.params)
    assert sink.open() == position(target.engine, 1400)
    sink.close()
    _expect(target, bs[:3], HITS_AFTER_B3)
