"""XA transactions from MariaDB: the server writes an XA transaction's rows to the binlog at
``XA PREPARE``, before anyone knows whether it will commit. Their rows must reach the sink at
``XA COMMIT``, in commit order, and never after ``XA ROLLBACK`` — also when a run stops while
they are prepared (its checkpoint is already past their prepares) and when they are larger than
the memory budget (on disk meanwhile). The strongest check: the replay of the Parquet files equals
``SELECT *``, with every change stored once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arrowtail.pipeline import Pipeline, Summary
from arrowtail.sinks import open_sink
from arrowtail.sources.mysql.source import MySqlSource
from tests.support.mysql_run import app_url, change_keys, check_replay, create_schema
from tests.support.replay import parquet_changes

DB = "xa_my"
BUDGET = 64 << 10
#: Rows of the XA transaction larger than the budget (about 3 MB: more than one read of the
#: stream, so it is open at the end of a poll and goes to disk).
BIG = 3000


@pytest.fixture(autouse=True)
def _no_prepared_left(mariadb: Any) -> Iterator[None]:
    """Rolls back XA transactions left prepared (they hold their locks on the shared server)."""
    yield
    conn = mariadb.connect()
    try:
        cur = conn.cursor()
        cur.execute("XA RECOVER FORMAT='SQL'")
        for row in cur.fetchall():
            cur.execute(f"XA ROLLBACK {row[3]}")
    finally:
        conn.close()


def _run(mariadb: Any, db: str, out: Path, **kw: Any) -> Summary:
    source = MySqlSource(
        app_url(mariadb) + db, password=mariadb.capture_password, max_poll_bytes=BUDGET, **kw
    )
    return Pipeline(source, open_sink(f"parquet:{out}"), idle_exit=2).run()


def _stored(out: Path) -> dict[str, Any]:
    sink = open_sink(f"parquet:{out}")
    try:
        stored = sink.open()
    finally:
        sink.close()
    assert stored is not None
    return stored


def _prepare(
    mariadb: Any, xid: str, statements: list[str], params: list[Any] | None = None
) -> None:
    """Runs ``statements`` in XA transaction ``xid`` and prepares it, on a session of its own
    that then ends (the prepared transaction stays on the server)."""
    conn = mariadb.connect()
    try:
        cur = conn.cursor()
        cur.execute(f"XA START {xid}")
        for i, statement in enumerate(statements):
            cur.execute(statement, None if params is None else params[i])
        cur.execute(f"XA END {xid}")
        cur.execute(f"XA PREPARE {xid}")
    finally:
        conn.close()


def _rows(n: int, first: int) -> tuple[str, list[Any]]:
    marks = ", ".join(["(%s, 'big', %s, %s)"] * n)
    values: list[Any] = []
    for k in range(first, first + n):
        values += [k, "x" * 1000 + str(k), k]
    return f"INSERT INTO {DB}.pairs VALUES {marks}", values


def _pos_of(out: Path, table: str) -> dict[tuple[Any, ...], list[int]]:
    """``_pos`` of every stored change of ``table`` by primary key ``(a, b)``, in file order."""
    got: dict[tuple[Any, ...], list[int]] = {}
    for name, _, batch in parquet_changes(out):
        if name != table:
            continue
        rows = batch.select(["a", "b", "_pos"]).to_pylist()
        for row in rows:
            got.setdefault((row["a"], row["b"]), []).append(row["_pos"])
    return got


def test_prepared_rows_reach_the_sink_at_their_commit_and_never_after_a_rollback(
    mariadb: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = mariadb.connect()
    create_schema(conn, DB)
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {DB}.pairs VALUES (100, 'kept', 'before', 1), (101, 'gone', '', 1)")
    out = tmp_path / "parquet"
    _run(mariadb, DB, out, snapshot="initial")
    start = _stored(out)

    big, big_values = _rows(BIG, 1000)
    _prepare(
        mariadb,
        "'keep'",
        [
            f"INSERT INTO {DB}.pairs VALUES (1, 'keep', 'k1', 1), (2, 'keep', 'k2', 2)",
            f"UPDATE {DB}.pairs SET v = 'changed by keep' WHERE a = 100 AND b = 'kept'",
        ],
    )
    cur.execute(f"INSERT INTO {DB}.pairs VALUES (20, 'plain', 'before the outcomes', 1)")
    _prepare(
        mariadb,
        "'dr''op','q',7",
        [
            f"INSERT INTO {DB}.pairs VALUES (3, 'drop', 'rolled back', 3)",
            f"DELETE FROM {DB}.pairs WHERE a = 101 AND b = 'gone'",
        ],
    )
    # Larger than the budget: on disk from its first rows to its outcome.
    _prepare(mariadb, "'big'", [big], [big_values])

    with caplog.at_level(logging.INFO, logger="arrowtail.mysql"):
        first = _run(mariadb, DB, out, memory_budget=BUDGET)
    assert "X'626967',X'',1 prepared: its rows wait on disk" in caplog.text
    assert first.rows == 1, "only the plain insert has committed"
    stored = _stored(out)
    assert stored["xa"]["pos"] == start["pos"], "the checkpoint names where 'keep' was prepared"
    streamed = {k for k, p in _pos_of(out, f"{DB}.pairs").items() if max(p) > start["pos"]}
    assert streamed == {(20, "plain")}

    cur.execute("XA COMMIT 'keep'")
    cur.execute(f"INSERT INTO {DB}.pairs VALUES (21, 'plain', 'between', 1)")
    cur.execute("XA ROLLBACK 'dr''op','q',7")
    cur.execute("XA COMMIT 'big'")
    cur.execute(f"UPDATE {DB}.pairs SET n = n + 1 WHERE a IN (1, 1000, %s)", (999 + BIG,))

    # Read again from before 'keep' (by its GTID state): the plain insert is not stored twice.
    assert str(stored["xa"]["gtid"]).startswith("0-1-")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="arrowtail.mysql"):
        second = _run(mariadb, DB, out, memory_budget=BUDGET, resume_by="gtid")
    assert f"resuming by GTID state {stored['xa']['gtid']}" in caplog.text
    assert "X'626967',X'',1 prepared: its rows wait on disk" in caplog.text
    assert second.rows == 3 + 1 + BIG + 3
    stored = _stored(out)
    assert "xa" not in stored, "nothing is prepared any more"
    check_replay(out, conn, DB)
    keys = change_keys(out)
    assert len(keys) == len(set(keys)), "a change was stored twice"
    pos = _pos_of(out, f"{DB}.pairs")
    assert (3, "drop") not in pos
    assert len(pos[(101, "gone")]) == 1, "only the snapshot row: the delete was rolled back"
    # In commit order: 'keep' after the plain insert before it and before the one after it;
    # 'big' after that, and each row's own update after it.
    assert pos[(20, "plain")][0] < pos[(1, "keep")][0] == pos[(100, "kept")][1]
    assert pos[(1, "keep")][0] < pos[(21, "plain")][0] < pos[(1000, "big")][0]
    last = (999 + BIG, "big")
    assert pos[(1000, "big")][0] == pos[last][0] < pos[last][1]
    stored_pos = [p for _, p, _ in keys if p]
    assert stored_pos == sorted(stored_pos), "changes stored out of commit order"


def test_a_commit_of_a_transaction_prepared_before_the_stream_began_is_named(
    mariadb: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = "xa_early"
    conn = mariadb.connect()
    create_schema(conn, db)
    prepare = f"INSERT INTO {db}.pairs VALUES (1, 'early', 'prepared first', 1)"
    conn.cursor().execute(f"INSERT INTO {db}.pairs VALUES (9, 'seen', '', 1)")
    _prepare(mariadb, "'early'", [prepare])
    out = tmp_path / "parquet"
    # The snapshot does not see the prepared row, and the stream starts after its prepare.
    _run(mariadb, db, out, snapshot="initial")
    conn.cursor().execute("XA COMMIT 'early'")
    with caplog.at_level(logging.WARNING, logger="arrowtail.mysql"):
        _run(mariadb, db, out)
    warned = [r.getMessage() for r in caplog.records if "X'6561726c79',X'',1" in r.getMessage()]
    assert len(warned) == 1, caplog.text
    assert "prepared before the binlog position" in warned[0]
    assert set(_pos_of(out, f"{db}.pairs")) == {(9, "seen")}
