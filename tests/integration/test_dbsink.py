"""The database sinks against real PostgreSQL and MariaDB servers: a sequence of change batches
gives exactly the table a row-by-row replay gives; a process killed between commits and replayed
from the start applies no change twice (an update trigger counts the updates each row received)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from arrowtail.exceptions import SinkError
from tests.support.batches import make_batch
from tests.support.changegen import random_stream, reference, stream_batches
from tests.support.dbsink_cases import (
    COLUMNS,
    HITS_AFTER_B3,
    HITS_AFTER_B5,
    batches,
    last_pos,
)
from tests.support.dbsink_child import make_sink, position
from tests.support.dbsink_targets import (
    TABLE,
    MariaTarget,
    PgTarget,
    apply_batches,
    expect_rows,
    source_kind,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["postgres", "mariadb"])
def target(request):
    server = request.getfixturevalue(request.param)
    t = PgTarget(server) if request.param == "postgres" else MariaTarget(server)
    t.reset()
    return t


def test_sequence_of_batches_matches_row_by_row_replay(target):
    bs = batches(TABLE, source_kind(target))
    apply_batches(target, bs[:3])
    expect_rows(target, bs[:3], HITS_AFTER_B3)
    apply_batches(target, bs[3:])
    expect_rows(target, bs, HITS_AFTER_B5)
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
    bs = batches(TABLE, source_kind(target))
    path = tmp_path / "batches.arrow"
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, bs[0].schema) as w:
        for b in bs[:3]:
            w.write_batch(b)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.dbsink_child",
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
    expect_rows(target, bs[:2], {1: 1, 2: 1, 4: 1, 5: 0, 6: 0})
    sink = make_sink(target.engine, target.params)
    assert sink.open() == position(target.engine, 1300)
    sink.close()
    # Replaying from the very start applies B3 once and nothing of B1, B2 again.
    apply_batches(target, bs[:3])
    expect_rows(target, bs[:3], HITS_AFTER_B3)
    apply_batches(target, bs[:3])
    expect_rows(target, bs[:3], HITS_AFTER_B3)


def test_uncommitted_writes_are_rolled_back_on_close(target):
    bs = batches(TABLE, source_kind(target))
    apply_batches(target, bs[:1])
    sink = make_sink(target.engine, target.params)
    sink.open()
    sink.write(TABLE, 1, bs[1])
    sink.close()
    expect_rows(target, bs[:1], {i: 0 for i in range(1, 6)})


def test_missing_target_column_is_reported_by_name(target):
    target.execute("ALTER TABLE sinktest.items DROP COLUMN note")
    sink = make_sink(target.engine, target.params)
    sink.open()
    with pytest.raises(SinkError, match="missing column.*note"):
        sink.write(TABLE, 1, batches(TABLE, source_kind(target))[0])
    sink.close()


def test_missing_table_is_reported_without_create_tables(target):
    sink = make_sink(target.engine, target.params)
    sink.open()
    with pytest.raises(SinkError, match="sinktest.absent.*does not exist"):
        sink.write("sinktest.absent", 1, batches("sinktest.absent", source_kind(target))[0])
    sink.close()


def test_unrepresentable_value_names_the_column(target):
    if target.engine == "postgres":
        cols, value = [("id", pa.int64()), ("name", pa.string())], "nul\x00byte"
    else:
        cols, value = [("id", pa.int64()), ("name", pa.float64())], math.nan
    batch = make_batch(
        cols,
        [{"_op": "c", "_pos": 1, "_seq": 0, "id": 1, "name": value}],
        table="sinktest.odd",
        source=source_kind(target),
    )
    sink = make_sink(target.engine, target.params)
    sink.create_tables = True
    sink.open()
    with pytest.raises(SinkError, match="column name"):
        sink.write("sinktest.odd", 1, batch)
    sink.close()


def test_stored_position_never_goes_back(target):
    bs = batches(TABLE, source_kind(target))
    apply_batches(target, bs[:3])
    sink = make_sink(target.engine, target.params)
    assert sink.open() == position(target.engine, 1400)
    sink.write(TABLE, 1, bs[1])  # already applied: skipped entirely
    sink.commit(position(target.engine, 1300))
    assert sink.durable_position() == position(target.engine, 1400)
    sink.close()
    sink = make_sink(target.engine, target.params)
    assert sink.open() == position(target.engine, 1400)
    sink.close()
    expect_rows(target, bs[:3], HITS_AFTER_B3)


def test_mariadb_applies_a_large_batch_in_a_few_statements(mariadb):
    target = MariaTarget(mariadb)
    target.reset()
    rows = [{"_op": "c", "_pos": 10, "_seq": i, "id": i, "name": f"n{i}"} for i in range(3000)]
    rows += [{"_op": "d", "_pos": 20, "_seq": i, "id": i} for i in range(0, 3000, 2)]
    batch = make_batch(COLUMNS, rows, table=TABLE, source="mysql")

    def counters() -> dict[str, int]:
        got = target.execute(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_insert', 'Com_delete')"
        )
        return {name: int(value) for name, value in got}

    before = counters()
    sink = make_sink("mysql", target.params)
    sink.open()
    sink.write(TABLE, 1, batch)
    sink.commit(position("mysql", 20))
    sink.close()
    after = counters()
    inserts = after["Com_insert"] - before["Com_insert"]
    deletes = after["Com_delete"] - before["Com_delete"]
    # 1500 surviving rows and 1500 deleted keys (inserted and deleted in the same batch).
    assert 1 <= inserts <= 5 and 1 <= deletes <= 3, (inserts, deletes)
    assert sorted(target.rows()) == list(range(1, 3000, 2))


def test_postgres_failed_write_refuses_commit_until_reopened(postgres):
    target = PgTarget(postgres)
    target.reset()
    target.execute("ALTER TABLE sinktest.items ADD CONSTRAINT n_positive CHECK (n >= 0)")
    bad = make_batch(COLUMNS, [{"_op": "c", "_pos": 5, "_seq": 0, "id": 1, "n": -1}], table=TABLE)
    bs = batches(TABLE, "postgres")
    sink = make_sink("postgres", target.params)
    sink.open()
    sink.write(TABLE, 1, bs[0])
    with pytest.raises(SinkError, match="n_positive"):
        sink.write(TABLE, 1, bad)
    # The failed write took bs[0] with it: committing a position now would lose it for good.
    with pytest.raises(SinkError, match="earlier write failed"):
        sink.commit(position("postgres", 1000))
    assert sink.open() is None
    for b in bs[:3]:
        sink.write(TABLE, 1, b)
        sink.commit(position("postgres", last_pos(b)))
    sink.close()
    expect_rows(target, bs[:3], HITS_AFTER_B3)


def test_table_map_sends_a_source_table_to_another_target_table(target):
    bs = batches("app.products", source_kind(target))
    # A mapping names an existing table...
    sink = make_sink(target.engine, target.params)
    sink.table_map = {"app.products": TABLE}
    sink.open()
    for b in bs[:3]:
        sink.write("app.products", 1, b)
        sink.commit(position(target.engine, last_pos(b)))
    sink.close()
    expect_rows(target, bs[:3], HITS_AFTER_B3)
    # ...a callable computes the name; create_tables makes the table.
    sink = make_sink(target.engine, {**target.params, "sink_name": "mapped"})
    sink.table_map = lambda name: "sinktest." + name.split(".")[1]
    sink.create_tables = True
    sink.open()
    for b in bs[:3]:
        sink.write("app.products", 1, b)
        sink.commit(position(target.engine, last_pos(b)))
    sink.close()
    got = target.execute("SELECT id FROM sinktest.products ORDER BY id")
    assert [r[0] for r in got] == [1, 2, 4, 5, 6]


@pytest.mark.parametrize("seed", range(4))
def test_random_streams_in_random_batches_end_as_the_replay(target, seed):
    table = "sinktest.rnd"
    txns = random_stream(seed, changes=150)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(txns)), k=min(len(txns) - 1, 5)))
    kind = source_kind(target)
    sink = make_sink(target.engine, {**target.params, "sink_name": f"rnd{seed}"})
    sink.create_tables = True
    sink.open()
    for b in stream_batches(txns, cuts, table=table, source=kind):
        sink.write(table, 1, b)
        sink.commit(position(target.engine, last_pos(b)))
    sink.close()
    got = {r[0]: tuple(r) for r in target.execute("SELECT id, a, b FROM sinktest.rnd")}
    assert got == reference(txns)
