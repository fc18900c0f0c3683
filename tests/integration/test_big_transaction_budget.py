"""A PostgreSQL transaction much larger than the memory budget, sent whole after its commit
(``logical_decoding_work_mem`` large, so the server does not stream it in progress): its rows are
handed on before its Commit arrives and reach Parquet with the peak resident memory of
``arrowtail run`` under 340 MB (about 240 MB measured; about 440 MB when the budgets are larger
than the transaction); the replay equals the source. Then the walsender is terminated in the
middle of such a transaction, after rows of it were handed on: the server sends it again and
every change arrives exactly once.

With a small ``logical_decoding_work_mem`` the server streams a large transaction in progress
instead; its rows go to disk past the budget until Stream Commit. A streamed transaction with a
savepoint rolled back in its middle reaches Parquet (and Kafka) with the same RSS ceiling, without
the rolled-back rows and with the spill directory empty afterwards; a walsender terminated while
rows of it wait on disk still hands on each change once. Prepared transactions (a slot with
two-phase decoding) wait on disk from their PREPARE until COMMIT or ROLLBACK PREPARED."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from arrowtail.sources.postgres.source import PostgresSource
from tests.support.big_transaction import Arrivals, run_within_memory
from tests.support.chaos import check_committed_files, wait_for
from tests.support.kafka_topics import read_until_quiet
from tests.support.pg_run import create_database, env_for, run_args
from tests.support.replay import parquet_changes

DB = "big_tx_budget"
#: The same table in a database whose server streams transactions past 64 kB in progress.
STREAMED_DB = "big_tx_streamed"
PUB = "budget_pub"
#: ARROWTAIL_BIG_ROWS scales it up for a soak (docs/reliability.md).
ROWS = int(os.environ.get("ARROWTAIL_BIG_ROWS", "1000000"))
#: Rows of about 300 bytes: the transaction is about 300 MB as decoded Arrow, held twice over
#: (decoder, then sink) without the budget.
WIDTH = 8
#: Rows of the streamed transaction (ARROWTAIL_BIG_ROWS too for the soak); a tenth more are
#: written inside a savepoint that is rolled back.
STREAMED_ROWS = int(os.environ.get("ARROWTAIL_BIG_ROWS", "300000"))
#: Rows of the transactions into Kafka (ARROWTAIL_BIG_ROWS too): more than a poll reads at once
#: (32 MiB), so that rows of them are held between polls.
KAFKA_ROWS = int(os.environ.get("ARROWTAIL_BIG_ROWS", "200000"))


def _big_database(postgres: Any, name: str, decoding_work_mem: str) -> Iterator[Any]:
    """A database with the table ``big`` in publication ``PUB``, whose transactions the server
    decodes with ``decoding_work_mem`` (whole after the commit when large, streamed when small)."""
    create_database(
        postgres,
        name,
        "CREATE TABLE big (id int PRIMARY KEY, v text, n bigint)",
        PUB,
        decoding_work_mem=decoding_work_mem,
    )
    conn = postgres.connect(dbname=name)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[Any]:
    yield from _big_database(postgres, DB, "16GB")


@pytest.fixture(scope="module")
def streamed(postgres: Any) -> Iterator[Any]:
    yield from _big_database(postgres, STREAMED_DB, "64kB")


def streamed_transaction(conn: Any, rows: int, width: int) -> None:
    """One transaction of ``rows`` rows, with a tenth as many more written in a savepoint in its
    middle that is rolled back (a subtransaction the server aborts while streaming)."""
    half = rows // 2
    fill = "repeat(md5(g::text), %s)"
    with conn.transaction():
        conn.execute(
            f"INSERT INTO big SELECT g, {fill}, g * 3 FROM generate_series(1, %s) g",
            (width, half),
        )
        conn.execute("SAVEPOINT gone")
        conn.execute(
            f"INSERT INTO big SELECT -g, {fill}, 7 FROM generate_series(1, %s) g",
            (width, max(rows // 10, 1)),
        )
        conn.execute("ROLLBACK TO SAVEPOINT gone")
        conn.execute(
            f"INSERT INTO big SELECT g, {fill}, g * 3 FROM generate_series(%s, %s) g",
            (width, half + 1, rows),
        )


def source_digest(conn: Any) -> tuple[int, int, int]:
    """Rows, the sum of ``n``, and the sum of the first 32 bits of each row's md5."""
    count, total, digest = conn.execute(
        "SELECT count(*), sum(n), "
        "sum(('x' || substr(md5(id || ':' || v), 1, 8))::bit(32)::bigint) FROM big"
    ).fetchone()
    return int(count), int(total), int(digest)


