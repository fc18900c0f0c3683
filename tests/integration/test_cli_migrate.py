"""Cross-engine migrations through the CLI on real servers: ``arrowtail run --to DB
--create-tables`` streams a mixed-type workload (inserts, updates with key changes, deletes,
NULLs, unicode, decimals, dates and times, JSON, binary) from MariaDB into PostgreSQL and from
PostgreSQL into MariaDB while it runs; ``arrowtail verify`` then says equal, and after a row of the
target is changed behind the stream's back it exits 1 and names that key."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from tests.support.cli import cli, cli_popen
from tests.support.mysql_run import (
    PASSWORD_ENV,
    app_url,
    create_schema,
    dump_threads,
    wait_for_dump,
    workload,
)
from tests.support.pg_run import fresh_db, wait_slot_active

MY_DB = "mig_my"
PG_SCHEMA = "migpg"
# Column types --create-tables gives MariaDB columns in PostgreSQL (examples/migration.md).
MAPPED = {
    "d": "numeric",
    "dw": "text",  # DECIMAL(50,20): wider than 38 digits
    "dtm": "timestamp without time zone",
    "ts": "timestamp with time zone",
    "tm": "interval",
    "biu": "numeric",
    "b64": "numeric",
    "s": "ARRAY",
    "e": "text",
    "j": "text",
    "bl": "bytea",
}
PG_DDL = f"""
CREATE SCHEMA {PG_SCHEMA};
CREATE TABLE {PG_SCHEMA}.items (
  id bigint PRIMARY KEY, name text, qty integer, price numeric(12,3), day date,
  at timestamptz, ts timestamp(6), doc jsonb, blob bytea, flag boolean, ratio double precision,
  tags text[], scores numeric(6,2)[]
);
CREATE TABLE {PG_SCHEMA}.pairs (a integer, b varchar(20), v text, PRIMARY KEY (a, b));
"""


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out, err


def test_mariadb_to_postgres_then_verify(mariadb: Any, postgres: Any) -> None:
    conn = mariadb.connect()
    create_schema(conn, MY_DB)
    mariadb.grant_capture(MY_DB)
    workload(conn, MY_DB, 1)  # rows that exist before the run: the snapshot takes them
    target = fresh_db(postgres, "mig_from_my")
    target_url = postgres.dsn_for(postgres.user, None, "mig_from_my")
    env = dict(os.environ, **{PASSWORD_ENV: mariadb.capture_password})
    tables = f"{MY_DB}.types,{MY_DB}.pairs"
    source = ["--source", app_url(mariadb), "--password-env", PASSWORD_ENV]

    before = dump_threads(mariadb)
    run = ["run", *source, "--tables", tables, "--to", target_url, "--create-tables"]
    proc = cli_popen(
        *run, "--snapshot", "initial", "--server-id", "7411", "--idle-exit", "3", env=env
    )
    wait_for_dump(mariadb, proc, before)
    workload(conn, MY_DB, 2)  # while streaming: inserts, updates, a key change, deletes
    workload(conn, MY_DB, 3)
    _finish(proc)

    equal = cli("verify", *source, "--against", target_url, "--tables", tables, env=env)
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert f"{MY_DB}.types: equal" in equal.stdout and f"{MY_DB}.pairs: equal" in equal.stdout
    assert mariadb.capture_password not in equal.stdout + equal.stderr
    created = target.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = 'types'",
        (MY_DB,),
    ).fetchall()
    assert {name: kind for name, kind in created if name in MAPPED} == MAPPED

    target.execute(f"UPDATE {MY_DB}.types SET vc = 'behind its back' WHERE id = 2003")
    different = cli("verify", *source, "--against", target_url, "--tables", tables, env=env)
    assert different.returncode == 1, different.stdout + different.stderr
    assert "different 1: 2003" in different.stdout
    assert "in column(s): vc (1)\n" in different.stdout
    conn.close()
    target.close()


def _pg_workload(conn: Any, round_: int) -> None:
    base = 1000 * round_
    conn.execute(
        f"INSERT INTO {PG_SCHEMA}.items SELECT {base} + g, 'näme ' || g || ' 😀', g % 9,"
        " g * 1.125, date '2026-01-01' + g, timestamptz '2026-03-01 12:00:00.123456+02' + g *"
        " interval '1 hour', timestamp '1999-12-31 23:59:59.5' + g * interval '1 second',"
        " jsonb_build_object('g', g, 'tags', jsonb_build_array('a', null, 'ü')),"
        " decode(lpad(to_hex(g), 8, '0'), 'hex'), g % 2 = 0, g / 3.0,"
        " ARRAY['t' || g, NULL, 'a,b', ''], ARRAY[g * 0.25, NULL]"
        " FROM generate_series(1, 200) g"
    )
    conn.execute(
        f"UPDATE {PG_SCHEMA}.items SET name = NULL, doc = NULL, blob = NULL, day = NULL,"
        " tags = CASE WHEN id % 20 = 3 THEN NULL ELSE ARRAY['one'] END"
        f" WHERE id % 10 = 3 AND id > {base}"
    )
    for i in range(5):
        conn.execute(
            f"UPDATE {PG_SCHEMA}.items SET qty = qty + 1, price = price * 2"
            f" WHERE id % 5 = {i} AND id > {base}"
        )
    conn.execute(f"DELETE FROM {PG_SCHEMA}.items WHERE id % 7 = 0 AND id > {base}")
    # Primary key changes, a swap inside one transaction, and a delete + re-insert of a key.
    conn.execute(
        f"UPDATE {PG_SCHEMA}.items SET id = id + 100000 WHERE id BETWEEN {base} + 1 AND {base} + 3"
    )
    with conn.transaction():
        conn.execute(f"UPDATE {PG_SCHEMA}.items SET id = -id WHERE id = {base} + 11")
        conn.execute(f"UPDATE {PG_SCHEMA}.items SET id = {base} + 11 WHERE id = {base} + 12")
        conn.execute(f"UPDATE {PG_SCHEMA}.items SET id = {base} + 12 WHERE id = -({base} + 11)")
    conn.execute(f"DELETE FROM {PG_SCHEMA}.items WHERE id = {base} + 20")
    conn.execute(f"INSERT INTO {PG_SCHEMA}.items (id, name) VALUES ({base} + 20, 'again')")
    conn.execute(
        f"INSERT INTO {PG_SCHEMA}.pairs SELECT g % 10, 'b' || g, 'v' || g"
        f" FROM generate_series({base}, {base} + 50) g"
    )
    conn.execute(f"UPDATE {PG_SCHEMA}.pairs SET a = a + 100 WHERE a = 3")


def test_postgres_to_mariadb_then_verify(postgres: Any, mariadb: Any) -> None:
    conn = fresh_db(postgres, "mig_pg_src")
    conn.execute(PG_DDL)
    conn.execute(f"CREATE PUBLICATION migp FOR TABLE {PG_SCHEMA}.items, {PG_SCHEMA}.pairs")
    _pg_workload(conn, 1)
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {PG_SCHEMA}")
    source_url = postgres.dsn_for(postgres.user, None, "mig_pg_src")
    target_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password)

    run = ["run", "--source", source_url, "--slot", "migslot", "--publication", "migp"]
    # A state row of its own: other tests' sinks write to the same target database.
    run += [
        "--to",
        target_url + "?sink_name=migpg",
        "--create-tables",
        "--snapshot",
        "initial",
        "--idle-exit",
        "3",
    ]
    proc = cli_popen(*run, env=env)
    wait_slot_active(conn, "migslot", proc)
    _pg_workload(conn, 2)  # while streaming
    _pg_workload(conn, 3)
    _finish(proc)

    tables = f"{PG_SCHEMA}.items,{PG_SCHEMA}.pairs"
    check = ["verify", "--source", source_url, "--against", target_url, "--tables", tables]
    equal = cli(*check, env=env)
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert f"{PG_SCHEMA}.items: equal" in equal.stdout
    assert f"{PG_SCHEMA}.pairs: equal" in equal.stdout
    moved = f"SELECT COUNT(*) FROM {PG_SCHEMA}.items WHERE id > 100000"
    with my.cursor() as cur:
        cur.execute(moved)
        assert cur.fetchone()[0] == conn.execute(moved).fetchone()[0] >= 3  # key changes arrived
        cur.execute(f"UPDATE {PG_SCHEMA}.items SET price = 1 WHERE id = 3004")
    different = cli(*check, env=env)
    assert different.returncode == 1, different.stdout + different.stderr
    assert "different 1: 3004" in different.stdout
    assert "in column(s): price (1)\n" in different.stdout
    # Arrays are JSON arrays there (MariaDB's own JSON functions read them); one element
    # changed behind the stream's back is a difference too.
    with my.cursor() as cur:
        cur.execute(
            f"SELECT JSON_VALID(tags), JSON_LENGTH(tags), JSON_UNQUOTE(JSON_EXTRACT(tags, '$[2]')),"
            f" JSON_TYPE(JSON_EXTRACT(tags, '$[1]')), JSON_UNQUOTE(JSON_EXTRACT(scores, '$[0]'))"
            f" FROM {PG_SCHEMA}.items WHERE id = 3006"
        )
        assert cur.fetchone() == (1, 4, "a,b", "NULL", "1.50")
        cur.execute(
            f"UPDATE {PG_SCHEMA}.items SET tags = JSON_SET(tags, '$[2]', 'a;b') WHERE id = 3006"
        )
    different = cli(*check, env=env)
    assert different.returncode == 1, different.stdout + different.stderr
    assert "different 2: 3004, 3006" in different.stdout
    assert "in column(s): price (1), tags (1)\n" in different.stdout
    my.close()
    conn.close()


def test_value_the_target_cannot_hold_is_one_clear_error(postgres: Any, mariadb: Any) -> None:
    conn = fresh_db(postgres, "mig_pg_range")
    conn.execute("CREATE SCHEMA migrange")
    conn.execute("CREATE TABLE migrange.t (id int PRIMARY KEY, ratio double precision)")
    conn.execute("INSERT INTO migrange.t VALUES (1, 0.5), (2, 'NaN')")
    source_url = postgres.dsn_for(postgres.user, None, "mig_pg_range")
    target_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password)
    run = ["run", "--source", source_url, "--slot", "migrange", "--publication", "migrange"]
    run += ["--tables", "migrange.t", "--to", target_url + "?sink_name=migrange"]
    run += ["--create-tables"]
    proc = cli_popen(*run, "--snapshot", "initial", "--idle-exit", "2", env=env)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 3, err
    last = err.strip().splitlines()[-1]
    # MariaDB's DOUBLE has no NaN: the error names the column and the value.
    assert last.startswith("arrowtail: error:") and "column ratio" in last and "NaN" in last, err
    assert "Traceback" not in err
    conn.close()
