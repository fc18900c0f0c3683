"""Targets made from the source's own schema (``pg_dump --schema-only``): foreign keys, identity
columns, generated columns and triggers all there.

Foreign keys: the database sinks apply changes table by table, so a child row can come before its
parent (parallel snapshot pieces, a transaction's tables); the sinks therefore apply with the
target's foreign keys off, as PostgreSQL's own subscriber does (``session_replication_role =
replica``; MySQL/MariaDB: ``foreign_key_checks = 0``). Proven from a PostgreSQL source into a
PostgreSQL and a MariaDB target built with the same keys (cascades, SET NULL, a self-reference),
with a parallel snapshot in small pieces, then transactions that delete, re-insert and re-key
parents and children, a cascade, and a ``TRUNCATE ... CASCADE``: ``arrowtail verify`` finds every
table equal. A target role that may not set ``session_replication_role`` gets an error that says
how to let it, and once granted the same command goes on from where it stopped.

Identity columns take the source's values (``GENERATED ALWAYS`` too), stored generated columns
compute their own, an ``oid`` column takes its values, and the target's ordinary triggers stay
quiet while one enabled ``ALWAYS`` fires. Other unique keys get the changes in an order they
accept, on both targets, and so does an exclusion constraint."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from psycopg import sql

from tests.support.cli import cli, cli_popen
from tests.support.pg_run import fresh_db, wait_streaming

SCHEMA = "fkeys"
TABLES = f"{SCHEMA}.p,{SCHEMA}.c,{SCHEMA}.g,{SCHEMA}.tree"
PG_DDL = f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.p (id int PRIMARY KEY, v text);
CREATE TABLE {SCHEMA}.c (
  id int PRIMARY KEY, pid int REFERENCES {SCHEMA}.p (id) ON DELETE CASCADE ON UPDATE CASCADE,
  v text);
CREATE TABLE {SCHEMA}.g (
  id int PRIMARY KEY, cid int NOT NULL REFERENCES {SCHEMA}.c (id) ON DELETE CASCADE, v text);
CREATE TABLE {SCHEMA}.tree (
  id int PRIMARY KEY, up int REFERENCES {SCHEMA}.tree (id) ON DELETE SET NULL, v text);
"""
# The same keys in MariaDB (the PostgreSQL schema is the database there).
MY_DDL = [
    f"CREATE DATABASE {SCHEMA}",
    f"CREATE TABLE {SCHEMA}.p (id int PRIMARY KEY, v text) ENGINE=InnoDB",
    f"CREATE TABLE {SCHEMA}.c (id int PRIMARY KEY, pid int, v text, FOREIGN KEY (pid)"
    f" REFERENCES {SCHEMA}.p (id) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB",
    f"CREATE TABLE {SCHEMA}.g (id int PRIMARY KEY, cid int NOT NULL, v text, FOREIGN KEY (cid)"
    f" REFERENCES {SCHEMA}.c (id) ON DELETE CASCADE) ENGINE=InnoDB",
    f"CREATE TABLE {SCHEMA}.tree (id int PRIMARY KEY, up int, v text, FOREIGN KEY (up)"
    f" REFERENCES {SCHEMA}.tree (id) ON DELETE SET NULL) ENGINE=InnoDB",
]


def _source(postgres: Any, db: str) -> Any:
    """The source database: children whose parents lie in other snapshot pieces, and a tree
    whose rows point at rows of later pieces."""
    conn = fresh_db(postgres, db)
    conn.execute(PG_DDL)
    s = SCHEMA
    conn.execute(f"INSERT INTO {s}.p SELECT g, 'p' || g FROM generate_series(1, 3000) g")
    conn.execute(
        f"INSERT INTO {s}.c SELECT g, 3001 - (g % 3000 + 1), 'c' || g"
        " FROM generate_series(1, 6000) g"
    )
    conn.execute(f"INSERT INTO {s}.g SELECT g, 6001 - g, 'g' || g FROM generate_series(1, 6000) g")
    conn.execute(f"INSERT INTO {s}.tree SELECT g, NULL, 't' || g FROM generate_series(1, 4000) g")
    conn.execute(f"UPDATE {s}.tree SET up = 4001 - id WHERE id % 3 <> 0")
    conn.execute(f"CREATE PUBLICATION pfk FOR TABLES IN SCHEMA {s}")
    return conn


