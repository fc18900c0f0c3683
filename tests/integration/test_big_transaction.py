"""A single transaction of one million rows from PostgreSQL, streamed in progress (proto >= 2,
``logical_decoding_work_mem`` small), into Parquet as the least-privilege capture role: every row
arrives, and the peak resident memory of the ``arrowtail run`` process (``VmHWM`` from
``/proc/<pid>/status``, sampled until it exits by tests/support/big_transaction.py) stays under
512 MB. Loose on purpose: a memory bound, not a timing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from psycopg import sql

from tests.support.big_transaction import ROWS, run_within_memory
from tests.support.chaos import check_committed_files
from tests.support.pg_run import PASSWORD_ENV, env_for
from tests.support.replay import parquet_changes

DB = "big_tx"


@pytest.fixture(scope="module")
def database(postgres: Any) -> Any:
    admin = postgres.connect()
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    admin.execute(
        sql.SQL("ALTER DATABASE {} SET logical_decoding_work_mem = '64kB'").format(
            sql.Identifier(DB)
        )
    )
    conn = postgres.connect(dbname=DB)
    conn.execute("CREATE TABLE big (id int PRIMARY KEY, v text, n bigint)")
    postgres.grant_capture(DB)
    conn.execute("CREATE PUBLICATION big_pub FOR ALL TABLES")
    yield conn
    conn.close()
    admin.close()


def test_million_row_transaction_in_bounded_memory(
    postgres: Any, database: Any, tmp_path: Path
) -> None:
    database.execute("SELECT pg_create_logical_replication_slot('big_slot', 'pgoutput')")
    database.execute(
        "INSERT INTO big SELECT g, md5(g::text), g * 3 FROM generate_series(1, %s) g", (ROWS,)
    )
    out = tmp_path / "parquet"
    cmd = [
        sys.executable,
        "-m",
        "arrowtail.cli",
        "run",
        "--source",
        postgres.capture_dsn(DB),
        "--password-env",
        PASSWORD_ENV,
        "--to",
        f"parquet:{out}",
        "--slot",
        "big_slot",
        "--publication",
        "big_pub",
        "--idle-exit",
        "3",
        "--log-format",
        "text",
    ]
    output = run_within_memory(cmd, tmp_path / "run.log", env_for(postgres))
    assert postgres.app_password not in output
    assert "proto 3" in output or "proto 4" in output or "proto 2" in output, output

    assert check_committed_files(out) == ROWS
    ids = 0
    for table, _version, batch in parquet_changes(out):
        assert table == "public.big"
        assert set(batch.column("_op").to_pylist()) == {"c"}
        ids += pc.sum(batch.column("id")).as_py()
    assert ids == ROWS * (ROWS + 1) // 2
    # One transaction: one commit position for all of them.
    xids = set()
    for _table, _version, batch in parquet_changes(out):
        xids |= set(pc.unique(batch.column("_xid")).to_pylist())
    assert len(xids) == 1
