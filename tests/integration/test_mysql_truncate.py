"""``TRUNCATE TABLE`` on the private MariaDB reaches the table's own batches as a ``t`` row: at
the statement's position (the ``_pos`` of its ``_ddl`` row, which stays), between the table's
rows before and after it, with the columns and schema version the table's change batches have
there — taken from the stream's rows, from the snapshot's, or after an ALTER from
``information_schema``. ``arrowtail decode`` of the binlog file, with no server to ask, adds it
where rows decoded before the statement tell the columns, and otherwise warns and keeps the
``_ddl`` row alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arrowtail.sources.mysql.source import MySqlSource
from tests.support.chaos import wait_for
from tests.support.cli import cli
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


def _parquet_rows(out: Path, table: str) -> list[dict[str, Any]]:
    """The rows of one table directory of a Parquet output, in ``(_pos, _seq)`` order, each with
    its file's schema version and column names."""
    rows = []
    for path in sorted((out / table).glob("*.parquet")):
        data = pq.read_table(path)
        version = int((data.schema.metadata or {})[b"arrowtail.schema_version"])
        rows += [{**r, "version": version, "names": data.schema.names} for r in data.to_pylist()]
    return sorted(rows, key=lambda r: (r["_pos"], r["_seq"]))


def test_offline_decode_hands_on_a_truncate_where_it_knows_the_tables_columns(
    mariadb: Any, database: Any, tmp_path: Path
) -> None:
    with database.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW MASTER STATUS")
        name = cur.fetchone()[0]
        cur.execute(f"INSERT INTO {DB}.t VALUES (4, 'd')")
        cur.execute(f"UPDATE {DB}.t SET v = 'A' WHERE id = 1")
        cur.execute(f"TRUNCATE TABLE {DB}.t")
        cur.execute(f"INSERT INTO {DB}.t VALUES (5, 'e')")
        cur.execute(f"USE {DB}")
        cur.execute("TRUNCATE t")
        cur.execute(f"INSERT INTO {DB}.t VALUES (6, 'f')")
        cur.execute(f"ALTER TABLE {DB}.t ADD COLUMN n bigint")
        # No rows of t since the ALTER: its columns here are unknown to a decode of files.
        cur.execute(f"TRUNCATE {DB}.t")
        cur.execute(f"INSERT INTO {DB}.t VALUES (7, 'g', 8)")
        cur.execute(f"TRUNCATE {DB}.t")
        # No rows of s in this file at all.
        cur.execute(f"TRUNCATE {DB}.s")
        cur.execute("FLUSH BINARY LOGS")
    out = tmp_path / "out"
    path = mariadb.binlog_dir / name
    done = cli("decode", "--format", "binlog", str(path), "--to", f"parquet:{out}")
    assert done.returncode == 0, done.stderr

    ddl = [r for r in _parquet_rows(out, "_ddl") if "TRUNCATE" in r["statement"]]
    assert [r["statement"] for r in ddl] == [
        f"TRUNCATE TABLE {DB}.t",
        "TRUNCATE t",
        f"TRUNCATE {DB}.t",
        f"TRUNCATE {DB}.t",
        f"TRUNCATE {DB}.s",
    ]
    t_rows = _parquet_rows(out, f"{DB}.t")
    assert [(r["_op"], r["id"]) for r in t_rows] == [
        ("c", 4), ("u", 1), ("t", None), ("c", 5), ("t", None), ("c", 6), ("c", 7), ("t", None),
    ]  # fmt: skip
    truncates = [r for r in t_rows if r["_op"] == "t"]
    # Each at its statement's position, ordinal, transaction and time; the one right after the
    # ALTER is left out.
    for row, statement in zip(truncates, [ddl[0], ddl[1], ddl[3]], strict=True):
        for column in ("_pos", "_seq", "_xid", "_commit_ts"):
            assert row[column] == statement[column], column
        assert row["v"] is None and row["_before"] is None
    # The columns and schema version of the table's rows around each.
    by_id = {r["id"]: r for r in t_rows if r["_op"] != "t"}
    first, second, third = truncates
    assert first["names"] == second["names"] == by_id[5]["names"] == by_id[6]["names"]
    assert first["version"] == second["version"] == by_id[6]["version"]
    assert "n" in third["names"] and third["n"] is None
    assert third["names"] == by_id[7]["names"] and third["version"] == by_id[7]["version"]
    assert third["version"] != first["version"]
    # s: only its _ddl row, and both left-out truncates are named in a warning.
    assert not (out / f"{DB}.s").exists()
    warnings = [line for line in done.stderr.splitlines() if "TRUNCATE of" in line]
    assert len(warnings) == 2, done.stderr
    assert f"{DB}.t at _pos {ddl[2]['_pos']}" in warnings[0]
    assert f"{DB}.s at _pos {ddl[4]['_pos']}" in warnings[1]
