"""kill -9 loop, MariaDB -> Parquet: as tests/integration/test_kill_pg.py, with the row binlog.
MySQL keeps no replica position, so the Parquet manifest is the only record of progress: a run is
killed only after the first one stored a checkpoint, and every restart resumes from the manifest.
Each round leaves an XA transaction prepared until the next, so most kills find one waiting.

Soak (longer, not in CI)::

    ARROWTAIL_SOAK_KILLS=200 ARROWTAIL_SOAK_ROUNDS=1000 ARROWTAIL_SOAK_SEED=7 \\
        pytest tests/integration/test_kill_mariadb.py -x
"""

from __future__ import annotations

from collections.abc import Iterator
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
from tests.support.kill_mariadb import (
    DB,
    TABLES,
    kill_database,
    source_tables,
    touch_marker,
    workload_round,
)
from tests.support.mysql_run import capture_args, capture_env
from tests.support.replay import assert_tables_equal, parquet_changes, replay

ROUNDS = soak_rounds(110)


@pytest.fixture(scope="module")
def database(mariadb: Any) -> Iterator[Any]:
    yield from kill_database(mariadb)


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
    # Runs killed while an XA transaction was prepared: the next read from before its prepare.
    floors = [p for p in tmp_path.glob("k*.err") if "not yet ended at" in p.read_text()]
    assert floors, "no run started from before a prepared XA transaction"
    images = replay(parquet_changes(out))
    for table, rows in source_tables(database).items():
        got = images.get(table, {})
        for row in got.values():
            if isinstance(row.get("amt"), Decimal):
                row["amt"] = Decimal(row["amt"])
        assert_tables_equal(got, rows, table)
