"""A column added at a PostgreSQL source with a default while streaming: the source's existing rows
hold the default without any change for them in the WAL, so a database target that adds the column
(``--create-tables``) used to hold NULL there until each row next changed, and ``verify`` named
every one. The target now gives its rows the value PostgreSQL keeps for them (the column's
"missing value"), on a PostgreSQL and on a MariaDB target; rows written after the change keep
their own values, and ``verify`` finds both targets equal."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from tests.support.two_targets import fresh_source, stream_into_both

SCHEMA = "adddef"
DDL = f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.t (id int PRIMARY KEY, v text);
INSERT INTO {SCHEMA}.t SELECT g, 'v' || g FROM generate_series(1, 50) g;
CREATE PUBLICATION adddefp FOR TABLE {SCHEMA}.t;
"""


def test_rows_already_there_get_the_added_columns_default(postgres: Any, mariadb: Any) -> None:
    src = fresh_source(postgres, mariadb, "adddef", DDL, SCHEMA)
    my = mariadb.connect()
    two = stream_into_both(postgres, mariadb, src, "adddef", "adddefp")
    src.execute(f"UPDATE {SCHEMA}.t SET v = 'before' WHERE id = 1")
    src.execute(
        f"ALTER TABLE {SCHEMA}.t ADD COLUMN status text NOT NULL DEFAULT 'new',"
        " ADD COLUMN n numeric(6,2) DEFAULT 2.5, ADD COLUMN day date DEFAULT '2024-02-29',"
        " ADD COLUMN quiet int"  # no default: NULL in the old rows on both sides
    )
    src.execute(f"INSERT INTO {SCHEMA}.t VALUES (100, 'after', 'own', 9.75, '2025-01-01', 3)")
    src.execute(f"UPDATE {SCHEMA}.t SET status = 'changed' WHERE id = 2")
    src.execute(f"INSERT INTO {SCHEMA}.t (id, v) VALUES (101, 'defaults')")
    for err in two.finish().values():
        assert "status = 'new', n = '2.50', day = '2024-02-29' in the rows already there" in err
    for out in two.verify("adddef.t"):
        assert "adddef.t: equal (52 rows" in out
    with my.cursor() as cur:
        cur.execute(
            f"SELECT id, status, n, day, quiet FROM {SCHEMA}.t"
            " WHERE id IN (1, 2, 3, 100, 101) ORDER BY id"
        )
        rows = [tuple(str(v) for v in r) for r in cur.fetchall()]
        cur.execute(f"DROP DATABASE {SCHEMA}")
    assert rows == [
        ("1", "new", "2.50", "2024-02-29", "None"),
        ("2", "changed", "2.50", "2024-02-29", "None"),
        ("3", "new", "2.50", "2024-02-29", "None"),
        ("100", "own", "9.75", "2025-01-01", "3"),
        ("101", "new", "2.50", "2024-02-29", "None"),
    ]
    my.close()
    src.close()


REWRITE_DDL = """
CREATE SCHEMA rwdef;
CREATE TABLE rwdef.t (id int PRIMARY KEY, v text, num int, price numeric(6,2));
INSERT INTO rwdef.t SELECT g, 'v' || g, g, g + 0.25 FROM generate_series(1, 40) g;
CREATE PUBLICATION rwdefp FOR TABLE rwdef.t;
"""


def test_columns_a_table_rewrite_filled_are_read_again(postgres: Any, mariadb: Any) -> None:
    """Columns whose values PostgreSQL writes into the rows already there by rewriting the table
    (a volatile default, a serial or identity column, a default added by an ALTER that rewrites
    the table for a type change, a type change that rounds) leave no missing value and no
    change: the source asks for an incremental snapshot of the table, and both targets end
    equal. A constant default (a missing value, filled by the targets), a column without one and
    a widened type are not named."""
    src = fresh_source(postgres, mariadb, "rwdef", REWRITE_DDL, "rwdef")
    my = mariadb.connect()
    two = stream_into_both(postgres, mariadb, src, "rwdef", "rwdefp")
    # A rewrite is not MVCC-safe: a snapshot taken before it and read after it finds the table
    # empty. Both initial snapshots are in the targets first.
    _wait_for_rows(postgres, my, "rwdef", 40)
    src.execute("ALTER TABLE rwdef.t ADD COLUMN at timestamptz NOT NULL DEFAULT now()")
    src.execute("ALTER TABLE rwdef.t ADD COLUMN n bigserial")
    src.execute("ALTER TABLE rwdef.t ADD COLUMN g int GENERATED ALWAYS AS IDENTITY")
    src.execute("ALTER TABLE rwdef.t ALTER COLUMN num TYPE bigint, ADD COLUMN k int DEFAULT 7")
    src.execute("ALTER TABLE rwdef.t ALTER COLUMN price TYPE numeric(6,1)")  # 1.25 -> 1.3
    src.execute("ALTER TABLE rwdef.t ADD COLUMN m int DEFAULT 5, ADD COLUMN q int")
    src.execute("UPDATE rwdef.t SET v = 'changed' WHERE id = 2")
    src.execute("INSERT INTO rwdef.t (id, v) VALUES (100, 'after')")
    filled = src.execute(
        "SELECT count(*) FROM rwdef.t WHERE at IS NOT NULL AND n > 0 AND g > 0 AND k = 7"
    ).fetchone()
    assert filled == (41,)
    for err in two.finish().values():
        assert (
            "rwdef.t: PostgreSQL rewrote the table with values no change carries, in columns"
            " at, n, g, k added with a default or identity; price (decimal128(6, 2) to"
            " decimal128(6, 1)) of another type: reading the table again by an incremental"
            " snapshot"
        ) in err, err
        assert "incremental snapshot" in err and "rwdef.t done, 41 rows" in err, err
        assert "m = '5' in the rows already there" in err, err
    for out in two.verify("rwdef.t"):
        assert "rwdef.t: equal (41 rows" in out
    with my.cursor() as cur:
        cur.execute("SELECT count(*) FROM rwdef.t WHERE at IS NOT NULL AND n > 0 AND k = 7")
        assert cur.fetchone() == (41,)
        cur.execute("DROP DATABASE rwdef")
    my.close()
    src.close()