def _changes(conn: Any) -> None:
    """Streamed changes whose tables' order the target's keys would refuse."""
    s = SCHEMA
    with conn.transaction():  # children and parents gone and new in one transaction
        conn.execute(f"DELETE FROM {s}.g WHERE cid IN (SELECT id FROM {s}.c WHERE pid = 5)")
        conn.execute(f"DELETE FROM {s}.c WHERE pid = 5")
        conn.execute(f"DELETE FROM {s}.p WHERE id = 5")
        conn.execute(f"INSERT INTO {s}.p VALUES (5001, 'new')")
        conn.execute(f"INSERT INTO {s}.c VALUES (9001, 5001, 'new')")
        conn.execute(f"INSERT INTO {s}.g VALUES (9001, 9001, 'new')")
        conn.execute(f"INSERT INTO {s}.tree VALUES (4001, NULL, 'root'), (4002, 4001, 'leaf')")
    conn.execute(f"DELETE FROM {s}.p WHERE id = 10")  # cascades to c, then g
    conn.execute(f"UPDATE {s}.p SET id = 7000 WHERE id = 11")  # cascades to c.pid
    conn.execute(f"DELETE FROM {s}.tree WHERE id = 3999")  # SET NULL in its children
    with conn.transaction():  # a parent re-inserted after its child was
        conn.execute(f"INSERT INTO {s}.p VALUES (5002, 'x')")
        conn.execute(f"INSERT INTO {s}.c VALUES (9002, 5002, 'x')")
        conn.execute(f"DELETE FROM {s}.c WHERE id = 9002")
        conn.execute(f"DELETE FROM {s}.p WHERE id = 5002")
        conn.execute(f"INSERT INTO {s}.p VALUES (5002, 'y'), (5003, 'z')")
        conn.execute(f"INSERT INTO {s}.c VALUES (9002, 5003, 'y')")
        conn.execute(f"UPDATE {s}.c SET pid = 5002 WHERE pid = 20")
        conn.execute(f"DELETE FROM {s}.p WHERE id = 20")


def _truncate_and_refill(conn: Any) -> None:
    s = SCHEMA
    with conn.transaction():
        conn.execute(f"TRUNCATE {s}.p CASCADE")  # c and g with it
        conn.execute(f"INSERT INTO {s}.p SELECT g, 'again' FROM generate_series(1, 50) g")
        conn.execute(
            f"INSERT INTO {s}.c SELECT g, g % 50 + 1, 'again' FROM generate_series(1, 80) g"
        )
        conn.execute(f"INSERT INTO {s}.g SELECT g, g, 'again' FROM generate_series(1, 80) g")


def _run(source_url: str, slot: str, target_url: str, env: dict[str, str] | None = None) -> Any:
    return cli_popen(
        "run", "--source", source_url, "--slot", slot, "--publication", "pfk",
        "--snapshot", "initial", "--snapshot-chunk-rows", "500", "--snapshot-workers", "3",
        "--to", target_url, "--idle-exit", "3", env=env,
    )  # fmt: skip


