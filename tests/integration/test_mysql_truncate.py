"""``TRUNCATE TABLE`` on the private MariaDB reaches the table's own batches as a ``t`` row: at
the statement's position (the ``_pos`` of its ``_ddl`` row, which stays), between the table's
rows before and after it, with the columns and schema version the table's change batches have
there — taken from the stream's rows, from the snapshot's, or after an ALTER from
``information_schema``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from arrowtail.sources.mysql.source import MySqlSource
from tests.support.chaos import wait_for
from tests.support.mysql_run import app_url

DB = "trunc_src"


@pytest.fixture
def database(mariadb: Any) -> Iterator[Any]:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(f"CREATE TABLE {DB}.t (id int PRIMARY KEY, v varchar(10))")
        cur.execute(f"CREATE TABLE {DB}.s (id int PRIMARY KEY, w text)")
        cur.execute(f"INSERT INTO {DB}.t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        cur.execute(f"INSERT INTO {DB}.s VALUES (1, 'x')")
    mariadb.grant_capture(DB)
    yield conn
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def _read(source: MySqlSource, until: Any) -> list[tuple[str, int, pa.RecordBatch]]:
    got: list[tuple[str, int, pa.RecordBatch]] = []

    def step() -> bool:
        got.extend(source.poll(0.5).batches)
        return until(got)

    wait_for(step, "the changes", timeout=60)
    return got


def _rows(got: list[Any], table: str) -> list[dict[str, Any]]:
    """The table's rows in the order the batches came, each with its batch's schema version."""
    return [
        {**row, "version": version, "names": batch.schema.names}
        for name, version, batch in got
        if name == table
        for row in batch.to_pylist()
    ]


def test_truncate_is_a_t_row_at_its_position_with_the_tables_schema(
    mariadb: Any, database: Any
) -> None:
    source = MySqlSource(
        app_url(mariadb) + DB, password=mariadb.capture_password, snapshot="initial"
    )
    source.open(None)
    try:
        snapshot = _read(source, lambda got: source._snapshot is None)
        with database.cursor() as cur:
            cur.execute(f"INSERT INTO {DB}.t VALUES (4, 'd')")
            cur.execute(f"UPDATE {DB}.t SET v = 'A' WHERE id = 1")
            cur.execute(f"TRUNCATE TABLE {DB}.t")
            cur.execute(f"INSERT INTO {DB}.t VALUES (5, 'e')")
            cur.execute(f"ALTER TABLE {DB}.t ADD COLUMN n bigint")
            cur.execute(f"USE {DB}")
            cur.execute("TRUNCATE t")
            cur.execute(f"INSERT INTO {DB}.t VALUES (6, 'f', 7)")
            cur.execute(f"TRUNCATE {DB}.s")
            cur.execute(f"INSERT INTO {DB}.s VALUES (9, 'y')")
        stream = _read(source, lambda got: any(r["id"] == 9 for r in _rows(got, f"{DB}.s")))
    finally:
        source.close()

    ddl = [r for r in _rows(stream, "_ddl") if "TRUNCATE" in r["statement"]]
    assert [r["statement"] for r in ddl] == [
        f"TRUNCATE TABLE {DB}.t",
        "TRUNCATE t",
        f"TRUNCATE {DB}.s",
    ]
    t_rows = _rows(snapshot + stream, f"{DB}.t")
    assert [(r["_op"], r["id"]) for r in t_rows] == [
        ("r", 1), ("r", 2), ("r", 3),
        ("c", 4), ("u", 1), ("t", None), ("c", 5), ("t", None), ("c", 6),
    ]  # fmt: skip
    positions = [(r["_pos"], r["_seq"]) for r in t_rows]
    assert positions == sorted(positions)
    truncates = [r for r in t_rows if r["_op"] == "t"]
    # Each at its statement's position, ordinal, transaction and time.
    for row, statement in zip(truncates, ddl[:2], strict=True):
        for column in ("_pos", "_seq", "_xid", "_commit_ts"):
            assert row[column] == statement[column], column
        assert row["v"] is None and row["_before"] is None and row["_unchanged"] is None
    # The first truncate has the stream rows' schema and version; the one after the ALTER the
    # new layout, numbered as the rows after it are.
    by_op = {(r["_op"], r["id"]): r for r in t_rows}
    first, second = truncates
    assert first["names"] == by_op[("c", 5)]["names"] == by_op[("r", 1)]["names"]
    assert first["version"] == by_op[("c", 5)]["version"] == by_op[("r", 1)]["version"] == 1
    assert second["names"] == by_op[("c", 6)]["names"]
    assert "n" in second["names"] and second["n"] is None
    assert second["version"] == by_op[("c", 6)]["version"] == 2
    # A table seen only in the snapshot: the snapshot's schema and version.
    s_rows = _rows(snapshot + stream, f"{DB}.s")
    assert [(r["_op"], r["id"]) for r in s_rows] == [("r", 1), ("t", None), ("c", 9)]
    assert s_rows[1]["_pos"] == ddl[2]["_pos"]
    assert s_rows[1]["names"] == s_rows[0]["names"] and s_rows[1]["version"] == 1
