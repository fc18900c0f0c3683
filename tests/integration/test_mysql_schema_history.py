"""Schema history with ``binlog_row_metadata = MINIMAL`` on the private MariaDB: a run stops, two
ALTERs change the table with rows between them, and the restart from the checkpoint decodes
every backlog row with the columns in force when it was written (not today's
``information_schema``). A history that disagrees with the binlog is a SchemaChangeError."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arrowtail.exceptions import SchemaChangeError
from arrowtail.pipeline import Pipeline
from arrowtail.sinks import open_sink
from arrowtail.sources.mysql.source import MySqlSource
from tests.support.mysql_run import PinnedSink, app_url, start_run, start_streaming
from tests.support.replay import parquet_changes

DB = "hist_min"
TABLE = f"{DB}.t"


@pytest.fixture
def minimal(mariadb: Any) -> Iterator[Any]:
    """The server writes MINIMAL row metadata for the test's sessions; restored afterwards."""
    admin = mariadb.connect()
    cur = admin.cursor()
    cur.execute("SELECT @@global.binlog_row_metadata")
    (saved,) = cur.fetchone()
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"CREATE DATABASE {DB}")
    mariadb.grant_capture(DB)
    cur.execute(
        f"CREATE TABLE {TABLE} (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(10,2), "
        "n BIGINT) CHARACTER SET utf8mb4"
    )
    cur.execute("SET GLOBAL binlog_row_metadata = MINIMAL")
    try:
        yield mariadb.connect()  # a new session takes the MINIMAL setting
    finally:
        cur.execute("SET GLOBAL binlog_row_metadata = %s", (saved,))
        admin.close()


def _finish(proc: Any) -> str:
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    return str(stderr)


def _stored_changes(out: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(_op, user columns)`` of every stored change of the table, in stream order."""
    rows = []
    for table, _, batch in parquet_changes(out):
        if table != TABLE:
            continue
        for row in batch.to_pylist():
            key = (row["_pos"], row["_seq"])
            user = {k: v for k, v in row.items() if not k.startswith("_")}
            rows.append((key, row["_op"], user))
    return [(op, user) for _, op, user in sorted(rows, key=lambda r: r[0])]


def test_restart_decodes_the_backlog_with_the_schema_in_force_then(
    minimal: Any, mariadb: Any, tmp_path: Path
) -> None:
    conn, out = minimal, tmp_path / "parquet"
    cur = conn.cursor()
    expected: list[tuple[str, dict[str, Any]]] = []

    def row(k: int, **cols: Any) -> dict[str, Any]:
        return {"id": k, **cols}

    # Run 1: streamed live, then stopped.
    proc = start_streaming(mariadb, app_url(mariadb) + DB, out, "--idle-exit", "2")
    cur.execute("BEGIN")
    for k in range(1, 6):
        cur.execute(f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s)", (k, f"name {k}", k + 0.5, -k))
        expected.append(("c", row(k, name=f"name {k}", amount=Decimal(k) + Decimal("0.5"), n=-k)))
    cur.execute("COMMIT")
    cur.execute(f"UPDATE {TABLE} SET name = 'two' WHERE id = 2")
    expected.append(("u", row(2, name="two", amount=Decimal("2.5"), n=-2)))
    stderr = _finish(proc)
    assert "binlog_row_metadata is MINIMAL" in stderr
    manifest = json.loads((out / "_arrowtail" / "manifest.json").read_text())
    stored = manifest["checkpoint"]["schemas"]
    assert stored == [[DB, "t", {**stored[0][2], "names": ["id", "name", "amount", "n"]}]]

    # While nothing runs: two ALTERs with rows before, between and after them.
    cur.execute(f"ALTER TABLE {TABLE} ADD COLUMN note VARCHAR(20) AFTER name")
    # MariaDB's no-ops: nothing changes, which the history must follow rather than give up.
    cur.execute(
        f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS note INT, DROP COLUMN IF EXISTS nope"
    )
    cur.execute(f"INSERT INTO {TABLE} VALUES (10, 'ten', 'n10', 10.25, 100)")
    expected.append(("c", row(10, name="ten", note="n10", amount=Decimal("10.25"), n=100)))
    cur.execute(f"UPDATE {TABLE} SET note = 'n1' WHERE id = 1")
    expected.append(("u", row(1, name="name 1", note="n1", amount=Decimal("1.5"), n=-1)))
    cur.execute(f"ALTER TABLE {TABLE} DROP COLUMN n, RENAME COLUMN name TO title")
    cur.execute(f"INSERT INTO {TABLE} VALUES (20, 'twenty', NULL, 20.00)")
    expected.append(("c", row(20, title="twenty", note=None, amount=Decimal("20.00"))))
    cur.execute(f"UPDATE {TABLE} SET title = 'TEN' WHERE id = 10")
    expected.append(("u", row(10, title="TEN", note="n10", amount=Decimal("10.25"))))
    cur.execute(f"DELETE FROM {TABLE} WHERE id = 3")
    expected.append(("d", row(3, title="name 3", note=None, amount=Decimal("3.5"))))

    # Run 2: resumes from the checkpoint, reading the whole backlog.
    proc = start_run(app_url(mariadb) + DB, out, mariadb.capture_password, "--idle-exit", "2")
    stderr = _finish(proc)
    assert "schema history of 1 tables restored from the checkpoint" in stderr
    assert "cannot follow the DDL" not in stderr
    assert f"columns of {TABLE} are now id, name, note, amount, n" in stderr
    assert f"columns of {TABLE} are now id, title, note, amount" in stderr
    assert _stored_changes(out) == expected
    manifest = json.loads((out / "_arrowtail" / "manifest.json").read_text())
    assert manifest["checkpoint"]["schemas"][0][2]["names"] == ["id", "title", "note", "amount"]


def test_history_that_disagrees_with_the_binlog_is_a_schema_change_error(
    minimal: Any, mariadb: Any, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    cur = minimal.cursor()
    cur.execute("SHOW MASTER STATUS")
    file, offset = cur.fetchone()[:2]
    cur.execute(f"INSERT INTO {TABLE} VALUES (1, 'one', 1.00, 1)")
    # A checkpoint whose history lacks a column the binlog rows have.
    wrong = {
        "names": ["id", "name", "amount"],
        "pk": ["id"],
        "details": [[False, None, None], [False, 224, None], [False, None, None]],
        "collation": 224,
    }
    start = {"pos": 0, "file": file, "offset": offset, "gtid": "", "schemas": [[DB, "t", wrong]]}
    source = MySqlSource(app_url(mariadb) + DB, password=mariadb.capture_password)
    with pytest.raises(SchemaChangeError) as info:
        Pipeline(source, PinnedSink(open_sink(f"parquet:{out}"), start), idle_exit=2).run()
    text = str(info.value)
    assert TABLE in text and f"binlog {file} offset" in text
    assert "4 columns but the known schema has 3" in text
    assert "binlog_row_metadata = FULL" in text  # what to do about it
