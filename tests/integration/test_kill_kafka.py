"""kill -9 loop, PostgreSQL -> Kafka: the workload of tests/support/kill_pg.py (more than
200k changes) runs while ``arrowtail run --to kafka://...`` with a checkpoint file is SIGKILLed at
seeded random moments, again and again; a last clean ``--idle-exit`` run then catches up. Kafka
delivery is at least once: the topics are read back, duplicates dropped by ``(_pos, _seq)`` (the
``lsn`` and ``seq`` of each message's ``source`` block), the rest applied by key, and the result
must equal ``SELECT *``. The slot may never be acknowledged past the stored checkpoint. Every
copy of a change names the same last commit in ``source.sequence``, whatever checkpoint (commit or
idle position) the run that sent it resumed from, and only the first transaction names none.

Soak (longer, not in CI)::

    ARROWTAIL_SOAK_KILLS=200 ARROWTAIL_SOAK_ROUNDS=1000 ARROWTAIL_SOAK_SEED=7 \\
        pytest tests/integration/test_kill_kafka.py -x
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

from tests.support.chaos import soak_rounds, start_arrowtail, workload_kill_loop
from tests.support.kafka_readback import assert_sequences_agree, assert_topics_equal_source
from tests.support.kafka_topics import consume_until_quiet, create_topic
from tests.support.kill_pg import kill_database, source_tables, workload_round

DB = "kill_kafka"
SLOT = "kill_kafka_slot"
ROUNDS = soak_rounds(110)
# Debezium JSON writes these as text: parse them back to compare with the driver's values.
PARSE = {"ts": dt.datetime.fromisoformat, "amount": Decimal}


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[Any]:
    yield from kill_database(postgres, DB, "kill_kafka_pub", SLOT)


def test_sigkill_loop_into_kafka_loses_nothing(
    postgres: Any, kafka: Any, database: Any, tmp_path: Path
) -> None:
    prefix = f"kk{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}.public.accounts", f"{prefix}.public.events"]
    for topic in topics:
        create_topic(kafka.bootstrap, topic, 3)
    cp = tmp_path / "checkpoint.json"
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
            f"kafka://{kafka.bootstrap}?topic_prefix={prefix}",
            "--checkpoint",
            str(cp),
            "--slot",
            SLOT,
            "--publication",
            "kill_kafka_pub",
            *extra,
        ]

    def progress() -> str | None:
        return cp.read_text() if cp.exists() else None

    def start(i: int) -> Any:
        return start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"k{i}")

    work_conn = postgres.connect(dbname=DB)
    # A Kafka run stores its first checkpoint only seconds after it starts (producer id, topic
    # metadata and limits, then a first poll of up to 32 MB of backlog delivered and
    # acknowledged): longer delays than for Parquet, so that kills also land after progress.
    try:
        workload_kill_loop(
            lambda r: workload_round(work_conn, r),
            ROUNDS,
            start,
            progress,
            20261125,
            low=2.5,
            high=8.0,
        )
    finally:
        work_conn.close()

    final = start_arrowtail(args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert postgres.app_password not in final.output()

    # Never acknowledged past what the checkpoint says is delivered.
    stored = json.loads(cp.read_text())["position"]["end_lsn"]
    flushed = database.execute(
        "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (SLOT,),
    ).fetchone()[0]
    assert 0 < int(flushed) <= stored

    messages = consume_until_quiet(kafka.bootstrap, topics, quiet=3.0)
    changes = assert_topics_equal_source(
        kafka.bootstrap, topics, source_tables(database), PARSE, messages
    )
    # One big transaction and three single-row updates a round.
    assert assert_sequences_agree(messages) >= 4 * ROUNDS
    # About 2000 changes a round: more than 200k changes in the CI configuration.
    assert changes >= 1800 * ROUNDS, changes
