"""``arrowtail run`` into Kafka with ``exactly_once=true`` under a steady PostgreSQL workload:

- the broker stopped mid-stream and started again: the run stalls (alive, its position frozen,
  the slot not acknowledged past it) and continues by itself; a ``read_committed`` consumer sees
  every change exactly once and the replay equals the source table;
- a second run with the same ``transactional_id`` fences the first, which stops with one clear
  error line; a run that resumes the fenced one's position completes its topic without a
  duplicate or a gap, which proves the position it stored matched its committed messages.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from arrowtail.sinks.kafka.transactions import read_stored_position
from tests.support.chaos import settled, start_arrowtail, wait_for
from tests.support.cli import assert_one_clear_line
from tests.support.kafka_exactly_once import assert_exactly_once, assert_transactions_counted_once
from tests.support.kafka_topics import create_topic
from tests.support.pg_run import create_database

SCHEMA = "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, s text)"


def slot_confirmed(conn: Any, slot: str) -> int:
    row = conn.execute(
        "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    return int(row[0])


class Workload:
    """Small transactions (inserts, an update, a delete) on a thread until stopped, at most
    ``rate`` a second (so that a slow machine's runs can catch up in the end)."""

    def __init__(self, postgres: Any, db: str, rate: float = 100.0) -> None:
        self.postgres, self.db, self.rate = postgres, db, rate
        self.done = 0
        self.failure: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="workload", daemon=True)

    def _work(self) -> None:
        try:
            with self.postgres.connect(dbname=self.db) as w:
                i = 0
                while not self._stop.wait(1 / self.rate):
                    i += 1
                    with w.transaction():
                        w.execute(
                            "INSERT INTO t SELECT g, g, 'r' || g "
                            "FROM generate_series(%s::int, %s::int) g",
                            (i * 10, i * 10 + 9),
                        )
                        w.execute("UPDATE t SET v = v + 1 WHERE id = %s", (i * 10 - 5,))
                        w.execute("DELETE FROM t WHERE id = %s", (i * 10 - 13,))
                    self.done = i
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.failure.append(exc)

    def written(self) -> int:
        """Transactions committed so far (a failed workload fails the test)."""
        assert not self.failure, self.failure
        return self.done

    @contextmanager
    def running(self) -> Iterator[Workload]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=60)
        assert not self.failure, self.failure


