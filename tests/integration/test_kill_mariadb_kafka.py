"""kill -9 loop, MariaDB -> Kafka: the workload of tests/integration/test_kill_mariadb.py runs while
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
import os
import uuid
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from kafka_topics import consume_until_quiet, create_topic, debezium_images

from tests.integration import test_kill_mariadb
from tests.integration.chaos import (
    soak_rounds,
    start_arrowtail,
    wait_positioned,
    workload_kill_loop,
)
from tests.integration.test_kill_mariadb import DB, source_tables, touch_marker, workload_round
from tests.replay import assert_tables_equal

#: The same module fixture as the Parquet kill loop: database ``kill_my`` read by the capture user.
database = test_kill_mariadb.database

ROUNDS = soak_rounds(105)


def test_sigkill_loop_mariadb_into_kafka_loses_nothing(
    mariadb: Any, kafka: Any, database: Any, tmp_path: Path
) -> None:
    prefix = f"mk{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}.{DB}.accounts", f"{prefix}.{DB}.events"]
    for topic in topics:
        create_topic(kafka.bootstrap, topic, 3)
    cp = tmp_path / "checkpoint.json"
    env = dict(os.environ, RUN_MY_PASSWORD=mariadb.capture_password)

    def args(*extra: str) -> list[str]:
        return [
            "run",
            "--source",
            mariadb.capture_url,
            "--password-env",
            "RUN_MY_PASSWORD",
            "--to",
            f"kafka://{kafka.bootstrap}?topic_prefix={prefix}",
            "--checkpoint",
            str(cp),
            "--tables",
            f"{DB}.accounts,{DB}.events",
            *extra,
        ]

    def progress() -> str | None:
        return cp.read_text() if cp.exists() else None

    # The first run starts at the binlog's end; marker changes until it has stored a position.
    first = start_arrowtail(args("--idle-exit", "600"), env, tmp_path, "first")
    wait_positioned(first, partial(touch_marker, database), lambda: progress() is not None)
    first.kill()

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

    messages = consume_until_quiet(kafka.bootstrap, topics, quiet=3.0)
    images, duplicates = debezium_images(messages)
    for table, rows in source_tables(database).items():
        got = images.get(table, {})
        for row in got.values():
            if row.get("amt") is not None:
                row["amt"] = Decimal(row["amt"])
        assert_tables_equal(got, rows, table)
    changes = sum(1 for m in messages if m.value() is not None) - duplicates
    # About 2000 changes a round (fewer in the first rounds): more than 200k in CI.
    assert changes >= 1900 * ROUNDS, changes
