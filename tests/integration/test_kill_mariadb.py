"""kill -9 loop, MariaDB -> Parquet: as tests/integration/test_kill_pg.py, with the row binlog.
MySQL keeps no replica position, so the Parquet manifest is the only record of progress: a run is
killed only after the first one stored a checkpoint, and every restart resumes from the manifest.

Soak (longer, not in CI)::

    ARROWTAIL_SOAK_KILLS=200 ARROWTAIL_SOAK_ROUNDS=1000 ARROWTAIL_SOAK_SEED=7 \\
        pytest tests/integration/test_kill_mariadb.py -x
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.chaos import (
    check_committed_files,
    checkpoint,
    position_first_run,
    soak_rounds,
    start_arrowtail,
    workload_kill_loop,
)
from tests.support.mysql_run import capture_args, capture_env
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "kill_my"
TABLES = f"{DB}.accounts,{DB}.events"
ROUNDS = soak_rounds(110)


@pytest.fixture(scope="module")
def database(mariadb: Any) -> Any:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    mariadb.grant_capture(DB)
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {DB}.accounts (id int PRIMARY KEY, v bigint NOT NULL, "
            "s varchar(64), amt decimal(12,3))"
        )
        cur.execute(f"CREATE TABLE {DB}.events (id bigint PRIMARY KEY, kind int, payload text)")
    yield conn
    conn.close()


def touch_marker(conn: Any, i: int) -> None:
    """A one-row change (the i-th) that gives a first run something to store."""
    with conn.cursor() as cur:
        cur.execute(f"REPLACE INTO {DB}.events VALUES (0, %s, 'marker')", (i,))


def workload_round(conn: Any, r: int) -> None:
    """About 2500 changes in one transaction plus a few single-row transactions."""
    base = r * 1000
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(
            f"INSERT INTO {DB}.accounts SELECT seq, seq % 97, md5(seq), seq / 7 "
            f"FROM seq_{base + 1}_to_{base + 1000}"
        )
        cur.execute(
            f"UPDATE {DB}.accounts SET v = v + 1, s = concat(s, 'u') WHERE id BETWEEN %s AND %s",
            (base - 1500, base - 1001),
        )
        cur.execute(
            f"DELETE FROM {DB}.accounts WHERE id BETWEEN %s AND %s", (base - 3000, base - 2701)
        )
        cur.execute(
            f"INSERT INTO {DB}.events SELECT seq, seq % 5, repeat('p', seq % 50) "
            f"FROM seq_{base + 1}_to_{base + 200}"
        )
        cur.execute("COMMIT")
        for i in range(3):
            cur.execute(f"UPDATE {DB}.events SET kind = kind + 10 WHERE id = %s", (base + 1 + i,))
        cur.execute(f"DELETE FROM {DB}.events WHERE id = %s", (base + 100,))


def source_tables(conn: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    out = {}
    for table in ("accounts", "events"):
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {DB}.{table}")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        out[f"{DB}.{table}"] = {(r[0],): dict(zip(names, r, strict=True)) for r in rows}
    return out


def test_sigkill_loop_loses_and_repeats_nothing(
    mariadb: Any, database: Any, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    env = capture_env(mariadb)

    def run_args(*extra: str) -> list[str]:
        return capture_args(mariadb, f"parquet:{out}", TABLES, *extra)

    # The first run starts at the binlog's end; a first change gives the manifest a position.
    position_first_run(
        run_args("--idle-exit", "600"),
        env,
        tmp_path,
        partial(touch_marker, database),
        lambda: checkpoint(out) is not None,
    )

    work_conn = mariadb.connect(database=DB)

    def start(i: int) -> Any:
        return start_arrowtail(run_args("--idle-exit", "600"), env, tmp_path, f"k{i}")

    # A MySQL run needs about a second before its first commit (start-up, a 0.5 s poll): longer
    # delays than for PostgreSQL, so that kills also land after work was stored.
    try:
        workload_kill_loop(
            lambda r: workload_round(work_conn, r),
            ROUNDS,
            start,
            lambda: checkpoint(out),
            41,
            low=0.5,
            high=4.0,
        )
    finally:
        work_conn.close()

    final = start_arrowtail(run_args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert mariadb.capture_password not in final.output()

    stored = check_committed_files(out)
    assert stored >= 1800 * ROUNDS, stored
    images = replay(parquet_changes(out))
    for table, rows in source_tables(database).items():
        got = images.get(table, {})
        for row in got.values():
            if isinstance(row.get("amt"), Decimal):
                row["amt"] = Decimal(row["amt"])
        assert_tables_equal(got, rows, table)