def _equal(
    source_url: str, target_url: str, env: dict[str, str] | None = None, tables: str = TABLES
) -> None:
    res = cli(
        "verify", "--source", source_url, "--against", target_url, "--tables", tables, env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    for table in tables.split(","):
        assert f"{table}: equal" in res.stdout, res.stdout


def _counts(conn: Any) -> list[int]:
    return [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES.split(",")]


def _same_schema(postgres: Any, name: str, ddl: str) -> tuple[Any, Any, str, str]:
    """Databases ``{name}_src`` and ``{name}_tgt``, each with ``ddl``: both connections, then
    both URLs (the superuser's)."""
    src, tgt = fresh_db(postgres, f"{name}_src"), fresh_db(postgres, f"{name}_tgt")
    src.execute(ddl)
    tgt.execute(ddl)
    urls = [postgres.dsn_for(postgres.user, None, f"{name}_{side}") for side in ("src", "tgt")]
    return src, tgt, urls[0], urls[1]


def test_postgres_target_with_the_sources_foreign_keys(postgres: Any) -> None:
    src = _source(postgres, "fk_src")
    tgt = fresh_db(postgres, "fk_tgt")
    tgt.execute(PG_DDL)
    source_url = postgres.dsn_for(postgres.user, None, "fk_src")
    target_url = postgres.dsn_for(postgres.user, None, "fk_tgt")
    proc = _run(source_url, "fk_pg", target_url)
    wait_streaming(src, "fk_pg", proc)
    _changes(src)
    _truncate_and_refill(src)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    _equal(source_url, target_url)
    assert _counts(src) == [50, 80, 80, 4001]
    # The target's keys are all still there.
    keys = "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text"
    assert tgt.execute(f"{keys} LIKE '{SCHEMA}.%'").fetchone() == (3,)
    src.close()
    tgt.close()


def test_target_role_that_may_not_turn_off_foreign_keys_is_told_how(postgres: Any) -> None:
    """Without the right to set ``session_replication_role`` the run stops at the first change
    the target's keys refuse, saying what to grant, and stores nothing of it; granted, the same
    command goes on from the stored position."""
    plain = "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (id int PRIMARY KEY, pid int"
    plain += " REFERENCES p (id))"
    src, tgt, source_url, _ = _same_schema(postgres, "fk2", plain)
    src.execute("INSERT INTO p SELECT generate_series(1, 100)")
    src.execute("CREATE PUBLICATION pfk FOR TABLE p, c")
    role, password = "fk_writer", "fk-writer-pw"
    tgt.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    tgt.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)
        )
    )
    tgt.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    tgt.execute(f"GRANT ALL ON p, c TO {role}")
    target_url = postgres.dsn_for(role, None, "fk2_tgt")
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=password)

    proc = _run(source_url, "fk_pg2", target_url, env)
    wait_streaming(src, "fk_pg2", proc)
    src.execute("INSERT INTO c VALUES (1, 5)")
    deadline = time.monotonic() + 60
    while tgt.execute("SELECT count(*) FROM c").fetchone() != (1,):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    with src.transaction():  # whichever table the target gets first, its keys refuse it
        src.execute("DELETE FROM c WHERE id = 1")
        src.execute("DELETE FROM p WHERE id = 5")
        src.execute("INSERT INTO p VALUES (6000)")
        src.execute("INSERT INTO c VALUES (2, 6000)")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 3, err
    said = err[err.index("arrowtail: error:") :]
    assert 'violates foreign key constraint "c_pid_fkey"' in said, err
    assert f"GRANT SET ON PARAMETER session_replication_role TO {role}," in said, err
    assert password not in err
    assert tgt.execute("SELECT * FROM c").fetchall() == [(1, 5)]

    tgt.execute(f"GRANT SET ON PARAMETER session_replication_role TO {role}")
    proc = _run(source_url, "fk_pg2", target_url, env)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    _equal(source_url, target_url, env, "public.p,public.c")
    assert tgt.execute("SELECT * FROM c").fetchall() == [(2, 6000)]
    src.close()
    tgt.close()


def test_mariadb_target_with_the_sources_foreign_keys(postgres: Any, mariadb: Any) -> None:
    src = _source(postgres, "fk_src3")
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
        for statement in MY_DDL:
            cur.execute(statement)
    source_url = postgres.dsn_for(postgres.user, None, "fk_src3")
    target_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password)
    proc = _run(source_url, "fk_my", target_url + "?sink_name=fkeys", env)
    wait_streaming(src, "fk_my", proc)
    _changes(src)
    _truncate_and_refill(src)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    _equal(source_url, target_url, env)
    with my.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM information_schema.REFERENTIAL_CONSTRAINTS"
            " WHERE CONSTRAINT_SCHEMA = %s",
            (SCHEMA,),
        )
        assert cur.fetchone() == (3,)
    my.close()
    src.close()


IDENTITY_DDL = """
CREATE TABLE ga (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text,
  n int GENERATED ALWAYS AS (length(v)) STORED, o oid);
CREATE TABLE gd (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text);
CREATE TABLE se (id serial PRIMARY KEY, v text);
CREATE TABLE audit (at serial PRIMARY KEY, what text);
CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO audit (what) VALUES (TG_TABLE_NAME || ' ' || TG_OP); RETURN NULL; END$$;
"""


