"""A single transaction of one million rows from PostgreSQL, streamed in progress (proto >= 2,
``logical_decoding_work_mem`` small), into Parquet as the least-privilege capture role: every row
arrives, and the peak resident memory of the ``arrowtail run`` process (``VmHWM`` from
``/proc/<pid>/status``, sampled until it exits) stays under 512 MB. Loose on purpose: a memory
bound, not a timing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from psycopg import sql

from tests.support.chaos import check_committed_files
from tests.support.pg_run import PASSWORD_ENV, env_for
from tests.support.replay import parquet_changes

DB = "big_tx"
ROWS = 1_000_000
LIMIT_MB = 512


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


def vm_hwm_kb(pid: int) -> int:
    """``VmHWM`` of a live process in kB (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_within_memory(
    cmd: list[str], log_path: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> str:
    """Runs ``cmd`` (an ``arrowtail run`` that ends by itself), sampling its peak RSS until it
    exits; asserts it succeeded with a peak under ``LIMIT_MB``, and returns its output."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    # VmHWM of the running process: the peak RSS of its own address space. (ru_maxrss of the
    # child is not usable: Linux carries the forking parent's high-water mark over the exec.)
    peak_kb = 0
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"arrowtail run did not finish within {timeout:g} s")
        peak_kb = max(peak_kb, vm_hwm_kb(proc.pid))
        try:
            proc.wait(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            continue
    output = log_path.read_text()
    assert proc.returncode == 0, output
    peak_mb = peak_kb / 1024
    print(f"peak RSS of arrowtail run: {peak_mb:.0f} MB")
    assert peak_mb < LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
    assert peak_mb > 20, f"peak RSS {peak_mb:.0f} MB is implausibly low: measured the wrong process"
    return output


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
