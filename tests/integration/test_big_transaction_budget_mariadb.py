"""A MariaDB transaction much larger than the memory budget (one million rows of about 300
bytes): while it is read its rows wait on disk (Arrow IPC under ``--spill-dir``), at its commit
they go on to Parquet stamped with the commit's position, and the peak resident memory of
``arrowtail run`` stays under 420 MB (215-300 MB measured alone, up to 371 MB while the rest of
the suite loads both cores; about 490 MB when the budgets are larger than the transaction); the
replay equals the source and the spill directory is empty afterwards. The same through a 1 MiB
budget into Kafka (300k rows): every row arrives once. Then the dump connection is killed while
such a transaction waits on disk: the spill is dropped, the server sends the transaction again,
and each change arrives once.

MySQL keeps no replica position, so a first run stores one (a marker change) before the big
transaction commits; the measured run resumes from it and exits when idle.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
import zlib
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from arrowtail.sources.mysql.source import MySqlSource
from tests.support.big_transaction import Arrivals, run_within_memory
from tests.support.chaos import check_committed_files, checkpoint, position_first_run, wait_for
from tests.support.kafka_topics import read_until_quiet
from tests.support.mysql_run import app_url, capture_args, capture_env, dump_threads
from tests.support.replay import parquet_changes

DB = "big_my_budget"
#: ARROWTAIL_BIG_ROWS scales it up for a soak (docs/reliability.md).
ROWS = int(os.environ.get("ARROWTAIL_BIG_ROWS", "1000000"))
WIDTH = 8
#: Rows of the transaction into Kafka (ARROWTAIL_BIG_ROWS too): about 43 MB of binlog, more than
#: a poll reads (32 MiB), so that a poll ends inside the transaction and its rows go to disk.
KAFKA_ROWS = int(os.environ.get("ARROWTAIL_BIG_ROWS", "300000"))


@pytest.fixture(scope="module")
def database(mariadb: Any) -> Any:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(f"CREATE TABLE {DB}.big (id int PRIMARY KEY, v varchar(300), n bigint)")
        cur.execute(f"CREATE TABLE {DB}.mark (id int PRIMARY KEY, n int)")
    mariadb.grant_capture(DB)
    yield conn
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def touch(conn: Any, i: int) -> None:
    with conn.cursor() as cur:
        cur.execute(f"REPLACE INTO {DB}.mark VALUES (1, %s)", (i,))


def test_transaction_past_the_budget_waits_on_disk_and_reaches_parquet(
    mariadb: Any, database: Any, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    spill = tmp_path / "spill"
    env = capture_env(mariadb)
    to = f"parquet:{out}?max_uncommitted_bytes=16777216"
    args = capture_args(mariadb, to, f"{DB}.big,{DB}.mark", "--log-format", "text")
    position_first_run(
        [*args, "--idle-exit", "600"],
        env,
        tmp_path,
        partial(touch, database),
        lambda: checkpoint(out) is not None,
    )

    with database.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(
            f"INSERT INTO {DB}.big SELECT seq, repeat(md5(seq), {WIDTH}), seq * 3 "
            f"FROM {DB}.seq_1_to_{ROWS}"
        )
        cur.execute("COMMIT")
        cur.execute(f"SELECT count(*), sum(n), sum(crc32(concat(id, ':', v))) FROM {DB}.big")
        count, total, crc = cur.fetchone()

    cmd = [sys.executable, "-m", "arrowtail.cli", *args, "--idle-exit", "3"]
    cmd += ["--memory-budget", str(16 << 20), "--spill-dir", str(spill)]
    output = run_within_memory(cmd, tmp_path / "run.log", env, ceiling_mb=420)
    assert mariadb.capture_password not in output

    assert check_committed_files(out) >= ROWS
    batches = [b for table, _v, b in parquet_changes(out) if table == f"{DB}.big"]
    table = pa.Table.from_batches(batches)
    assert table.num_rows == int(count) == ROWS
    # One transaction: one commit position and time for all of its rows, set at the commit.
    positions = pc.unique(table["_pos"]).to_pylist()
    assert len(positions) == 1 and positions[0] > 0, positions
    stored = checkpoint(out)
    assert positions[0] <= stored["pos"]
    stamps = pc.unique(table["_commit_ts"]).to_pylist()
    assert len(stamps) == 1 and stamps[0] is not None and stamps[0].year >= 2024
    assert sorted(table["_seq"].to_pylist()) == list(range(ROWS))
    assert pc.sum(table["n"]).as_py() == int(total)
    ids, values = table["id"].to_pylist(), table["v"].to_pylist()
    got = sum(zlib.crc32(f"{i}:{v}".encode()) for i, v in zip(ids, values, strict=True))
    assert got == int(crc)
    # The spill files are gone once their rows went on.
    assert spill.is_dir()
    assert list(spill.iterdir()) == []


def test_transaction_past_the_budget_waits_on_disk_and_reaches_kafka_once(
    mariadb: Any, kafka: Any, database: Any, tmp_path: Path
) -> None:
    rows = KAFKA_ROWS
    prefix = f"mk{uuid.uuid4().hex[:8]}"
    spill = tmp_path / "spill"
    cp = tmp_path / "cp.json"
    env = capture_env(mariadb)
    to = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}"
    args = capture_args(mariadb, to, f"{DB}.big,{DB}.mark", "--checkpoint", str(cp))
    args += ["--log-format", "text"]
    with database.cursor() as cur:
        cur.execute(f"TRUNCATE {DB}.big")
    position_first_run(
        [*args, "--idle-exit", "600"], env, tmp_path, partial(touch, database), cp.exists
    )

    with database.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(
            f"INSERT INTO {DB}.big SELECT seq, repeat(md5(seq), 4), seq * 3 "
            f"FROM {DB}.seq_1_to_{rows}"
        )
        cur.execute("COMMIT")
        cur.execute(f"SELECT count(*), sum(n), sum(crc32(concat(id, ':', v))) FROM {DB}.big")
        count, total, crc = (int(x) for x in cur.fetchone())

    cmd = [sys.executable, "-m", "arrowtail.cli", *args, "--idle-exit", "3"]
    cmd += ["--memory-budget", str(1 << 20), "--spill-dir", str(spill)]
    # The producer's queue comes on top, as for PostgreSQL: about 300 MB measured, 390 MB at 10M
    # rows (the soak in docs/reliability.md). The spill is read back a batch per poll read (the
    # rows of up to 32 MiB of binlog), which the Kafka sink serializes a slice at a time (about
    # 600 MB when it took the whole batch at once).
    output = run_within_memory(cmd, tmp_path / "run.log", env, timeout=7200, ceiling_mb=450)
    assert mariadb.capture_password not in output
    # The rows went to disk (the directory is made then) and are gone from it.
    assert spill.is_dir()
    assert list(spill.iterdir()) == []

    arrivals = Arrivals(
        rows,
        lambda i, v: zlib.crc32(f"{i}:{v}".encode()),
        order=lambda source: int(source["seq"]),
        commit=lambda source: (source["file"], source["pos"]),
    )
    for msg in read_until_quiet(kafka.bootstrap, f"{prefix}.{DB}.big", timeout=7200):
        arrivals.add(msg)
    arrivals.assert_each_row_once()
    assert arrivals.ops == {"c"}
    # One transaction, every change stamped with its commit's position, in the order inserted.
    assert len(arrivals.commits) == 1, arrivals.commits
    file, pos = next(iter(arrivals.commits))
    stored = json.loads(cp.read_text())["position"]
    assert (file, pos) == (stored["file"], stored["offset"]), stored
    assert arrivals.places_rise_with_id()
    assert (arrivals.rows, arrivals.total, arrivals.digest_sum) == (count, total, crc)


def test_connection_lost_while_a_transaction_waits_on_disk_stores_each_change_once(
    mariadb: Any, database: Any, tmp_path: Path
) -> None:
    rows = 200_000
    with database.cursor() as cur:
        cur.execute(f"CREATE TABLE {DB}.cut (id int PRIMARY KEY, v char(32))")
        cur.execute("SHOW MASTER STATUS")
        file, offset = cur.fetchone()[:2]
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {DB}.cut SELECT seq, md5(seq) FROM {DB}.seq_1_to_{rows}")
        cur.execute("COMMIT")
    spill = tmp_path / "spill"
    source = MySqlSource(
        app_url(mariadb) + DB,
        password=mariadb.capture_password,
        memory_budget=1 << 20,
        max_poll_bytes=1 << 20,
        spill_dir=str(spill),
    )
    source.open({"pos": 0, "file": file, "offset": offset, "gtid": ""})
    got: list[pa.RecordBatch] = []
    positions: list[Any] = []
    killed = False

    def step() -> bool:
        nonlocal killed
        chunk = source.poll(0.5)
        got.extend(b for table, _v, b in chunk.batches if table == f"{DB}.cut")
        if chunk.position is not None:
            positions.append(chunk.position)
        if not killed and source._spill.active:
            # Rows of the open transaction wait on disk: cut the dump now.
            assert not got
            admin = mariadb.connect()
            try:
                with admin.cursor() as cur:
                    for thread in dump_threads(mariadb):
                        cur.execute(f"KILL CONNECTION {thread}")
            finally:
                admin.close()
            killed = True
        return bool(positions) and sum(b.num_rows for b in got) >= rows

    try:
        wait_for(step, "the whole transaction", timeout=120)
    finally:
        source.close()
    assert killed
    assert source.reconnects >= 1
    table = pa.Table.from_batches(got)
    assert table.num_rows == rows
    assert sorted(table["id"].to_pylist()) == list(range(1, rows + 1))
    assert sorted(table["_seq"].to_pylist()) == list(range(rows))
    assert len(pc.unique(table["_pos"])) == 1
    assert table["_pos"][0].as_py() == positions[-1]["pos"]
    assert not spill.exists() or list(spill.iterdir()) == []