def source_rows(conn: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    cur = conn.execute("SELECT * FROM t")
    names = [d.name for d in cur.description]
    return {"public.t": {(r[0],): dict(zip(names, r, strict=True)) for r in cur}}


def run_args(postgres: Any, db: str, slot: str, to: str) -> list[str]:
    source = postgres.dsn_for(postgres.user, None, db)
    return ["run", "--source", source, "--slot", slot, "--publication", "eos_pub", "--to", to]


@pytest.mark.parametrize(
    "options",
    [
        "",
        # The messages sent while the broker is away time out: the commit fails, the
        # transaction is aborted (its producer replaced if the abort makes no progress) and
        # its changes go again in a new one, with Debezium's transaction metadata, which must
        # count them once.
        "&producer.message.timeout.ms=3000&transaction_metadata=true",
    ],
    ids=["broker-back-in-time", "messages-time-out"],
)
def test_broker_restart_stalls_then_continues_exactly_once(
    postgres: Any, kafka: Any, tmp_path: Path, options: str
) -> None:
    db = f"kafka_eos_outage{len(options)}"
    slot = f"{db}_slot"
    create_database(postgres, db, SCHEMA, publication="eos_pub")
    conn = postgres.connect(dbname=db)
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    prefix = f"ko{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 3)
    cp = tmp_path / "checkpoint.json"
    to = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&exactly_once=true{options}"
    args = [*run_args(postgres, db, slot, to), "--checkpoint", str(cp), "--idle-exit", "4"]

    def stored() -> int:
        """The position of the last Kafka commit, as the pipeline copied it to the file."""
        return int(json.loads(cp.read_text())["position"]["end_lsn"]) if cp.exists() else 0

    work = Workload(postgres, db)
    with work.running():
        run = start_arrowtail(args, dict(os.environ), tmp_path, "run")
        wait_for(lambda: stored() > 0 and work.written() > 50, "the first commits", 120)
        kafka.stop()
        try:
            down = time.monotonic()
            before = work.written()
            at_stop = settled(stored, "the checkpoint after the stop")
            assert work.written() > before, "the workload stalled with the broker"
            more = work.written()
            wait_for(lambda: work.written() > more + 150, "more changes while down", 120)
            quiet_until = time.monotonic() + 3.0
            wait_for(lambda: time.monotonic() > quiet_until, "three more seconds down", 10)
            if options:
                # Away for longer than the messages' timeout.
                wait_for(lambda: time.monotonic() > down + 8, "the messages to time out", 30)
            assert run.proc.poll() is None, run.output()
            assert stored() == at_stop
            assert slot_confirmed(conn, slot) <= at_stop
        finally:
            kafka.start()
        after = work.written()
        wait_for(lambda: stored() > at_stop, "a commit after the restart", 180)
        wait_for(lambda: work.written() > after + 100, "changes after the restart", 120)
    assert run.wait(timeout=300) == 0, run.output()
    if options:
        # Messages sent while the broker was away timed out and their transaction went again;
        # or, when the broker went away with everything sent and the commit under way, the
        # commit waited for it, and nothing was sent meanwhile to time out.
        output = run.output()
        assert "Kafka transaction aborted" in output or "Kafka commit took" in output, output
    position = read_stored_position(kafka.bootstrap, f"{prefix}.arrowtail-offsets", "arrowtail")
    assert position is not None and position["end_lsn"] == stored()
    assert slot_confirmed(conn, slot) <= stored()

    source = source_rows(conn)
    counts = assert_exactly_once(kafka.bootstrap, [topic], source, {})
    assert len(source["public.t"]) > 2000
    if "transaction_metadata" in options:
        counted = assert_transactions_counted_once(
            kafka.bootstrap, [topic], f"{prefix}.transaction"
        )
        assert counted == work.written(), (counted, work.written())
    assert max(change[-3] for change in counts) <= position["lsn"]
    conn.close()


def test_a_second_run_with_the_same_transactional_id_fences_the_first(
    postgres: Any, kafka: Any, tmp_path: Path
) -> None:
    db = "kafka_eos_fence"
    create_database(postgres, db, SCHEMA, publication="eos_pub")
    conn = postgres.connect(dbname=db)
    for slot in ("fence_a", "fence_b"):
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    prefix = f"kf{uuid.uuid4().hex[:8]}"
    shared = f"{prefix}-shared-id"

    def to(name: str) -> str:
        return (
            f"kafka://{kafka.bootstrap}?topic_prefix={prefix}{name}&exactly_once=true"
            f"&transactional_id={shared}"
        )

    topics = {name: f"{prefix}{name}.public.t" for name in "ab"}
    for topic in topics.values():
        create_topic(kafka.bootstrap, topic, 3)

    def stored(name: str) -> Any:
        offsets = f"{prefix}{name}.arrowtail-offsets"
        return read_stored_position(kafka.bootstrap, offsets, "arrowtail")

    env = dict(os.environ)
    work = Workload(postgres, db)
    with work.running():
        first = start_arrowtail(
            [*run_args(postgres, db, "fence_a", to("a")), "--idle-exit", "600"], env, tmp_path, "a"
        )
        wait_for(lambda: stored("a") is not None and work.written() > 30, "run a to commit", 120)
        second = start_arrowtail(
            [*run_args(postgres, db, "fence_b", to("b")), "--idle-exit", "3"], env, tmp_path, "b"
        )
        # The first run's next transactional step finds itself fenced: it stops at once.
        code = first.wait(timeout=120)
        line = assert_one_clear_line(code, first.output(), "no password", "Kafka producer fenced")
        assert shared in line
        assert code == 3
        assert second.proc.poll() is None, second.output()
        wait_for(lambda: stored("b") is not None, "run b to commit", 120)
    assert second.wait(timeout=120) == 0, second.output()

    # Resuming what the fenced run stored completes its topic: no duplicate, no gap.
    resumed = start_arrowtail(
        [*run_args(postgres, db, "fence_a", to("a")), "--idle-exit", "3"], env, tmp_path, "c"
    )
    assert resumed.wait(timeout=120) == 0, resumed.output()
    source = source_rows(conn)
    assert len(source["public.t"]) > 300
    for name, topic in topics.items():
        counts = assert_exactly_once(kafka.bootstrap, [topic], source, {})
        assert max(change[-3] for change in counts) <= stored(name)["lsn"]
    conn.close()
