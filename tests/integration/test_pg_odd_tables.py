"""Tables PostgreSQL allows that a capture must still carry, through the initial snapshot and the
stream into Parquet: a table without columns (`CREATE TABLE t ()`, whose change batches have a
`_before` struct without fields, which Parquet cannot store as such), and a table with stored
generated columns (which pgoutput does not send, so the snapshot leaves them out too; one of
them is named like a metadata column, which is no clash since it is not captured), read back by
DuckDB and found equal by `arrowtail verify`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

from tests.support.cli import cli, cli_popen
from tests.support.pg_run import fresh_db, wait_slot_active

DDL = """
CREATE TABLE public.nocol ();
ALTER TABLE public.nocol REPLICA IDENTITY FULL;
INSERT INTO public.nocol DEFAULT VALUES;
INSERT INTO public.nocol DEFAULT VALUES;
CREATE TABLE public.gen (
  id int PRIMARY KEY,
  a int,
  twice int GENERATED ALWAYS AS (a * 2) STORED,
  _xid int GENERATED ALWAYS AS (a + 1) STORED
);
INSERT INTO public.gen (id, a) SELECT g, g * 10 FROM generate_series(1, 3) g;
"""


def test_tables_without_columns_and_with_generated_ones(postgres: Any, tmp_path: Path) -> None:
    src = fresh_db(postgres, "odd_tables")
    src.execute(DDL)
    url = postgres.dsn_for(postgres.user, None, "odd_tables")
    out = tmp_path / "out"
    run = ["run", "--source", url, "--slot", "odd", "--publication", "odd"]
    run += ["--to", f"parquet:{out}", "--snapshot", "initial", "--idle-exit", "3"]
    proc = cli_popen(*run)
    wait_slot_active(src, "odd", proc)
    src.execute("INSERT INTO public.nocol DEFAULT VALUES")
    src.execute("DELETE FROM public.nocol WHERE ctid = (SELECT min(ctid) FROM public.nocol)")
    src.execute("INSERT INTO public.gen (id, a) VALUES (4, 40)")
    src.execute("UPDATE public.gen SET a = 11 WHERE id = 1")
    src.execute("DELETE FROM public.gen WHERE id = 2")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err

    nocol = duckdb.sql(
        f"SELECT _op, count(*), count(_before) FROM read_parquet('{out}/public.nocol/*.parquet')"
        " GROUP BY _op ORDER BY _op"
    ).fetchall()
    assert nocol == [("c", 1, 0), ("d", 1, 0), ("r", 2, 0)]

    gen = duckdb.sql(
        f"SELECT * EXCLUDE (_pos, _seq, _xid, _commit_ts, _before, _unchanged)"
        f" FROM read_parquet('{out}/public.gen/*.parquet') ORDER BY _pos, _seq"
    )
    assert gen.columns == ["id", "a", "_op"]
    assert gen.fetchall() == [
        (1, 10, "r"), (2, 20, "r"), (3, 30, "r"), (4, 40, "c"), (1, 11, "u"), (2, None, "d"),
    ]  # fmt: skip
    equal = cli("verify", "--source", url, "--against", f"parquet:{out}", "--tables", "public.gen")
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert "public.gen: equal (3 rows" in equal.stdout, equal.stdout
    # Without columns there is no key to compare by, as for any table without a primary key.
    keyless = cli(
        "verify", "--source", url, "--against", f"parquet:{out}", "--tables", "public.nocol"
    )
    assert keyless.returncode == 1, keyless.stdout + keyless.stderr
    assert "the source table has no columns" in keyless.stdout, keyless.stdout
    src.close()


def _database(postgres: Any, name: str, encoding: str) -> Any:
    """(Re)creates ``name`` in ``encoding`` and returns a UTF-8 superuser connection to it."""
    with postgres.connect() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(
            f"CREATE DATABASE {name} ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0"
        )
    return postgres.connect(dbname=name, client_encoding="UTF8")


def test_text_arrives_as_itself_whatever_the_database_and_client_encodings(
    postgres: Any, tmp_path: Path
) -> None:
    """A LATIN1 source database, read with ``PGCLIENTENCODING=LATIN1`` in the environment over
    both wires, into Parquet and into a UTF-8 PostgreSQL target: the server converts every text
    to UTF-8 for arrowtail, which decodes UTF-8, and the target takes UTF-8 back."""
    src = _database(postgres, "enc_src", "LATIN1")
    src.execute("CREATE TABLE public.t (id int PRIMARY KEY, s text, c char(3), v varchar(10))")
    src.execute("INSERT INTO public.t VALUES (1, 'café ñ', 'é', 'Ü')")
    url = postgres.dsn_for(postgres.user, None, "enc_src")
    env = {**os.environ, "PGCLIENTENCODING": "LATIN1"}
    want = {1: ("naïve", "é  ", "Ü"), 2: ("straße ø", "ß  ", "¿"), 3: ("Ærø", "ð  ", "þ")}
    for n, wire in enumerate(("native", "libpq"), start=2):
        out = tmp_path / wire
        run = ["run", "--source", url, "--slot", f"enc_{wire}", "--publication", "enc"]
        run += ["--to", f"parquet:{out}", "--snapshot", "initial", "--idle-exit", "3"]
        proc = cli_popen(*run, "--wire", wire, env=env)
        wait_slot_active(src, f"enc_{wire}", proc)
        src.execute("INSERT INTO public.t VALUES (%s, %s, %s, %s)", (n, *want[n]))
        src.execute("UPDATE public.t SET s = 'naïve' WHERE id = 1")
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        got = duckdb.sql(
            f"SELECT id, s, c, v FROM read_parquet('{out}/public.t/*.parquet') "
            "WHERE _op <> 'r' ORDER BY _pos, _seq"
        ).fetchall()
        assert got == [(n, *want[n]), (1, *want[1])], wire
        equal = cli("verify", "--source", url, "--against", f"parquet:{out}", env=env)
        assert equal.returncode == 0, equal.stdout + equal.stderr

    target = _database(postgres, "enc_target", "UTF8")
    run = ["run", "--source", url, "--slot", "enc_db", "--publication", "enc", "--snapshot"]
    run += ["initial", "--idle-exit", "2", "--create-tables", "--to"]
    run += [postgres.dsn_for(postgres.user, None, "enc_target")]
    done = cli(*run, env={**env, "ARROWTAIL_TARGET_PASSWORD": ""})
    assert done.returncode == 0, done.stderr
    rows = target.execute("SELECT id, s, c, v FROM public.t ORDER BY id").fetchall()
    assert rows == [(k, *v) for k, v in sorted(want.items())]
    src.close()
    target.close()
