"""A PostgreSQL transaction much larger than the memory budget, sent whole after its commit
(``logical_decoding_work_mem`` large, so the server does not stream it in progress): its rows are
handed on before its Commit arrives and reach Parquet with the peak resident memory of
``arrowtail run`` under 340 MB (about 240 MB measured; about 440 MB when the budgets are larger
than the transaction); the replay equals the source. Then the walsender is terminated in the
middle of such a transaction, after rows of it were handed on: the server sends it again and
every change arrives exactly once."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from arrowtail.sources.postgres.source import PostgresSource
from tests.support.big_transaction import run_within_memory
from tests.support.chaos import check_committed_files, wait_for
from tests.support.pg_run import create_database, env_for, run_args
from tests.support.replay import parquet_changes

DB = "big_tx_budget"
PUB = "budget_pub"
#: ARROWTAIL_BIG_ROWS scales it up for a soak (docs/reliability.md).
ROWS = int(os.environ.get("ARROWTAIL_BIG_ROWS", "1000000"))
#: Rows of about 300 bytes: the transaction is about 300 MB as decoded Arrow, held twice over
#: (decoder, then sink) without the budget.
WIDTH = 8


@pytest.fixture(scope="module")
def database(postgres: Any) -> Any:
    create_database(
        postgres,
        DB,
        "CREATE TABLE big (id int PRIMARY KEY, v text, n bigint)",
        PUB,
        decoding_work_mem="16GB",
    )
    conn = postgres.connect(dbname=DB)
    yield conn
    conn.close()


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
            with postgres.connect(dbname=DB) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                    "WHERE slot_name = 'budget_cut'"
                )
            terminated = True
        return bool(positions) and sum(b.num_rows for b in got) >= rows

    try:
        wait_for(step, "the whole transaction", timeout=120)
    finally:
        source.close()
    assert terminated
    assert source.reconnects >= 1
    keys = [
        (p, s)
        for b in got
        for p, s in zip(b["_pos"].to_pylist(), b["_seq"].to_pylist(), strict=True)
    ]
    assert len(keys) == rows
    assert len(set(keys)) == rows
    assert sorted(s for _p, s in keys) == list(range(rows))
    assert replay_digest(got) == source_digest(database)
