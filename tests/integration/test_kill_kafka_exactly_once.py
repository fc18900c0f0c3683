"""kill -9 loop, PostgreSQL -> Kafka with ``exactly_once=true``: the workload of
tests/support/kill_pg.py runs while ``arrowtail run`` (no ``--checkpoint``: the position lives
in the Kafka offsets topic) is SIGKILLed at seeded random moments, nine times; then runs are
killed while their Kafka transaction of a 25k-row source transaction is open, and a last clean
``--idle-exit`` run catches up. A ``read_committed`` consumer must see every change exactly once
(no ``(_pos, _seq)`` twice, nothing missing: the replay equals ``SELECT *``), while the log holds
aborted data a ``read_uncommitted`` consumer does see. The slot is never acknowledged past the
position stored in Kafka.

Soak (longer, not in CI)::

    ARROWTAIL_SOAK_KILLS=100 ARROWTAIL_SOAK_ROUNDS=500 ARROWTAIL_SOAK_SEED=7 \\
        pytest tests/integration/test_kill_kafka_exactly_once.py -x
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arrowtail.sinks.kafka.transactions import read_stored_position
from tests.support.chaos import soak_rounds, start_arrowtail, workload_kill_loop
from tests.support.kafka_exactly_once import (
    assert_exactly_once,
    change_counts,
    kill_inside_transaction,
    read_to_end,
)
from tests.support.kafka_topics import create_topic
from tests.support.kill_pg import kill_database, source_tables, workload_round

DB = "kill_kafka_eos"
SLOT = "kill_kafka_eos_slot"
ROUNDS = soak_rounds(24)
#: Rows of each large source transaction a run is killed in the middle of.
BIG = 25_000
PARSE = {"ts": dt.datetime.fromisoformat, "amount": Decimal}


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[Any]:
    yield from kill_database(postgres, DB, "kill_kafka_eos_pub", SLOT)


def test_sigkill_loop_into_kafka_transactions_delivers_each_change_once(
    postgres: Any, kafka: Any, database: Any, tmp_path: Path
) -> None:
    prefix = f"ke{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}.public.accounts", f"{prefix}.public.events"]
    for topic in topics:
        create_topic(kafka.bootstrap, topic, 3)
    offsets = f"{prefix}.arrowtail-offsets"
    env = dict(os.environ, RUN_PG_PASSWORD=postgres.app_password)
    database.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))

    def args(*extra: str) -> list[str]:
        return [
            "run",
            "--source",
            postgres.capture_dsn(DB),
            "--password-env",
            "RUN_PG_PASSWORD",
            "--to",
            f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&exactly_once=true",
            "--slot",
            SLOT,
            "--publication",
            "kill_kafka_eos_pub",
            *extra,
        ]

    def stored() -> Any:
        return read_stored_position(kafka.bootstrap, offsets, "arrowtail")

    def start(i: int) -> Any:
        return start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"k{i}")

    work_conn = postgres.connect(dbname=DB)
    try:
        workload_kill_loop(
            lambda r: workload_round(work_conn, r),
            ROUNDS,
            start,
            lambda: json.dumps(stored()),
            20261202,
            kills=9,
            min_killed=9,
            low=1.5,
            high=4.0,
        )

        def big_then_start(i: int) -> Any:
            first = 10_000_000 + i * BIG
            work_conn.execute(
                "INSERT INTO events SELECT g, g %% 5, 'big', g / 3.0 "
                "FROM generate_series(%s::bigint, %s::bigint) g",
                (first, first + BIG - 1),
            )
            return start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"big{i}")

        kill_inside_transaction(big_then_start, kafka.bootstrap, topics)
    finally:
        work_conn.close()

    final = start_arrowtail(args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert postgres.app_password not in final.output()

    # Never acknowledged past the position stored with the messages.
    position = stored()
    flushed = database.execute(
        "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (SLOT,),
    ).fetchone()[0]
    assert 0 < int(flushed) <= position["end_lsn"]

    counts = assert_exactly_once(kafka.bootstrap, topics, source_tables(database), PARSE)
    # About 2000 changes a round, plus the large transaction(s).
    assert sum(counts.values()) >= 1800 * ROUNDS + BIG, sum(counts.values())
    # The stored position covers exactly what the committed messages hold.
    assert max(change[-3] for change in counts) <= position["lsn"]
    # The kills left aborted transactions behind: read_uncommitted sees them, as duplicates.
    everything = change_counts(read_to_end(kafka.bootstrap, topics, committed=False))
    assert sum(everything.values()) > sum(counts.values())
    assert set(everything) == set(counts)