def test_identity_generated_columns_and_triggers_of_a_postgres_target(postgres: Any) -> None:
    src, tgt, source_url, target_url = _same_schema(postgres, "id", IDENTITY_DDL)
    # An ordinary trigger (quiet while arrowtail applies) and one enabled ALWAYS (fires).
    tgt.execute(
        "CREATE TRIGGER quiet AFTER INSERT OR UPDATE ON gd FOR EACH ROW EXECUTE FUNCTION note()"
    )
    tgt.execute("CREATE TRIGGER loud AFTER INSERT ON se FOR EACH ROW EXECUTE FUNCTION note()")
    tgt.execute("ALTER TABLE se ENABLE ALWAYS TRIGGER loud")
    for table in ("ga", "gd", "se"):
        src.execute(f"INSERT INTO {table} (v) SELECT 'x' || g FROM generate_series(1, 100) g")
    src.execute("UPDATE ga SET o = CASE WHEN id = 1 THEN 4294967295 ELSE id * 1000 END")
    src.execute("CREATE PUBLICATION pid FOR TABLE ga, gd, se")
    proc = cli_popen(
        "run", "--source", source_url, "--slot", "ids", "--publication", "pid",
        "--snapshot", "initial", "--to", target_url, "--idle-exit", "3",
    )  # fmt: skip
    wait_streaming(src, "ids", proc)
    for table in ("ga", "gd", "se"):
        src.execute(f"INSERT INTO {table} (v) VALUES ('new')")
        src.execute(f"UPDATE {table} SET v = 'longer value' WHERE id = 5")
    src.execute("UPDATE gd SET id = 1000 WHERE id = 6")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    _equal(source_url, target_url, tables="public.ga,public.gd,public.se")
    assert tgt.execute("SELECT n FROM ga WHERE id = 5").fetchone() == (12,)
    assert tgt.execute("SELECT o FROM ga WHERE id IN (1, 2) ORDER BY id").fetchall() == [
        (4294967295,),
        (2000,),
    ]
    assert tgt.execute("SELECT max(id) FROM gd").fetchone() == (1000,)
    # 100 snapshot rows and one insert of se, none of gd.
    assert tgt.execute("SELECT what, count(*) FROM audit GROUP BY what").fetchall() == [
        ("se INSERT", 101)
    ]
    src.close()
    tgt.close()


UNIQUE_PG = """
CREATE SCHEMA uq;
CREATE TABLE uq.u (id int PRIMARY KEY, email text UNIQUE, a int, b int, v text, UNIQUE (a, b));
"""
UNIQUE_MY = [
    "CREATE DATABASE uq",
    "CREATE TABLE uq.u (id int PRIMARY KEY, email varchar(20) UNIQUE, a int, b int, v text,"
    " UNIQUE (a, b)) ENGINE=InnoDB",
]


