"""A single transaction of one million rows from MariaDB (one ROW binlog transaction of about
60 MB), into Parquet as the least-privilege capture user: every row arrives with one commit
position, and the peak resident memory of the ``arrowtail run`` process stays under 512 MB
(sampled by tests/support/big_transaction.py). Loose on purpose: a memory bound, not a timing.

MySQL keeps no replica position, so a first run stores one (a marker change) before the big
transaction commits; the measured run resumes from it and exits when idle.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from tests.support.big_transaction import ROWS, run_within_memory
from tests.support.chaos import (
    check_committed_files,
    checkpoint,
    position_first_run,
)
from tests.support.mysql_run import capture_args, capture_env
from tests.support.replay import parquet_changes

DB = "big_my"


@pytest.fixture(scope="module")
def database(mariadb: Any) -> Any:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(f"CREATE TABLE {DB}.big (id int PRIMARY KEY, v char(32), n bigint)")
        cur.execute(f"CREATE TABLE {DB}.mark (id int PRIMARY KEY, n int)")
    mariadb.grant_capture(DB)
    yield conn
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def touch(conn: Any, i: int) -> None:
    with conn.cursor() as cur:
        cur.execute(f"REPLACE INTO {DB}.mark VALUES (1, %s)", (i,))


def test_million_row_mariadb_transaction_in_bounded_memory(
    mariadb: Any, database: Any, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    env = capture_env(mariadb)
    args = capture_args(mariadb, f"parquet:{out}", f"{DB}.big,{DB}.mark", "--log-format", "text")
    position_first_run(
        [*args, "--idle-exit", "600"],
        env,
        tmp_path,
        partial(touch, database),
        lambda: checkpoint(out) is not None,
    )

    with database.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {DB}.big SELECT seq, md5(seq), seq * 3 FROM {DB}.seq_1_to_{ROWS}")
        cur.execute("COMMIT")

    cmd = [sys.executable, "-m", "arrowtail.cli", *args, "--idle-exit", "3"]
    output = run_within_memory(cmd, tmp_path / "run.log", env)
    assert mariadb.capture_password not in output

    # Marker changes made before the kill but not yet stored by then arrive with the big one.
    assert check_committed_files(out) >= ROWS
    ids = rows = 0
    commits = set()
    for table, _version, batch in parquet_changes(out):
        if table != f"{DB}.big":
            continue
        assert set(batch.column("_op").to_pylist()) == {"c"}
        ids += pc.sum(batch.column("id")).as_py()
        rows += batch.num_rows
        commits |= set(pc.unique(batch.column("_pos")).to_pylist())
    assert rows == ROWS
    assert ids == ROWS * (ROWS + 1) // 2
    # One transaction: one commit position for all of its rows.
    assert len(commits) == 1, commits
