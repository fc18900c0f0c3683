"""A primary-key change of a row with a TOASTed column, streamed from PostgreSQL by the CLI into a
PostgreSQL and a MariaDB target. pgoutput sends the unchanged TOAST value as ``u`` (protocol
"TupleData"), so the new row must take it from the old row already in the target."""

from __future__ import annotations

import os

import pytest
from psycopg import sql

from tests.support.cli import cli
from tests.support.pg_run import fresh_db

DDL = """
CREATE TABLE docs (id bigint PRIMARY KEY, n integer, body text, note text);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
"""
# 20 kB of text per row, stored out of line without compression (STORAGE EXTERNAL).
BODY = "repeat(md5(g::text), 640)"


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_key_change_keeps_the_unchanged_toast_column(request, postgres, engine):
    src_db = f"toast_src_{engine}"
    conn = fresh_db(postgres, src_db)
    conn.execute(DDL)
    conn.execute("CREATE PUBLICATION tp FOR TABLE docs")
    conn.execute(f"INSERT INTO docs SELECT g, 0, {BODY}, 'n' || g FROM generate_series(1, 20) g")
    toast = conn.execute(
        "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'docs'::regclass"
    ).fetchone()[0]
    chunks = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(toast))).fetchone()[0]
    assert chunks >= 20, "body is not stored out of line"
    env = dict(os.environ)
    if engine == "postgres":
        target = fresh_db(postgres, f"toast_tgt_{engine}")
        target_url = postgres.dsn_for(postgres.user, None, f"toast_tgt_{engine}")

        def rows() -> dict[int, tuple]:
            got = target.execute("SELECT id, n, md5(body), note FROM public.docs").fetchall()
            return {r[0]: tuple(r) for r in got}
    else:
        mariadb = request.getfixturevalue("mariadb")
        my = mariadb.connect()
        with my.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS public")
        target_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
        target_url += "?sink_name=toast"  # other tests' sinks write to the same database
        env["ARROWTAIL_TARGET_PASSWORD"] = mariadb.password

        def rows() -> dict[int, tuple]:
            with my.cursor() as cur:
                cur.execute("SELECT id, n, md5(body), note FROM public.docs")
                return {r[0]: tuple(r) for r in cur.fetchall()}

    source_url = postgres.dsn_for(postgres.user, None, src_db)
    run = ["run", "--source", source_url, "--slot", f"toast_{engine}", "--publication", "tp"]
    run += ["--to", target_url, "--create-tables", "--idle-exit", "2"]
    first = cli(*run, "--snapshot", "initial", env=env)  # the rows reach the target by snapshot
    assert first.returncode == 0, first.stderr

    # Key changes that leave the TOASTed body alone: pgoutput sends it as unchanged.
    conn.execute("UPDATE docs SET id = id + 1000, n = n + 1 WHERE id <= 5")
    with conn.transaction():  # a chain and a swap inside one transaction
        conn.execute("UPDATE docs SET id = 2000 WHERE id = 6")
        conn.execute("UPDATE docs SET id = 3000 WHERE id = 2000")
        conn.execute("UPDATE docs SET id = -7 WHERE id = 7")
        conn.execute("UPDATE docs SET id = 7 WHERE id = 8")
        conn.execute("UPDATE docs SET id = 8 WHERE id = -7")
    conn.execute("UPDATE docs SET note = 'plain update' WHERE id = 9")
    second = cli(*run, env=env)
    assert second.returncode == 0, second.stderr

    want = {
        r[0]: tuple(r) for r in conn.execute("SELECT id, n, md5(body), note FROM docs").fetchall()
    }
    assert sorted(want) == [*range(7, 21), 1001, 1002, 1003, 1004, 1005, 3000]
    got = rows()
    assert got == want
    assert got[1001][2] == conn.execute(f"SELECT md5({BODY}) FROM (SELECT 1 g) x").fetchone()[0]
    conn.close()