STOPPED_DDL = """
CREATE SCHEMA rwstop;
CREATE TABLE rwstop.t (id int PRIMARY KEY, v text, price numeric(6,2));
INSERT INTO rwstop.t SELECT g, 'v' || g, g + 0.25 FROM generate_series(1, 30) g;
CREATE TABLE rwstop.u (id int PRIMARY KEY, v text);
INSERT INTO rwstop.u SELECT g, 'u' || g FROM generate_series(1, 20) g;
CREATE TABLE rwstop.w (id int PRIMARY KEY, v text);
INSERT INTO rwstop.w SELECT g, 'w' || g FROM generate_series(1, 10) g;
CREATE PUBLICATION rwstopp FOR TABLE rwstop.t, rwstop.u, rwstop.w;
"""


def test_a_table_rewritten_between_runs_is_read_again(postgres: Any, mariadb: Any) -> None:
    """A rewrite while no run streams leaves the next run nothing to compare the table's new
    columns with (the stream's first layout of it is the new one), and with no change to the
    table, not even a column for the targets to add. The stored position keeps each table's
    catalog fingerprint, so the restart reads the rewritten table again. A column added with a
    constant default (a missing value, which a target fills only for a column it saw arrive in
    the run, or one the source says was added since the run's start) is marked so, and the
    targets fill it; a table rewritten with the same columns (``VACUUM FULL``) is not read."""
    src = fresh_source(postgres, mariadb, "rwstop", STOPPED_DDL, "rwstop")
    stream_into_both(postgres, mariadb, src, "rwstop", "rwstopp").finish()
    src.execute("ALTER TABLE rwstop.t ADD COLUMN at timestamptz NOT NULL DEFAULT now()")
    src.execute("ALTER TABLE rwstop.t ALTER COLUMN price TYPE numeric(6,1)")  # 1.25 -> 1.3
    src.execute("VACUUM FULL rwstop.u")
    src.execute("ALTER TABLE rwstop.w ADD COLUMN z int DEFAULT 3")
    src.execute("UPDATE rwstop.w SET v = 'changed' WHERE id = 1")
    two = stream_into_both(postgres, mariadb, src, "rwstop", "rwstopp")
    for err in two.finish().values():
        assert (
            "rwstop.t: PostgreSQL rewrote the table with other columns while no run streamed"
        ) in err, err
        assert "rwstop.t done, 30 rows" in err, err
        # Not read: the column is marked added since the run's start, and the targets fill it.
        assert "rwstop.w: column(s) z added with a default while no run streamed" in err, err
        assert "z = '3' in the rows already there" in err and "rwstop.w done" not in err, err
        assert "rwstop.u: " not in err and "rwstop.u done" not in err, err
    for table, rows in (("rwstop.t", 30), ("rwstop.u", 20), ("rwstop.w", 10)):
        for out in two.verify(table):
            assert f"{table}: equal ({rows} rows" in out
    # Read once: the next run finds the fingerprints it stored.
    for err in stream_into_both(postgres, mariadb, src, "rwstop", "rwstopp").finish().values():
        assert "rewrote" not in err and "incremental snapshot" not in err, err
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute("SELECT count(*), sum(price) FROM rwstop.t WHERE `at` IS NOT NULL")
        assert cur.fetchone() == (30, Decimal("474.0"))
        cur.execute("DROP DATABASE rwstop")
    my.close()
    src.close()


def _wait_for_rows(postgres: Any, my: Any, name: str, rows: int) -> None:
    """Waits until ``{name}.t`` holds ``rows`` rows in the PostgreSQL target ``{name}_dst`` and
    in the MariaDB target (open as ``my``)."""
    deadline = time.monotonic() + 120
    while True:
        counts = []
        try:
            with postgres.connect(dbname=f"{name}_dst") as pg:
                counts.append(pg.execute(f"SELECT count(*) FROM {name}.t").fetchone()[0])
            with my.cursor() as cur:
                cur.execute(f"SELECT count(*) FROM {name}.t")
                counts.append(cur.fetchone()[0])
        except Exception:  # the tables are created with the first rows
            counts = []
        if counts == [rows, rows]:
            return
        assert time.monotonic() < deadline, f"initial snapshots not in the targets: {counts}"
        time.sleep(0.2)