def replay_digest(batches: list[pa.RecordBatch]) -> tuple[int, int, int]:
    table = pa.Table.from_batches(batches).select(["id", "v", "n"])
    digest = sum(
        int(hashlib.md5(f"{i}:{v}".encode()).hexdigest()[:8], 16)
        for i, v in zip(table["id"].to_pylist(), table["v"].to_pylist(), strict=True)
    )
    return table.num_rows, pc.sum(table["n"]).as_py(), digest


def _terminate_walsender(postgres: Any, dbname: str, slot: str) -> None:
    """Cuts the replication connection of ``slot`` from the server's side."""
    with postgres.connect(dbname=dbname) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (slot,),
        )


def _each_change_once(got: list[pa.RecordBatch], rows: int) -> list[tuple[int, int]]:
    """The ``(_pos, _seq)`` of every row in ``got``, asserting ``rows`` of them, none twice."""
    keys = [
        (p, s)
        for b in got
        for p, s in zip(b["_pos"].to_pylist(), b["_seq"].to_pylist(), strict=True)
    ]
    assert len(keys) == rows
    assert len(set(keys)) == rows
    return keys


def test_transaction_past_the_budget_reaches_parquet_in_bounded_memory(
    postgres: Any, database: Any, tmp_path: Path
) -> None:
    database.execute("SELECT pg_create_logical_replication_slot('budget_slot', 'pgoutput')")
    database.execute(
        "INSERT INTO big SELECT g, repeat(md5(g::text), %s), g * 3 FROM generate_series(1, %s) g",
        (WIDTH, ROWS),
    )
    commit_lsn = database.execute("SELECT pg_current_wal_insert_lsn() - '0/0'").fetchone()[0]
    out = tmp_path / "parquet"
    args = run_args(postgres, DB, out, "budget_slot", PUB)
    args[args.index("--to") + 1] += "?max_uncommitted_bytes=16777216"
    cmd = [sys.executable, "-m", "arrowtail.cli", *args]
    cmd += ["--memory-budget", str(16 << 20), "--idle-exit", "3", "--log-format", "text"]
    output = run_within_memory(cmd, tmp_path / "run.log", env_for(postgres), ceiling_mb=340)
    assert postgres.app_password not in output

    assert check_committed_files(out) == ROWS
    batches = [b for table, _v, b in parquet_changes(out) if table == "public.big"]
    assert len({b.column("_pos")[0].as_py() for b in batches}) == 1
    xids: set[int] = set()
    for b in batches:
        xids |= set(pc.unique(b.column("_xid")).to_pylist())
        assert set(b.column("_op").to_pylist()) == {"c"}
    assert len(xids) == 1
    pos = batches[0].column("_pos")[0].as_py()
    assert 0 < pos <= commit_lsn
    seqs = sorted(s for b in batches for s in b.column("_seq").to_pylist())
    assert seqs == list(range(ROWS))
    assert replay_digest(batches) == source_digest(database)


def test_walsender_terminated_mid_transaction_hands_on_each_change_once(
    postgres: Any, database: Any
) -> None:
    rows = 200_000
    database.execute("TRUNCATE big")
    database.execute("SELECT pg_create_logical_replication_slot('budget_cut', 'pgoutput')")
    database.execute(
        "INSERT INTO big SELECT g, md5(g::text), g FROM generate_series(1, %s) g", (rows,)
    )
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, DB)
    source = PostgresSource(
        dsn, slot="budget_cut", publication=PUB, memory_budget=1 << 20, max_poll_bytes=1 << 20
    )
    source.open(None)
    got: list[pa.RecordBatch] = []
    positions: list[Any] = []
    terminated = False

    def step() -> bool:
        nonlocal terminated
        chunk = source.poll(0.5)
        got.extend(b for table, _v, b in chunk.batches if table == "public.big")
        if chunk.position is not None:
            positions.append(chunk.position)
        if not terminated and got and source._decoder.handed_early:
            # Rows of the open transaction are out, its commit is not: cut the stream now.
            assert not positions
            _terminate_walsender(postgres, DB, "budget_cut")
            terminated = True
        return bool(positions) and sum(b.num_rows for b in got) >= rows

    try:
        wait_for(step, "the whole transaction", timeout=120)
    finally:
        source.close()
    assert terminated
    assert source.reconnects >= 1
    keys = _each_change_once(got, rows)
    assert sorted(s for _p, s in keys) == list(range(rows))
    assert replay_digest(got) == source_digest(database)


