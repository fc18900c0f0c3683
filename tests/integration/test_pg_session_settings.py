"""Columns a PostgreSQL source reads as text (ranges, composites, arrays of them) come in one form
whatever the database's session settings: the stream's, whose connection pins ``DateStyle=ISO``,
``TimeZone=UTC``, ``IntervalStyle=postgres`` and ``extra_float_digits=3``. Every other connection
that reads rows must pin them too: the initial snapshot's readers over libpq, the incremental
snapshot's and the TOAST re-select's. Before, those took the database's ``SQL, DMY`` dates,
Berlin times, ``sql_standard`` intervals and 15-digit floats, so the same row changed its text
form (and lost float digits) when it was read again.

The source database sets all four to other values. One ``arrowtail run`` takes the initial
snapshot over libpq with TOAST re-select on; an update leaves a TOASTed composite array unchanged
(re-selected), and an incremental snapshot reads the table again. Every stored text equals the
one a pinned session gives, and ``verify`` finds the table equal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from arrowtail.sources.postgres.incremental import request_snapshot
from tests.support.cli import cli, cli_popen
from tests.support.pg_run import fresh_db, wait_slot_active

DB = "sessfmt"
COLUMNS = ("dr", "tr", "c", "ca")
SETUP = """
CREATE TYPE comp AS (t timestamptz, d date, f float8, i interval);
CREATE TABLE t (id int PRIMARY KEY, v int, dr daterange, tr tstzrange, c comp, ca comp[]);
ALTER TABLE t ALTER COLUMN ca SET STORAGE EXTERNAL;
INSERT INTO t
SELECT g, 0, daterange('2024-02-01', '2024-03-05'),
       tstzrange('2024-01-01 00:00+00', '2024-07-01 12:30+00'),
       ROW('2024-01-01 00:00+00', '2024-02-03', 0.1::float8 + 0.2, '1 day 02:00')::comp,
       array_fill(ROW('2024-05-06 07:08:09.5+00', '2024-12-31', 1.0::float8 / 3,
                      '-1 mons 3 days')::comp, ARRAY[CASE WHEN g = 1 THEN 200 ELSE 2 END])
FROM generate_series(1, 6) g;
CREATE PUBLICATION p FOR TABLE t;
"""
PINNED = (
    "SET datestyle = 'ISO'; SET timezone = 'UTC'; SET intervalstyle = 'postgres';"
    " SET extra_float_digits = 3"
)


def test_rows_read_again_keep_the_streams_text_forms(postgres: Any, tmp_path: Path) -> None:
    conn = fresh_db(postgres, DB)
    for setting in (
        "datestyle = 'SQL, DMY'",
        "timezone = 'Europe/Berlin'",
        "intervalstyle = 'sql_standard'",
        "extra_float_digits = 0",
    ):
        conn.execute(f"ALTER DATABASE {DB} SET {setting}")
    conn.close()
    src = postgres.connect(dbname=DB)
    src.execute(SETUP)
    assert src.execute("SELECT pg_column_size(ca) > 2000 FROM t WHERE id = 1").fetchone() == (True,)
    dsn = postgres.dsn_for(postgres.user, None, DB)
    out = tmp_path / "out"
    proc = cli_popen(
        "run", "--source", dsn, "--slot", "sessfmt", "--publication", "p",
        "--to", f"parquet:{out}", "--snapshot", "initial", "--wire", "libpq",
        "--toast-reselect", "--idle-exit", "3",
    )  # fmt: skip
    wait_slot_active(src, "sessfmt", proc)
    src.execute("UPDATE t SET v = 1 WHERE id IN (1, 2)")  # ca stays TOASTed: re-selected
    time.sleep(0.5)
    request_snapshot(dsn, ["public.t"])
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err

    src.execute(PINNED)
    rows = src.execute(
        "SELECT id, dr::text, tr::text, c::text, ca::text FROM t ORDER BY id"
    ).fetchall()
    expected = {r[0]: dict(zip(COLUMNS, r[1:], strict=True)) for r in rows}
    assert expected[1]["dr"] == "[2024-02-01,2024-03-05)"
    assert "0.30000000000000004" in expected[1]["c"]
    stored = [
        row
        for path in sorted((out / "public.t").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    by_op: dict[str, int] = {}
    for row in stored:
        by_op[row["_op"]] = by_op.get(row["_op"], 0) + 1
        for column in COLUMNS:
            if column in (row["_unchanged"] or []):
                continue
            assert row[column] == expected[row["id"]][column], (row["_op"], row["id"], column)
    # The initial snapshot and the incremental one each read every row; both updates carry the
    # re-selected array.
    assert by_op == {"r": 12, "u": 2}, by_op
    assert not any(row["_unchanged"] for row in stored)

    check = cli("verify", "--source", dsn, "--against", f"parquet:{out}", "--tables", "public.t")
    assert check.returncode == 0, check.stdout + check.stderr
    src.close()
