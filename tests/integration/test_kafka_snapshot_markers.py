"""Debezium's snapshot markers in the events arrowtail writes to Kafka: ``first`` on the first
row of the first table read, ``first_in_data_collection`` / ``last_in_data_collection`` on each
other table's first and last row, ``last`` on the snapshot's very last row, ``true`` on the rest,
with Debezium's precedence where one row is several of these (docs/debezium.md). PostgreSQL with
a parallel snapshot (two readers, tables cut into pieces) and MariaDB, each with an empty table
and a one-row table."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from tests.support.cli import cli
from tests.support.kafka_topics import consume_until_quiet
from tests.support.mysql_run import PASSWORD_ENV
from tests.support.pg_run import drop_slot, fresh_db


def expected_markers(counts: dict[str, int], first: str, last: str) -> dict[tuple[str, int], str]:
    """Debezium's marker of every row, by ``(table, _seq)``: ``first`` wins over
    ``last_in_data_collection``, which wins over ``first_in_data_collection``; ``last`` over
    all."""
    out = {}
    for table, n in counts.items():
        for seq in range(n):
            marker = "true"
            if seq == 0:
                marker = "first" if table == first else "first_in_data_collection"
            if seq == n - 1:
                if not (seq == 0 and table == first):
                    marker = "last_in_data_collection"
                if table == last:
                    marker = "last"
            out[(table, seq)] = marker
    return out


def observed_markers(kafka: Any, prefix: str, ns: str, tables: list[str]) -> dict[Any, str]:
    """``source.snapshot`` of every snapshot event, by ``(table, source.seq)``."""
    out: dict[tuple[str, int], str] = {}
    for table in tables:
        for message in consume_until_quiet(kafka.bootstrap, f"{prefix}.{ns}.{table}", quiet=2):
            payload = json.loads(message.value())["payload"]
            assert payload["op"] == "r", payload
            key = (table, payload["source"]["seq"])
            assert key not in out, key
            out[key] = payload["source"]["snapshot"]
    return out


def _check(observed: dict[Any, str], counts: dict[str, int], first: str) -> None:
    lasts = [key for key, marker in observed.items() if marker == "last"]
    assert len(lasts) == 1, lasts
    last_table = lasts[0][0]
    assert lasts[0][1] == counts[last_table] - 1
    assert observed == expected_markers(counts, first, last_table)


def test_postgres_parallel_snapshot_markers(postgres: Any, kafka: Any, tmp_path: Any) -> None:
    db, slot = "marks_pg", f"marks{uuid.uuid4().hex[:6]}"
    src = fresh_db(postgres, db)
    counts = {"a_many": 230, "b_empty": 0, "c_one": 1, "d_more": 120}
    for table, n in counts.items():
        src.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        src.execute(f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, {n}) g")
    src.execute("CREATE PUBLICATION markspub FOR ALL TABLES")
    prefix = f"mk{uuid.uuid4().hex[:8]}"
    try:
        result = cli(
            "run",
            "--source",
            postgres.dsn_for(postgres.user, None, db),
            "--slot",
            slot,
            "--publication",
            "markspub",
            "--to",
            f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&schemas=true",
            "--checkpoint",
            str(tmp_path / "cp.json"),
            "--snapshot",
            "initial",
            "--snapshot-workers",
            "2",
            "--snapshot-chunk-rows",
            "40",
            "--idle-exit",
            "3",
        )
        assert result.returncode == 0, result.stderr
        observed = observed_markers(kafka, prefix, "public", list(counts))
    finally:
        drop_slot(postgres, db, slot, missing_ok=True)
        src.close()
    _check(observed, counts, first="a_many")
    assert observed[("a_many", 0)] == "first"
    assert observed[("c_one", 0)] in ("last_in_data_collection", "last")


def test_mariadb_snapshot_markers(mariadb: Any, kafka: Any, tmp_path: Any) -> None:
    db = "marks_my"
    conn = mariadb.connect()
    # The first and the last table read are empty: no row says "first", and "last" goes to the
    # row read before the empty last table, as Debezium's buffered last record does.
    counts = {"a_empty": 0, "b_one": 1, "c_many": 250, "z_empty": 0}
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"USE {db}")
        for table, n in counts.items():
            cur.execute(f"CREATE TABLE {db}.{table} (id int PRIMARY KEY, v varchar(10))")
            if n:
                cur.execute(
                    f"INSERT INTO {db}.{table} SELECT seq, CONCAT('v', seq) FROM seq_1_to_{n}"
                )
    mariadb.grant_capture(db)
    prefix = f"mk{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, **{PASSWORD_ENV: mariadb.capture_password})
    try:
        result = cli(
            "run",
            "--source",
            mariadb.capture_url + db,
            "--password-env",
            PASSWORD_ENV,
            "--to",
            f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&schemas=true",
            "--checkpoint",
            str(tmp_path / "cp.json"),
            "--snapshot",
            "initial",
            "--idle-exit",
            "3",
            env=env,
        )
        assert result.returncode == 0, result.stderr
        observed = observed_markers(kafka, prefix, db, list(counts))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.close()
    _check(observed, counts, first="a_empty")
    assert "first" not in observed.values()
    assert observed[("b_one", 0)] == "last_in_data_collection"
    assert observed[("c_many", 0)] == "first_in_data_collection"
    assert observed[("c_many", 249)] == "last"