def test_streamed_transaction_spills_and_reaches_parquet_in_bounded_memory(
    postgres: Any, streamed: Any, tmp_path: Path
) -> None:
    streamed.execute("TRUNCATE big")
    streamed.execute("SELECT pg_create_logical_replication_slot('spill_slot', 'pgoutput')")
    streamed_transaction(streamed, STREAMED_ROWS, WIDTH)
    out = tmp_path / "parquet"
    spill_dir = tmp_path / "spill"
    args = run_args(postgres, STREAMED_DB, out, "spill_slot", PUB)
    args[args.index("--to") + 1] += "?max_uncommitted_bytes=16777216"
    cmd = [sys.executable, "-m", "arrowtail.cli", *args]
    cmd += ["--memory-budget", str(16 << 20), "--spill-dir", str(spill_dir)]
    cmd += ["--idle-exit", "3", "--log-format", "text"]
    env = env_for(postgres)
    # About 225 MB measured; 347 and 380 MB at 10M rows (the soak in docs/reliability.md).
    output = run_within_memory(cmd, tmp_path / "run.log", env, timeout=3600, ceiling_mb=450)
    assert postgres.app_password not in output
    # Streamed in progress, and kept on disk past the budget.
    assert "goes to disk" in output, output
    assert list(spill_dir.iterdir()) == []

    assert check_committed_files(out) == STREAMED_ROWS
    batches = [b for table, _v, b in parquet_changes(out) if table == "public.big"]
    assert len({p for b in batches for p in pc.unique(b.column("_pos")).to_pylist()}) == 1
    assert len({x for b in batches for x in pc.unique(b.column("_xid")).to_pylist()}) == 1
    # Rows of the rolled-back savepoint (negative ids) are not there.
    assert min(pc.min(b.column("id")).as_py() for b in batches) == 1
    seqs = [s for b in batches for s in b.column("_seq").to_pylist()]
    assert len(set(seqs)) == STREAMED_ROWS
    assert replay_digest(batches) == source_digest(streamed)


def test_walsender_terminated_while_rows_wait_on_disk_hands_on_each_change_once(
    postgres: Any, streamed: Any, tmp_path: Path
) -> None:
    rows = 100_000
    streamed.execute("TRUNCATE big")
    streamed.execute("SELECT pg_create_logical_replication_slot('spill_cut', 'pgoutput')")
    streamed_transaction(streamed, rows, 1)
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, STREAMED_DB)
    spill_dir = tmp_path / "spill"
    source = PostgresSource(
        dsn,
        slot="spill_cut",
        publication=PUB,
        memory_budget=1 << 20,
        max_poll_bytes=1 << 20,
        spill_dir=str(spill_dir),
        drain_bytes=1 << 20,
    )
    source.open(None)
    got: list[pa.RecordBatch] = []
    positions: list[Any] = []
    terminated = False

    def step() -> bool:
        nonlocal terminated
        chunk = source.poll(0.5)
        got.extend(b for table, _v, b in chunk.batches if table == "public.big")
        if chunk.position is not None:
            positions.append(chunk.position)
        if not terminated and list(spill_dir.rglob("*.arrows")):
            # Rows of the streamed transaction are on disk, its commit has not come.
            assert not positions and not got
            _terminate_walsender(postgres, STREAMED_DB, "spill_cut")
            terminated = True
        return bool(positions) and sum(b.num_rows for b in got) >= rows

    try:
        wait_for(step, "the whole transaction", timeout=180)
    finally:
        source.close()
    assert terminated
    assert source.reconnects >= 1
    _each_change_once(got, rows)
    assert replay_digest(got) == source_digest(streamed)
    assert list(spill_dir.iterdir()) == []


