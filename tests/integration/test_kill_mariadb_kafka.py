"""kill -9 loop, MariaDB -> Kafka: the workload of tests/support/kill_mariadb.py runs while
``arrowtail run --to kafka://... --checkpoint FILE`` (as the least-privilege capture user) is
SIGKILLed at seeded random moments, at least ten times; a last clean ``--idle-exit`` run catches
up. Delivery is at least once: the topics are read back, duplicates dropped by the Debezium
``source`` position (binlog ``file`` number and ``pos``, then ``seq``), the rest applied by key,
and the result must equal ``SELECT *``.

MySQL keeps no replica position: the checkpoint file is the only record of progress, so the first
run stores one before the kill loop starts (otherwise a killed first run would restart at the
binlog's end and skip what it never stored).

Soak (longer, not in CI)::

    ARROWTAIL_SOAK_KILLS=200 ARROWTAIL_SOAK_ROUNDS=1000 ARROWTAIL_SOAK_SEED=7 \\
        pytest tests/integration/test_kill_mariadb_kafka.py -x
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.chaos import (
    position_first_run,
    soak_rounds,
    start_arrowtail,
    workload_kill_loop,
)
from tests.support.kafka_readback import assert_topics_equal_source
from tests.support.kafka_topics import create_topic
from tests.support.kill_mariadb import (
    DB,
    TABLES,
    kill_database,
    source_tables,
    touch_marker,
    workload_round,
)
from tests.support.mysql_run import capture_args, capture_env

ROUNDS = soak_rounds(105)


@pytest.fixture(scope="module")
def database(mariadb: Any) -> Iterator[Any]:
    """The same database as the Parquet kill loop: ``kill_my``, read by the capture user."""
    yield from kill_database(mariadb)


def test_sigkill_loop_mariadb_into_kafka_loses_nothing(
    mariadb: Any, kafka: Any, database: Any, tmp_path: Path
) -> None:
    prefix = f"mk{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}.{DB}.accounts", f"{prefix}.{DB}.events"]
    for topic in topics:
        create_topic(kafka.bootstrap, topic, 3)
    cp = tmp_path / "checkpoint.json"
    env = capture_env(mariadb)

    def args(*extra: str) -> list[str]:
        to = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}"
        return capture_args(mariadb, to, TABLES, "--checkpoint", str(cp), *extra)

    def progress() -> str | None:
        return cp.read_text() if cp.exists() else None

    # The first run starts at the binlog's end; marker changes until it has stored a position.
    position_first_run(
        args("--idle-exit", "600"),
        env,
        tmp_path,
        partial(touch_marker, database),
        lambda: progress() is not None,
    )

    work_conn = mariadb.connect(database=DB)

    def start(i: int) -> Any:
        return start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"k{i}")

    # A Kafka run stores its first checkpoint a few seconds after start (producer, topic
    # metadata, first poll delivered): delays long enough that kills also land after progress.
    try:
        workload_kill_loop(
            lambda r: workload_round(work_conn, r),
            ROUNDS,
            start,
            progress,
            20261124,
            low=1.5,
            high=5.0,
        )
    finally:
        work_conn.close()

    final = start_arrowtail(args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert mariadb.capture_password not in final.output()
    assert json.loads(cp.read_text())["position"], cp.read_text()

    # Debezium JSON writes decimals as text: parse them back to compare with the driver's values.
    source = source_tables(database)
    changes = assert_topics_equal_source(kafka.bootstrap, topics, source, {"amt": Decimal})
    # About 2000 changes a round (fewer in the first rounds): more than 200k in CI.
    assert changes >= 1900 * ROUNDS, changes
