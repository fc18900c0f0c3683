"""kill -9 loop, MariaDB -> Kafka with ``exactly_once=true``: the workload of
tests/support/kill_mariadb.py runs while ``arrowtail run`` (as the least-privilege capture user)
is SIGKILLed at seeded random moments, nine times; then runs are killed while their Kafka
transaction of a 25k-row source transaction is open, and a last clean ``--idle-exit`` run catches
up, its ``--checkpoint`` file set back to the first run's position: the position stored in Kafka
wins. A ``read_committed`` consumer must see every change exactly once (no binlog position and
``seq`` twice, the replay equals ``SELECT *``), and Debezium's transaction metadata once per
transaction with the counts of what it sees; a ``read_uncommitted`` one also sees the aborted
duplicates.

MySQL keeps no replica position: the first run stores one before the kill loop starts (otherwise
a killed first run would restart at the binlog's end).

Soak (longer, not in CI)::

    ARROWTAIL_SOAK_KILLS=100 ARROWTAIL_SOAK_ROUNDS=500 ARROWTAIL_SOAK_SEED=7 \\
        pytest tests/integration/test_kill_mariadb_kafka_exactly_once.py -x
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

from arrowtail.sinks.kafka.transactions import read_stored_position
from tests.support.chaos import (
    position_first_run,
    soak_rounds,
    start_arrowtail,
    workload_kill_loop,
)
from tests.support.kafka_exactly_once import (
    assert_exactly_once,
    assert_transactions_counted_once,
    change_counts,
    kill_inside_transaction,
    read_to_end,
)
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

ROUNDS = soak_rounds(24)
#: Rows of each large source transaction a run is killed in the middle of.
BIG = 25_000


@pytest.fixture(scope="module")
def database(mariadb: Any) -> Iterator[Any]:
    yield from kill_database(mariadb)


def test_sigkill_loop_mariadb_into_kafka_transactions_delivers_each_change_once(
    mariadb: Any, kafka: Any, database: Any, tmp_path: Path
) -> None:
    prefix = f"me{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}.{DB}.accounts", f"{prefix}.{DB}.events"]
    for topic in topics:
        create_topic(kafka.bootstrap, topic, 3)
    offsets = f"{prefix}.arrowtail-offsets"
    cp = tmp_path / "checkpoint.json"
    env = capture_env(mariadb)

    def args(*extra: str) -> list[str]:
        to = (
            f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&exactly_once=true"
            "&transaction_metadata=true"
        )
        return capture_args(mariadb, to, TABLES, "--checkpoint", str(cp), *extra)

    def stored() -> Any:
        return read_stored_position(kafka.bootstrap, offsets, "arrowtail")

    position_first_run(
        args("--idle-exit", "600"),
        env,
        tmp_path,
        partial(touch_marker, database),
        lambda: stored() is not None,
    )
    first_position = stored()

    work_conn = mariadb.connect(database=DB)

    def start(i: int) -> Any:
        return start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"k{i}")

    def big_then_start(i: int) -> Any:
        first = 10_000_000 + i * BIG
        with work_conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(
                f"INSERT INTO {DB}.events SELECT seq, seq % 5, 'big' "
                f"FROM seq_{first}_to_{first + BIG - 1}"
            )
            cur.execute("COMMIT")
        return start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"big{i}")

    try:
        workload_kill_loop(
            lambda r: workload_round(work_conn, r),
            ROUNDS,
            start,
            lambda: json.dumps(stored()),
            20261203,
            kills=9,
            min_killed=9,
            low=1.5,
            high=4.0,
        )
        kill_inside_transaction(big_then_start, kafka.bootstrap, topics)
    finally:
        work_conn.close()

    # An older checkpoint file: the position stored in Kafka must win over it.
    cp.write_text(json.dumps({"position": first_position}))
    final = start_arrowtail(args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert mariadb.capture_password not in final.output()
    position = stored()
    assert json.loads(cp.read_text())["position"] == position

    counts = assert_exactly_once(kafka.bootstrap, topics, source_tables(database), {"amt": Decimal})
    assert sum(counts.values()) >= 1900 * ROUNDS + BIG, sum(counts.values())
    # The stored position covers exactly what the committed messages hold.
    assert max(change[-3] for change in counts) <= position["pos"]
    everything = change_counts(read_to_end(kafka.bootstrap, topics, committed=False))
    assert sum(everything.values()) > sum(counts.values())
    assert set(everything) == set(counts)
    # Debezium's transaction metadata, counted in the sink, holds across the kills: each
    # transaction's BEGIN and END once, the END counting what read_committed shows.
    assert assert_transactions_counted_once(kafka.bootstrap, topics, f"{prefix}.transaction") > 0