def _unique_changes(src: Any) -> None:
    """Changes that are fine one by one, in order, and that a target with the same unique keys
    refuses applied in any other order; one transaction, so that they reach the target in one
    batch."""
    with src.transaction():
        # Two rows trade their emails through a third value.
        src.execute("UPDATE uq.u SET email = 'tmp' WHERE id = 1")
        src.execute("UPDATE uq.u SET email = 'a' WHERE id = 2")
        src.execute("UPDATE uq.u SET email = 'b', v = 'one!' WHERE id = 1")
        # A new row takes a value another row gives up after the new row first appeared.
        src.execute("INSERT INTO uq.u VALUES (0, 'tmp0', 100, 1, 'zero')")
        src.execute("UPDATE uq.u SET email = 'w' WHERE id = 3")
        src.execute("UPDATE uq.u SET email = 'c' WHERE id = 0")
        # The same through the two-column key, and a row deleted to free its values.
        src.execute("UPDATE uq.u SET a = 10, b = 10 WHERE id = 2")
        src.execute("UPDATE uq.u SET a = 2, b = 2 WHERE id = 0")
        src.execute("DELETE FROM uq.u WHERE id = 4")
        src.execute("INSERT INTO uq.u VALUES (5, 'd', 4, 4, 'five')")


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_target_with_other_unique_keys_gets_changes_in_an_order_they_accept(
    postgres: Any, mariadb: Any, engine: str
) -> None:
    """The sink applies a batch's net effect in a few statements; where another unique key of
    the target refuses that, it applies halves in order, down to single rows. Without it the
    PostgreSQL target stopped, and the MariaDB target's ``ON DUPLICATE KEY UPDATE`` matched the
    other unique key and wrote the new row over another one, silently. A row the source does not
    have holding a value the source then uses is an error, never overwritten."""
    src = fresh_db(postgres, f"uq_src_{engine}")
    src.execute(UNIQUE_PG)
    src.execute(
        "INSERT INTO uq.u SELECT g, chr(96 + g), g, g, 'v' || g FROM generate_series(1, 4) g"
    )
    src.execute("CREATE PUBLICATION puq FOR TABLE uq.u")
    source_url = postgres.dsn_for(postgres.user, None, f"uq_src_{engine}")
    env = dict(os.environ)
    if engine == "postgres":
        tgt = fresh_db(postgres, "uq_tgt")
        tgt.execute(UNIQUE_PG)
        target_url = postgres.dsn_for(postgres.user, None, "uq_tgt")
        run_url = target_url

        def stray() -> None:
            tgt.execute("INSERT INTO uq.u VALUES (99, 'stray', 99, 99, 'not in the source')")
    else:
        my = mariadb.connect()
        with my.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS uq")
            for statement in UNIQUE_MY:
                cur.execute(statement)
        target_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
        run_url = target_url + "?sink_name=uq"
        env["ARROWTAIL_TARGET_PASSWORD"] = mariadb.password

        def stray() -> None:
            with my.cursor() as cur:
                cur.execute("INSERT INTO uq.u VALUES (99, 'stray', 99, 99, 'not in the source')")

    run = ["run", "--source", source_url, "--slot", f"uq_{engine}", "--publication", "puq"]
    run += ["--to", run_url, "--idle-exit", "2"]
    proc = cli_popen(*run, "--snapshot", "initial", env=env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    _unique_changes(src)
    proc = cli_popen(*run, env=env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "in 1 batches" in err, err
    _equal(source_url, target_url, env, "uq.u")

    stray()
    src.execute("INSERT INTO uq.u VALUES (6, 'stray', 6, 6, 'six')")
    proc = cli_popen(*run, env=env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    said = err[err.index("arrowtail: error:") :]
    assert "table uq.u" in said, err
    if engine == "postgres":
        assert 'violates unique constraint "u_email_key"' in said, err
    else:
        assert "another unique key of the target holds" in said, err
    check = cli(
        "verify", "--source", source_url, "--against", target_url, "--tables", "uq.u", env=env
    )
    assert "missing 1: 6" in check.stdout and "extra 1: 99" in check.stdout, check.stdout


def test_postgres_target_with_an_exclusion_constraint(postgres: Any) -> None:
    """An exclusion constraint refuses an order the way a unique key does: a row taking a range
    another row gives up later in the batch. The batch's halves, in order, fit."""
    ddl = "CREATE TABLE booking (id int PRIMARY KEY, r int4range, EXCLUDE USING gist (r WITH &&))"
    src, tgt, source_url, target_url = _same_schema(postgres, "ex", ddl)
    src.execute("INSERT INTO booking VALUES (1, '[1,5)'), (2, '[10,15)'), (3, '[20,25)')")
    src.execute("CREATE PUBLICATION pex FOR TABLE booking")
    run = ["run", "--source", source_url, "--slot", "ex", "--publication", "pex"]
    run += ["--to", target_url, "--idle-exit", "2"]
    proc = cli_popen(*run, "--snapshot", "initial")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    with src.transaction():  # row 1 takes row 2's range after row 2 moves on, row 2 row 3's
        src.execute("UPDATE booking SET r = '[30,35)' WHERE id = 3")
        src.execute("UPDATE booking SET r = '[20,25)' WHERE id = 2")
        src.execute("UPDATE booking SET r = '[10,15)' WHERE id = 1")
    proc = cli_popen(*run)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    _equal(source_url, target_url, tables="public.booking")
    assert tgt.execute("SELECT id, r::text FROM booking ORDER BY id").fetchall() == [
        (1, "[10,15)"),
        (2, "[20,25)"),
        (3, "[30,35)"),
    ]
    src.close()
    tgt.close()
