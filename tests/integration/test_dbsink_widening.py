"""A source column widened while streaming (``int`` to ``bigint``, ``real`` to ``double
precision``, the key included: the usual fix for a key running out of values) is widened in a
database target with ``--create-tables`` before the first value that needs it, on a PostgreSQL and
on a MariaDB target (whose ``MODIFY COLUMN`` keeps the column's NOT NULL, default and
AUTO_INCREMENT); ``arrowtail verify`` then finds both equal. Before, the run stopped with
"value out of range for type integer"."""

from __future__ import annotations

from typing import Any

from tests.support.pg_run import fresh_db
from tests.support.two_targets import stream_into_both

SCHEMA = "widen"
DDL = f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.t (
  id integer PRIMARY KEY, n integer, r real, small smallint NOT NULL DEFAULT 0, note text
);
INSERT INTO {SCHEMA}.t VALUES (1, 10, 1.5, 1, 'before'), (2, NULL, NULL, 2, NULL);
CREATE PUBLICATION widenp FOR TABLE {SCHEMA}.t;
"""
#: The MariaDB target made beforehand, with what a MODIFY COLUMN must not lose.
MY_TABLE = (
    f"CREATE TABLE {SCHEMA}.t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, n INT, r FLOAT,"
    " small SMALLINT NOT NULL DEFAULT 7, note LONGTEXT)"
)


def test_widened_source_columns_are_widened_in_both_targets(postgres: Any, mariadb: Any) -> None:
    src = fresh_db(postgres, "widen_src")
    src.execute(DDL)
    pg_target = fresh_db(postgres, "widen_dst")
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
        cur.execute(f"CREATE DATABASE {SCHEMA}")
        cur.execute(MY_TABLE)
    two = stream_into_both(postgres, mariadb, src, "widen", "widenp")
    src.execute(f"INSERT INTO {SCHEMA}.t VALUES (3, 30, 3.5, 3, 'narrow')")
    src.execute(
        f"ALTER TABLE {SCHEMA}.t ALTER COLUMN id TYPE bigint, ALTER COLUMN n TYPE bigint,"
        " ALTER COLUMN r TYPE double precision, ALTER COLUMN small TYPE integer"
    )
    src.execute(f"INSERT INTO {SCHEMA}.t VALUES (5000000000, 6000000000, 1e300, 100000, 'wide')")
    src.execute(f"UPDATE {SCHEMA}.t SET n = -7000000000, small = -70000 WHERE id = 1")
    src.execute(f"DELETE FROM {SCHEMA}.t WHERE id = 2")
    for err in two.finish().values():
        assert "widening id (integer to bigint)" in err or "widening id (int to BIGINT)" in err
    for out in two.verify("widen.t"):
        assert "widen.t: equal (3 rows" in out
    types = dict(
        pg_target.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'widen' AND table_name = 't'"
        ).fetchall()
    )
    assert types == {
        "id": "bigint",
        "n": "bigint",
        "r": "double precision",
        "small": "integer",
        "note": "text",
    }
    with my.cursor() as cur:
        cur.execute(
            "SELECT column_name, column_type, is_nullable, column_default, extra"
            " FROM information_schema.columns WHERE table_schema = 'widen' AND table_name = 't'"
            " ORDER BY ordinal_position"
        )
        described = [tuple(str(v) for v in row) for row in cur.fetchall()]
        cur.execute(f"SELECT id, n, r, small FROM {SCHEMA}.t ORDER BY id")
        rows = cur.fetchall()
        cur.execute(f"DROP DATABASE {SCHEMA}")
    assert described == [
        ("id", "bigint(20)", "NO", "None", "auto_increment"),
        ("n", "bigint(20)", "YES", "NULL", ""),
        ("r", "double", "YES", "NULL", ""),
        ("small", "int(11)", "NO", "7", ""),
        ("note", "longtext", "YES", "NULL", ""),
    ]
    assert rows == (
        (1, -7000000000, 1.5, -70000),
        (3, 30, 3.5, 3),
        (5000000000, 6000000000, 1e300, 100000),
    )
    my.close()
    src.close()
    pg_target.close()
