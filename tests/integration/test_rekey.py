"""A primary key changed at the source while streaming (``ALTER TABLE ... ADD PRIMARY KEY (a, b)``
in place of ``(a)``). The table's columns stay as they were, so its schema version did too, and
the database target kept applying changes by the old key: a row with the same ``a`` and another
``b`` overwrote the first, and the PostgreSQL source went on labelling its batches with the old
key. Now the source reads the new key, a target with ``--create-tables`` takes it (a MariaDB
target turns a LONGTEXT key column into the key's VARCHAR), and ``verify`` finds every target
equal: from a PostgreSQL source into PostgreSQL and MariaDB, and from MariaDB into PostgreSQL.
Iceberg and Delta mirrors, whose key columns are fixed when the table is made, merged by the old
key too; they now stop with an error that says what to do."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli, cli_popen
from tests.support.maria_into_pg import stream_into_postgres
from tests.support.pg_run import fresh_db, wait_slot_active
from tests.support.two_targets import fresh_source, stream_into_both

SCHEMA = "rekey"
DDL = f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.t (a int PRIMARY KEY, b text, v text);
INSERT INTO {SCHEMA}.t VALUES (1, 'x', 'one'), (2, 'x', 'two');
CREATE PUBLICATION rekeyp FOR TABLE {SCHEMA}.t;
"""
#: The rows both sources end with, by (a, b): two share a = 1.
EXPECTED = [
    (1, "x", "one"),
    (1, "y", "one-y"),
    (2, "x", "two!"),
    (3, "z", "three"),
]


def _rows(conn: Any, table: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT a, b, v FROM {table} ORDER BY a, b")
        return [tuple(r) for r in cur.fetchall()]


def test_a_new_primary_key_at_a_postgres_source_reaches_both_targets(
    postgres: Any, mariadb: Any
) -> None:
    src = fresh_source(postgres, mariadb, "rekey", DDL, SCHEMA)
    pg_target = postgres.connect(dbname="rekey_dst")
    my = mariadb.connect()
    two = stream_into_both(postgres, mariadb, src, "rekey", "rekeyp")
    src.execute(f"INSERT INTO {SCHEMA}.t VALUES (3, 'x', 'three')")
    src.execute(f"ALTER TABLE {SCHEMA}.t DROP CONSTRAINT t_pkey, ADD PRIMARY KEY (a, b)")
    src.execute(f"INSERT INTO {SCHEMA}.t VALUES (1, 'y', 'one-y')")
    src.execute(f"UPDATE {SCHEMA}.t SET v = 'two!' WHERE a = 2")
    src.execute(f"UPDATE {SCHEMA}.t SET b = 'z' WHERE a = 3")  # a key change by the new key
    for err in two.finish().values():
        assert "primary key (a) replaced by (a, b)" in err, err
    for out in two.verify(f"{SCHEMA}.t"):
        assert f"{SCHEMA}.t: equal (4 rows" in out
    assert _rows(pg_target, f"{SCHEMA}.t") == EXPECTED
    assert _rows(my, f"{SCHEMA}.t") == EXPECTED
    key = pg_target.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'rekey.t'::regclass AND i.indisprimary"
        " ORDER BY a.attname"
    ).fetchall()
    assert key == [("a",), ("b",)]
    with my.cursor() as cur:
        cur.execute(
            "SELECT column_name, column_type FROM information_schema.columns WHERE"
            f" table_schema = '{SCHEMA}' AND table_name = 't' AND column_key = 'PRI'"
            " ORDER BY column_name"
        )
        assert [tuple(r) for r in cur.fetchall()] == [("a", "int(11)"), ("b", "varchar(255)")]
        cur.execute(f"DROP DATABASE {SCHEMA}")
    my.close()
    src.close()