def _md5_32(i: int, v: str) -> int:
    """The per-row digest of :func:`source_digest`."""
    return int(hashlib.md5(f"{i}:{v}".encode()).hexdigest()[:8], 16)


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
def test_transaction_past_the_budget_reaches_kafka_once(
    postgres: Any, kafka: Any, streaming: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Sent whole after its commit, rows are handed on before it; streamed in progress, they wait
    on disk until Stream Commit. Either way every row reaches Kafka once."""
    conn = request.getfixturevalue("streamed" if streaming else "database")
    dbname, slot = (STREAMED_DB, "spill_kafka") if streaming else (DB, "budget_kafka")
    rows = KAFKA_ROWS
    conn.execute("TRUNCATE big")
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    streamed_transaction(conn, rows, 4)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    spill_dir = tmp_path / "spill"
    args = run_args(postgres, dbname, tmp_path / "unused", slot, PUB)
    args[args.index("--to") + 1] = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}"
    cmd = [sys.executable, "-m", "arrowtail.cli", *args]
    cmd += ["--memory-budget", str(1 << 20), "--spill-dir", str(spill_dir)]
    cmd += ["--checkpoint", str(tmp_path / "cp.json"), "--idle-exit", "3", "--log-format", "text"]
    # The producer's queue (64 MiB of messages) comes on top: about 220 and 250 MB measured;
    # 282 MB sent whole at 10M rows (the soak in docs/reliability.md).
    env = env_for(postgres)
    output = run_within_memory(cmd, tmp_path / "run.log", env, timeout=7200, ceiling_mb=450)
    assert postgres.app_password not in output
    assert ("goes to disk" in output) == streaming, output
    assert not spill_dir.exists() or list(spill_dir.iterdir()) == []

    arrivals = Arrivals(
        rows,
        _md5_32,
        order=lambda source: int(source["lsn"]),
        commit=lambda source: (json.loads(source["sequence"])[0], source["txId"]),
    )
    for msg in read_until_quiet(kafka.bootstrap, f"{prefix}.public.big", timeout=7200):
        arrivals.add(msg)
    arrivals.assert_each_row_once()
    assert arrivals.ops == {"c"}
    # One transaction: one commit before it for every change, and each change its own LSN, in
    # the order the rows were inserted, whether it waited on disk or not.
    assert len(arrivals.commits) == 1, arrivals.commits
    assert arrivals.places_rise_with_id(), "change LSNs out of order or repeated"
    count, total, digest = source_digest(conn)
    assert (arrivals.rows, arrivals.total, arrivals.digest_sum) == (count, total, digest)


def test_prepared_transactions_wait_on_disk_until_commit_or_rollback_prepared(
    postgres: Any, streamed: Any, tmp_path: Path
) -> None:
    rows = 50_000
    streamed.execute("TRUNCATE big")
    # A slot that decodes prepared transactions at their PREPARE (two-phase).
    streamed.execute(
        "SELECT pg_create_logical_replication_slot('spill_2pc', 'pgoutput', false, true)"
    )
    for gid, first in (("kept", 1), ("dropped", -rows)):
        streamed.execute("BEGIN")
        streamed.execute(
            "INSERT INTO big SELECT g, md5(g::text), g FROM generate_series(%s, %s) g",
            (first, first + rows - 1),
        )
        streamed.execute(f"PREPARE TRANSACTION '{gid}'")
    dsn = postgres.dsn_for(postgres.app_user, postgres.app_password, STREAMED_DB)
    spill_dir = tmp_path / "spill"
    source = PostgresSource(
        dsn,
        slot="spill_2pc",
        publication=PUB,
        memory_budget=256 << 10,
        max_poll_bytes=256 << 10,
        spill_dir=str(spill_dir),
    )
    source.open(None)
    got: list[pa.RecordBatch] = []
    positions: list[Any] = []

    def step() -> bool:
        chunk = source.poll(0.5)
        got.extend(b for table, _v, b in chunk.batches if table == "public.big")
        if chunk.position is not None:
            positions.append(chunk.position)
        return len(list(spill_dir.glob("*"))) == 2

    try:
        # Both prepared transactions reach the source and wait on disk for their outcome.
        wait_for(step, "rows of both prepared transactions on disk", timeout=120)
        assert not got
        streamed.execute("ROLLBACK PREPARED 'dropped'")
        streamed.execute("COMMIT PREPARED 'kept'")

        def done() -> bool:
            step()
            return bool(positions) and sum(b.num_rows for b in got) >= rows

        wait_for(done, "the committed prepared transaction", timeout=120)
        for _ in range(3):
            step()
    finally:
        source.close()
    ids = sorted(i for b in got for i in b["id"].to_pylist())
    assert ids == list(range(1, rows + 1))
    assert len({p for b in got for p in b["_pos"].to_pylist()}) == 1
    assert replay_digest(got) == source_digest(streamed)
    assert list(spill_dir.iterdir()) == []
