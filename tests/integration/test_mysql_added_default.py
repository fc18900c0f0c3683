"""A column added at a MariaDB source while streaming: the server gives the rows already there the
column's default (or the type's implicit default for a NOT NULL column) and logs no row change for
them, so a database target that adds the column (``--create-tables``) used to hold NULL there
until each row next changed, and ``verify`` named every one. The source now reads the value from
the ``ALTER TABLE`` in the binlog, the target sets it in its rows, and ``verify`` finds the
PostgreSQL target equal; a default it cannot read (``CURRENT_TIMESTAMP``) is a warning naming the
column."""

from __future__ import annotations

import re
from typing import Any

from tests.support.maria_into_pg import stream_into_postgres

DB = "myadddef"


def test_rows_already_there_get_the_added_columns_value(mariadb: Any, postgres: Any) -> None:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(f"CREATE TABLE {DB}.t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute(f"CREATE TABLE {DB}.stamped (id INT PRIMARY KEY)")
        cur.execute(f"CREATE TABLE {DB}.priced (id INT PRIMARY KEY, qty INT, price DECIMAL(6,2))")
        for i in range(1, 31):
            cur.execute(f"INSERT INTO {DB}.t VALUES (%s, %s)", (i, f"v{i}"))
            cur.execute(f"INSERT INTO {DB}.stamped VALUES (%s)", (i,))
            cur.execute(f"INSERT INTO {DB}.priced VALUES (%s, %s, %s)", (i, i, i + 0.25))
    mariadb.grant_capture(DB)
    run = stream_into_postgres(mariadb, postgres, f"{DB}.*", "myadddef_dst", "7431")
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {DB}.t SET v = 'before' WHERE id = 1")
        cur.execute(
            f"ALTER TABLE {DB}.t ADD COLUMN status VARCHAR(10) NOT NULL DEFAULT 'new',"
            " ADD COLUMN n DECIMAL(6,2) DEFAULT 2.5, ADD COLUMN day DATE DEFAULT '2024-02-29'"
            " AFTER id, ADD COLUMN cnt INT NOT NULL, ADD COLUMN lvl ENUM('low','high') NOT NULL,"
            " ADD COLUMN note VARCHAR(20) DEFAULT _utf8mb4'it''s',"
            " ADD COLUMN quiet INT"  # no default: NULL in the old rows on both sides
        )
        cur.execute(
            f"INSERT INTO {DB}.t (id, v, status, n, day, cnt, lvl, note, quiet)"
            " VALUES (100, 'after', 'own', 9.75, '2025-01-01', 7, 'high', 'mine', 3)"
        )
        cur.execute(f"UPDATE {DB}.t SET status = 'changed' WHERE id = 2")
        cur.execute(f"INSERT INTO {DB}.t (id, v, cnt, lvl) VALUES (101, 'defaults', 0, 'low')")
        cur.execute(f"ALTER TABLE {DB}.stamped ADD COLUMN at DATETIME DEFAULT CURRENT_TIMESTAMP")
        cur.execute(f"INSERT INTO {DB}.stamped (id) VALUES (100)")
        # A scale made smaller rounds the rows already there (1.25 -> 1.3), with no row event
        # for them; a wider integer keeps its values.
        cur.execute(f"UPDATE {DB}.priced SET qty = 0 WHERE id = 30")
        cur.execute(f"ALTER TABLE {DB}.priced MODIFY price DECIMAL(6,1), MODIFY qty BIGINT")
        cur.execute(f"INSERT INTO {DB}.priced VALUES (100, 1, 2.5)")
    err = run.finish()
    assert (
        f"{DB}.priced: column(s) price (decimal128(6, 2) to decimal128(6, 1)) of another type:"
        " MySQL/MariaDB converted the rows already there"
    ) in err, err
    priced = run.verify(f"{DB}.priced")
    assert priced.returncode == 1, priced.stdout + priced.stderr
    assert "different 30:" in priced.stdout and "in column(s): price (30)" in priced.stdout
    assert (
        "day = '2024-02-29', status = 'new', n = '2.5', cnt = '0', lvl = 'low', note = \"it's\""
        " in the rows already there" in err
    ), err
    assert f"{DB}.stamped: ALTER TABLE added at (the default is an expression)" in err, err

    check = run.verify(f"{DB}.t")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{DB}.t: equal (32 rows" in check.stdout
    rows = run.target.execute(
        f"SELECT id, status, n::text, day::text, cnt, lvl, note, quiet FROM {DB}.t"
        " WHERE id IN (1, 2, 3, 100, 101) ORDER BY id"
    ).fetchall()
    assert rows == [
        (1, "new", "2.50", "2024-02-29", 0, "low", "it's", None),
        (2, "changed", "2.50", "2024-02-29", 0, "low", "it's", None),
        (3, "new", "2.50", "2024-02-29", 0, "low", "it's", None),
        (100, "own", "9.75", "2025-01-01", 7, "high", "mine", 3),
        (101, "new", "2.50", "2024-02-29", 0, "low", "it's", None),
    ]
    # The warned-of column stays NULL in the old rows, and verify names them.
    stamped = run.verify(f"{DB}.stamped")
    assert stamped.returncode == 1, stamped.stdout + stamped.stderr
    assert "different 30:" in stamped.stdout, stamped.stdout
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {DB}")
    conn.close()
    run.target.close()


def _databases(mariadb: Any, db: str, *setup: str) -> Any:
    """Databases ``db`` (captured) and ``{db}_out`` (not) made anew, then ``setup`` run, ``db``
    granted to the capture user; the open connection."""
    conn = mariadb.connect()
    with conn.cursor() as cur:
        for name in (db, f"{db}_out"):
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            cur.execute(f"CREATE DATABASE {name}")
        for statement in setup:
            cur.execute(statement)
    mariadb.grant_capture(db)
    return conn


def test_a_table_renamed_into_the_capture_is_named(mariadb: Any, postgres: Any) -> None:
    """``RENAME TABLE`` of a table from outside the capture into it brings its rows under the new
    name without a row event for any: the target's table of that name lacks them. No
    incremental snapshot of a MySQL/MariaDB table exists, so a warning names it, and ``verify``
    shows what it says; a table renamed within the capture is named too."""
    db = f"{DB}_ren"
    conn = _databases(
        mariadb,
        db,
        f"CREATE TABLE {db}.kept (id INT PRIMARY KEY)",
        f"INSERT INTO {db}.kept VALUES (1), (2)",
        f"CREATE TABLE {db}_out.moved (id INT PRIMARY KEY, v INT)",
        f"INSERT INTO {db}_out.moved SELECT seq, seq FROM {db}_out.seq_1_to_10",
    )
    run = stream_into_postgres(mariadb, postgres, f"{db}.*", "myren_dst", "7432")
    with conn.cursor() as cur:
        cur.execute(f"RENAME TABLE {db}_out.moved TO {db}.moved")
        cur.execute(f"INSERT INTO {db}.moved VALUES (11, 11)")
        cur.execute(f"ALTER TABLE {db}.kept RENAME TO {db}.kept2")
        cur.execute(f"INSERT INTO {db}.kept2 VALUES (3)")
        cur.execute(f"DROP DATABASE {db}_out")
    conn.close()
    err = run.finish()
    assert f"{db}.moved: renamed from {db}_out.moved, with the rows it held then" in err, err
    assert f"{db}.kept2: renamed from {db}.kept," in err, err
    moved = run.verify(f"{db}.moved")
    assert moved.returncode == 1, moved.stdout + moved.stderr
    assert "missing 10:" in moved.stdout


def test_changes_logged_as_statements_are_named(mariadb: Any, postgres: Any) -> None:
    """A session may write with ``binlog_format`` STATEMENT (or MIXED, which logs a
    deterministic statement as such): its changes carry no rows, the source cannot read them,
    and they were skipped without a word. They are now named in a warning by table and binlog
    position (never by the statement's text), only for captured tables."""
    db = f"{DB}_stmt"
    conn = _databases(
        mariadb,
        db,
        f"CREATE TABLE {db}.t (id INT PRIMARY KEY, secret VARCHAR(20))",
        f"CREATE TABLE {db}_out.o (id INT PRIMARY KEY)",
        f"INSERT INTO {db}.t VALUES (1, 'a')",
    )
    run = stream_into_postgres(mariadb, postgres, f"{db}.*", "mystmt_dst", "7434")
    with conn.cursor() as cur:
        cur.execute("SET SESSION binlog_format = 'STATEMENT'")
        cur.execute(f"INSERT INTO {db}.t VALUES (2, 'hunter2')")
        cur.execute(f"UPDATE {db}.t SET secret = 'b' WHERE id = 1")
        cur.execute(f"INSERT INTO {db}_out.o VALUES (1)")  # not captured: not named
        cur.execute("SET SESSION binlog_format = 'MIXED'")
        cur.execute(f"DELETE FROM {db}.t WHERE id = 2")
        cur.execute("SET SESSION binlog_format = 'ROW'")
        cur.execute(f"INSERT INTO {db}.t VALUES (3, 'c')")
        cur.execute(f"DROP DATABASE {db}_out")
    conn.close()
    err = run.finish()
    # One warning per poll that met such statements.
    counts = re.findall(
        rf"{db}\.t: (\d+) change\(s\) logged as statements .* at binlog mysql-bin", err
    )
    assert sum(int(n) for n in counts) == 3, err
    assert "hunter2" not in err and f"{db}_out" not in err
    check = run.verify(f"{db}.t")
    assert check.returncode == 1 and "different 1: 1" in check.stdout, check.stdout


def test_tables_that_joined_the_capture_between_runs_are_read_on_restart(
    mariadb: Any, postgres: Any
) -> None:
    """The stored position names the tables the target holds; a restart reads the ones captured
    now that it does not name before resuming the binlog: a table added to ``--tables``, and
    one renamed into the capture while no run streamed. Changes to them between the stored
    position and the restart come again after their rows, which leaves each row as it is."""
    db = f"{DB}_join"
    conn = _databases(
        mariadb,
        db,
        f"CREATE TABLE {db}.a (id INT PRIMARY KEY, v INT)",
        f"INSERT INTO {db}.a SELECT seq, seq FROM {db}.seq_1_to_5",
        f"CREATE TABLE {db}.b (id INT PRIMARY KEY, v INT)",
        f"INSERT INTO {db}.b SELECT seq, seq FROM {db}.seq_1_to_20",
        f"CREATE TABLE {db}_out.moved (id INT PRIMARY KEY, v INT)",
        f"INSERT INTO {db}_out.moved SELECT seq, seq FROM {db}_out.seq_1_to_10",
    )
    mariadb.grant_capture(f"{db}_out")
    # A pattern: the table is not there yet.
    first = stream_into_postgres(mariadb, postgres, f"{db}.a,{db}.mov*", "myjoin_dst", "7435")
    assert f"{db}.b" not in first.finish()
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {db}.b SET v = -v WHERE id <= 3")
        cur.execute(f"DELETE FROM {db}.b WHERE id = 4")
        cur.execute(f"RENAME TABLE {db}_out.moved TO {db}.moved")
        cur.execute(f"UPDATE {db}.a SET v = 50 WHERE id = 5")
    tables = f"{db}.a,{db}.b,{db}.mov*"
    again = stream_into_postgres(mariadb, postgres, tables, "myjoin_dst", "7435", fresh=False)
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {db}.b SET v = 100 WHERE id = 20")
    err = again.finish()
    assert f"{db}.b, {db}.moved joined the capture while no run streamed" in err, err
    # Read after the rename: no warning of rows missing.
    assert "renamed from" not in err, err
    check = again.verify(f"{db}.a,{db}.b,{db}.moved")
    assert check.returncode == 0, check.stdout + check.stderr
    for table, rows in ((f"{db}.a", 5), (f"{db}.b", 19), (f"{db}.moved", 10)):
        assert f"{table}: equal ({rows} rows" in check.stdout, check.stdout
    # The positions stored since name them: a third run reads nothing again.
    third = stream_into_postgres(mariadb, postgres, tables, "myjoin_dst", "7435", fresh=False)
    assert "joined the capture" not in third.finish()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {db}")
        cur.execute(f"DROP DATABASE {db}_out")
    conn.close()
    for run in (first, again, third):
        run.target.close()


def test_a_column_added_between_runs_gets_its_value_in_old_rows(
    mariadb: Any, postgres: Any
) -> None:
    """``ADD COLUMN ... DEFAULT`` while no run streams: the restart reads the statement from the
    binlog, and the table's first change of the run already has the column. The column was
    added after the stored position, so every target row predates it and gets its value."""
    db = f"{DB}_stop"
    conn = _databases(
        mariadb,
        db,
        f"CREATE TABLE {db}.x (id INT PRIMARY KEY, v INT)",
        f"INSERT INTO {db}.x SELECT seq, seq FROM {db}.seq_1_to_5",
    )
    first = stream_into_postgres(mariadb, postgres, f"{db}.*", "mystop_dst", "7436")
    first.finish()
    first.target.close()
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {db}.x ADD COLUMN z INT NOT NULL DEFAULT 3")
        cur.execute(f"UPDATE {db}.x SET v = 50 WHERE id = 5")
    again = stream_into_postgres(mariadb, postgres, f"{db}.*", "mystop_dst", "7436", fresh=False)
    err = again.finish()
    assert "z = '3' in the rows already there" in err, err
    check = again.verify(f"{db}.x")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{db}.x: equal (5 rows" in check.stdout
    assert again.target.execute(f"SELECT sum(z) FROM {db}.x").fetchone() == (15,)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {db}")
        cur.execute(f"DROP DATABASE {db}_out")
    conn.close()
    again.target.close()
