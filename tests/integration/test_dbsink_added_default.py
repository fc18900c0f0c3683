"""A column added at a PostgreSQL source with a default while streaming: the source's existing rows
hold the default without any change for them in the WAL, so a database target that adds the column
(``--create-tables``) used to hold NULL there until each row next changed, and ``verify`` named
every one. The target now gives its rows the value PostgreSQL keeps for them (the column's
"missing value"), on a PostgreSQL and on a MariaDB target; rows written after the change keep
their own values, and ``verify`` finds both targets equal."""

from __future__ import annotations

from typing import Any

from tests.support.pg_run import fresh_db
from tests.support.two_targets import stream_into_both

SCHEMA = "adddef"
DDL = f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.t (id int PRIMARY KEY, v text);
INSERT INTO {SCHEMA}.t SELECT g, 'v' || g FROM generate_series(1, 50) g;
CREATE PUBLICATION adddefp FOR TABLE {SCHEMA}.t;
"""


def test_rows_already_there_get_the_added_columns_default(postgres: Any, mariadb: Any) -> None:
    src = fresh_db(postgres, "adddef_src")
    src.execute(DDL)
    fresh_db(postgres, "adddef_dst").close()
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
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
