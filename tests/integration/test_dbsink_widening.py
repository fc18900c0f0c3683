"""A source column widened while streaming (``int`` to ``bigint``, ``real`` to ``double
precision``, ``numeric(6,2)`` to ``numeric(12,4)``, the key included: the usual fix for a key
running out of values) is widened in a database target with ``--create-tables`` before the first
value that needs it, on a PostgreSQL and on a MariaDB target (whose ``MODIFY COLUMN`` keeps the
column's NOT NULL, default and AUTO_INCREMENT); ``arrowtail verify`` then finds both equal.
Before, the run stopped with "value out of range for type integer" (or "numeric field
overflow")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.pg_run import fresh_db
from tests.support.two_targets import stream_into_both

SCHEMA = "widen"
DDL = f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.t (
  id integer PRIMARY KEY, n integer, r real, small smallint NOT NULL DEFAULT 0, note text,
  amt numeric(6,2)
);
INSERT INTO {SCHEMA}.t VALUES (1, 10, 1.5, 1, 'before', 1234.56), (2, NULL, NULL, 2, NULL, NULL);
CREATE PUBLICATION widenp FOR TABLE {SCHEMA}.t;
"""
#: The MariaDB target made beforehand, with what a MODIFY COLUMN must not lose.
MY_TABLE = (
    f"CREATE TABLE {SCHEMA}.t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, n INT, r FLOAT,"
    " small SMALLINT NOT NULL DEFAULT 7, note LONGTEXT, amt DECIMAL(6,2) DEFAULT 0)"
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
    src.execute(f"INSERT INTO {SCHEMA}.t VALUES (3, 30, 3.5, 3, 'narrow', -9999.99)")
    src.execute(
        f"ALTER TABLE {SCHEMA}.t ALTER COLUMN id TYPE bigint, ALTER COLUMN n TYPE bigint,"
        " ALTER COLUMN r TYPE double precision, ALTER COLUMN small TYPE integer,"
        " ALTER COLUMN amt TYPE numeric(12,4)"
    )
    src.execute(
        f"INSERT INTO {SCHEMA}.t VALUES (5000000000, 6000000000, 1e300, 100000, 'wide',"
        " 12345678.1234)"
    )
    src.execute(f"UPDATE {SCHEMA}.t SET n = -7000000000, small = -70000 WHERE id = 1")
    src.execute(f"DELETE FROM {SCHEMA}.t WHERE id = 2")
    for err in two.finish().values():
        assert "widening id (integer to bigint)" in err or "widening id (int to BIGINT)" in err
    for out in two.verify("widen.t"):
        assert "widen.t: equal (3 rows" in out
    types = dict(
        pg_target.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'widen.t'::regclass AND attnum > 0 AND NOT attisdropped"
        ).fetchall()
    )
    assert types == {
        "id": "bigint",
        "n": "bigint",
        "r": "double precision",
        "small": "integer",
        "note": "text",
        "amt": "numeric(12,4)",
    }
    with my.cursor() as cur:
        cur.execute(
            "SELECT column_name, column_type, is_nullable, column_default, extra"
            " FROM information_schema.columns WHERE table_schema = 'widen' AND table_name = 't'"
            " ORDER BY ordinal_position"
        )
        described = [tuple(str(v) for v in row) for row in cur.fetchall()]
        cur.execute(f"SELECT id, n, r, small, amt FROM {SCHEMA}.t ORDER BY id")
        rows = cur.fetchall()
        cur.execute(f"DROP DATABASE {SCHEMA}")
    assert described == [
        ("id", "bigint(20)", "NO", "None", "auto_increment"),
        ("n", "bigint(20)", "YES", "NULL", ""),
        ("r", "double", "YES", "NULL", ""),
        ("small", "int(11)", "NO", "7", ""),
        ("note", "longtext", "YES", "NULL", ""),
        ("amt", "decimal(12,4)", "YES", "0.0000", ""),
    ]
    assert rows == (
        (1, -7000000000, 1.5, -70000, Decimal("1234.5600")),
        (3, 30, 3.5, 3, Decimal("-9999.9900")),
        (5000000000, 6000000000, 1e300, 100000, Decimal("12345678.1234")),
    )
    my.close()
    src.close()
    pg_target.close()
