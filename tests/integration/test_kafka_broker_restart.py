"""Broker outage in a running PostgreSQL -> Kafka pipeline: ``arrowtail run`` streams a steady
workload; the broker is stopped mid-stream and started again. While it is down the run stalls
(stays alive, its checkpoint does not move, the slot is not acknowledged past the checkpoint).
Then either the broker comes back and the run continues by itself, or the run is SIGKILLed while
the broker is away (everything still in its local queue is lost with it) and a new run resumes
from the checkpoint. Either way, in the end the topics, deduplicated by ``(_pos, _seq)`` and
applied by key, equal the source table: a checkpoint that covered a queued message would lose
rows in the second case. (tests/integration/test_kafka_sink.py covers the same outage at the sink
level.)"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.chaos import settled, start_arrowtail, wait_for
from tests.support.kafka_topics import consume_until_quiet, create_topic, debezium_images
from tests.support.pg_run import create_database
from tests.support.replay import assert_tables_equal

DB = "kafka_outage"
SLOT = "kafka_outage_slot"


def slot_confirmed(conn: Any, slot: str) -> int:
    row = conn.execute(
        "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    return int(row[0])


@pytest.mark.parametrize("outcome", ["continues", "killed-while-down"])
def test_broker_restart_stalls_then_continues_losing_nothing(
    postgres: Any, kafka: Any, tmp_path: Path, outcome: str
) -> None:
    db = f"{DB}_{outcome[0]}"
    slot = f"{SLOT}_{outcome[0]}"
    schema = "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, s text)"
    create_database(postgres, db, schema, publication="outage_pub")
    conn = postgres.connect(dbname=db)
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    prefix = f"ko{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 3)
    cp = tmp_path / "checkpoint.json"

    # A steady workload of small transactions: inserts, updates and deletes.
    stop = threading.Event()
    done = [0]
    failure: list[BaseException] = []

    def work() -> None:
        try:
            with postgres.connect(dbname=db) as w:
                i = 0
                while not stop.is_set():
                    i += 1
                    with w.transaction():
                        w.execute(
                            "INSERT INTO t SELECT g, g, 'r' || g "
                            "FROM generate_series(%s::int, %s::int) g",
                            (i * 10, i * 10 + 9),
                        )
                        w.execute("UPDATE t SET v = v + 1 WHERE id = %s", (i * 10 - 5,))
                        w.execute("DELETE FROM t WHERE id = %s", (i * 10 - 13,))
                    done[0] = i
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="workload", daemon=True)
    worker.start()
    args = [
        "run",
        "--source",
        postgres.dsn_for(postgres.user, None, db),
        "--slot",
        slot,
        "--publication",
        "outage_pub",
        "--to",
        f"kafka://{kafka.bootstrap}?topic_prefix={prefix}",
        "--checkpoint",
        str(cp),
        "--idle-exit",
        "4",
    ]
    run = start_arrowtail(args, dict(os.environ), tmp_path, "run")

    def written() -> int:
        """Transactions the workload committed so far (a failed workload fails the test)."""
        assert not failure, failure
        return done[0]

    def stored() -> int:
        return int(json.loads(cp.read_text())["position"]["end_lsn"]) if cp.exists() else 0

    try:
        wait_for(lambda: stored() > 0 and written() > 50, "the first delivered changes", 120)
        kafka.stop()
        try:
            # Down: once the reports of what was in flight at the stop are in and saved, nothing
            # more can be delivered, so nothing more may be checkpointed or acknowledged, while
            # the source keeps committing and the run stays alive.
            before = written()
            at_stop = settled(stored, "the checkpoint after the stop")
            assert written() > before, "the workload stalled with the broker"
            more = written()
            wait_for(
                lambda: written() > more + 150,
                "more changes while it is down",
                120,
            )
            # Several more checkpoint intervals while the source keeps committing.
            quiet_until = time.monotonic() + 3.0
            wait_for(lambda: time.monotonic() > quiet_until, "three more seconds down", 10)
            assert run.proc.poll() is None, run.output()
            assert stored() == at_stop
            assert slot_confirmed(conn, slot) <= at_stop
            if outcome == "killed-while-down":
                run.kill()
        finally:
            kafka.start()
        if outcome == "killed-while-down":
            run = start_arrowtail(args, dict(os.environ), tmp_path, "resumed")
        after = written()
        try:
            wait_for(lambda: stored() > at_stop, "the checkpoint to move after the restart", 180)
        except AssertionError as exc:
            state = "alive" if run.proc.poll() is None else f"ended with {run.proc.returncode}"
            raise AssertionError(f"{exc}; the run is {state}:\n{run.output()}") from None
        wait_for(lambda: written() > after + 100, "changes after the restart", 120)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failure, failure
    assert run.wait(timeout=300) == 0, run.output()
    assert slot_confirmed(conn, slot) <= stored()

    cur = conn.execute("SELECT * FROM t")
    names = [d.name for d in cur.description]
    want = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
    images, _ = debezium_images(consume_until_quiet(kafka.bootstrap, topic, quiet=3.0))
    assert_tables_equal(images.get("public.t", {}), want, "public.t")
    assert len(want) > 2000
    conn.close()