def test_a_new_primary_key_at_a_mariadb_source_reaches_a_postgres_target(
    mariadb: Any, postgres: Any
) -> None:
    db = "rekeymy"
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE TABLE {db}.t (a INT PRIMARY KEY, b VARCHAR(10) NOT NULL, v TEXT)")
        cur.execute(f"INSERT INTO {db}.t VALUES (1, 'x', 'one'), (2, 'x', 'two')")
    mariadb.grant_capture(db)
    run = stream_into_postgres(mariadb, postgres, f"{db}.t", "rekeymy_dst", "7433")
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {db}.t VALUES (3, 'x', 'three')")
        cur.execute(f"ALTER TABLE {db}.t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b)")
        cur.execute(f"INSERT INTO {db}.t VALUES (1, 'y', 'one-y')")
        cur.execute(f"UPDATE {db}.t SET v = 'two!' WHERE a = 2")
        cur.execute(f"UPDATE {db}.t SET b = 'z' WHERE a = 3")
    err = run.finish()
    assert "primary key (a) replaced by (a, b)" in err, err
    check = run.verify(f"{db}.t")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{db}.t: equal (4 rows" in check.stdout
    assert _rows(run.target, f"{db}.t") == EXPECTED
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {db}")
    conn.close()
    run.target.close()


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_lake_mirror_stops_at_a_new_primary_key(postgres: Any, tmp_path: Path, fmt: str) -> None:
    src = fresh_db(postgres, f"rekey_{fmt}")
    src.execute(DDL.replace("rekeyp", f"rekey{fmt}"))
    source = postgres.dsn_for(postgres.user, None, f"rekey_{fmt}")
    run = ["run", "--source", source, "--slot", f"rekey_{fmt}", "--publication", f"rekey{fmt}"]
    run += ["--to", f"{fmt}:{tmp_path / 'lake'}?mode=mirror", "--snapshot", "initial"]
    proc = cli_popen(*run, "--idle-exit", "3")
    wait_slot_active(src, f"rekey_{fmt}", proc)
    src.execute(f"ALTER TABLE {SCHEMA}.t DROP CONSTRAINT t_pkey, ADD PRIMARY KEY (a, b)")
    src.execute(f"INSERT INTO {SCHEMA}.t VALUES (1, 'y', 'one-y')")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 2, err
    assert (
        f"table {SCHEMA}.t: primary key changed from ['a'] to ['a', 'b']; the mirror table"
        " cannot follow (its key columns are fixed when it is made): mirror into a new location"
    ) in err, err
    src.close()


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_a_renamed_key_column_stops_until_the_target_has_it(
    postgres: Any, mariadb: Any, engine: str
) -> None:
    """A renamed key column arrives as a new column that is NULL in the rows already there: the
    run stops, saying how to mend the target, and goes on once that is done; the old key column
    then takes NULL in new rows."""
    src = fresh_db(postgres, f"rename_{engine}")
    src.execute(
        f"CREATE SCHEMA {SCHEMA}; CREATE TABLE {SCHEMA}.r (id int PRIMARY KEY, v text);"
        f" INSERT INTO {SCHEMA}.r VALUES (1, 'a'); CREATE PUBLICATION renamep FOR ALL TABLES"
    )
    source = postgres.dsn_for(postgres.user, None, f"rename_{engine}")
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password)
    if engine == "postgres":
        mend = fresh_db(postgres, f"rename_{engine}_dst")
        target = postgres.dsn_for(postgres.user, None, f"rename_{engine}_dst")
    else:
        mend = mariadb.connect()
        mend.autocommit(True)
        with mend.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
        target = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    run = ["run", "--source", source, "--slot", f"rename_{engine}", "--publication", "renamep"]
    run += ["--to", f"{target}?sink_name=rename", "--create-tables", "--idle-exit", "2"]
    first = cli(*run, "--snapshot", "initial", env=env)
    assert first.returncode == 0, first.stderr
    src.execute(f"ALTER TABLE {SCHEMA}.r RENAME COLUMN id TO uid")
    src.execute(f"INSERT INTO {SCHEMA}.r VALUES (2, 'b')")
    stopped = cli(*run, env=env)
    assert stopped.returncode != 0
    assert "(uid) would be NULL in rows already there, so it cannot be the primary key yet" in (
        stopped.stderr
    ), stopped.stderr
    with mend.cursor() as cur:
        if engine == "postgres":  # the target's ALTER was rolled back with the rest
            cur.execute(f"ALTER TABLE {SCHEMA}.r ADD COLUMN uid integer")
        cur.execute(f"UPDATE {SCHEMA}.r SET uid = id")
    again = cli(*run, env=env)
    assert again.returncode == 0, again.stderr
    assert "primary key (id) replaced by (uid)" in again.stderr, again.stderr
    check = cli(
        "verify", "--source", source, "--against", target, "--tables", f"{SCHEMA}.r", env=env
    )
    assert check.returncode == 0, check.stdout + check.stderr
    with mend.cursor() as cur:
        cur.execute(f"SELECT id, uid, v FROM {SCHEMA}.r ORDER BY uid")
        assert [tuple(r) for r in cur.fetchall()] == [(1, 1, "a"), (None, 2, "b")]
        if engine == "mariadb":
            cur.execute(f"DROP DATABASE {SCHEMA}")
    mend.close()
    src.close()
