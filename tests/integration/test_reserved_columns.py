"""A source column named like one of the columns arrowtail adds to every change (``_op``,
``_seq``, ...) could not be told apart from it in a change batch. Against the real servers: such
a column is refused before anything is created or read (PostgreSQL: no publication, no slot;
MariaDB: no binlog dump), a column list that leaves it out captures the table, a table the run
does not capture may have one, and a column added by DDL while the run streams stops the run at
that table's first change after it, with the error naming the table, the column and the
position, and nothing of that transaction stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.servers.mariadb import CAPTURE_USER, LOOPBACK
from tests.support.chaos import checkpoint, wait_for
from tests.support.cli import SECRET, assert_one_clear_line, cli, cli_popen
from tests.support.mysql_run import (
    app_url,
    capture_args,
    capture_env,
    dump_threads,
    failed_with_one_error,
    start_streaming,
)
from tests.support.pg_run import fresh_db, wait_slot_active
from tests.support.replay import parquet_changes


def _count(conn: Any, query: str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0])


def _rows(out: Path, table: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, _version, batch in parquet_changes(out):
        if name == table:
            rows.extend(batch.to_pylist())
    return rows


def test_postgres_refuses_a_reserved_name_before_creating_anything(
    postgres: Any, tmp_path: Path
) -> None:
    src = fresh_db(postgres, "resv_pg")
    src.execute(
        "CREATE TABLE public.bad (id int PRIMARY KEY, _seq int, v text);"
        "INSERT INTO public.bad SELECT g, 100 + g, 'v' || g FROM generate_series(1, 5) g"
    )
    url = postgres.dsn_for(postgres.user, None, "resv_pg")
    out = tmp_path / "out"
    base = ["run", "--source", url, "--slot", "resv", "--publication", "resv"]
    base += ["--to", f"parquet:{out}", "--snapshot", "initial", "--idle-exit", "1"]

    # A publication arrowtail would create: refused, and rolled back with it.
    done = cli(*base, "--tables", "public.bad")
    assert_one_clear_line(done.returncode, done.stderr, SECRET, "public.bad._seq", "column list")
    assert _count(src, "SELECT count(*) FROM pg_publication") == 0
    assert _count(src, "SELECT count(*) FROM pg_replication_slots") == 0

    # An existing publication that publishes the column: refused, left as it is.
    src.execute("CREATE PUBLICATION resv FOR TABLE public.bad")
    done = cli(*base)
    assert_one_clear_line(done.returncode, done.stderr, SECRET, "public.bad._seq")
    assert _count(src, "SELECT count(*) FROM pg_replication_slots") == 0
    assert not list(out.glob("*/*.parquet"))

    # A column list without it captures the table; `_seq` is arrowtail's own again.
    src.execute("ALTER PUBLICATION resv SET TABLE public.bad (id, v)")
    done = cli(*base, "--tables", "public.bad (id, v)")
    assert done.returncode == 0, done.stderr
    rows = sorted(_rows(out, "public.bad"), key=lambda r: r["id"])
    assert [(r["id"], r["v"], r["_op"]) for r in rows] == [(g, f"v{g}", "r") for g in range(1, 6)]
    assert sorted(r["_seq"] for r in rows) == [0, 1, 2, 3, 4]
    assert all("_seq" not in (r["_before"] or {}) for r in rows)
    src.close()


def test_postgres_stops_at_a_reserved_column_added_while_streaming(
    postgres: Any, tmp_path: Path
) -> None:
    src = fresh_db(postgres, "resv_pg_ddl")
    src.execute("CREATE TABLE public.t (id int PRIMARY KEY, v text)")
    url = postgres.dsn_for(postgres.user, None, "resv_pg_ddl")
    out = tmp_path / "out"
    run = ["run", "--source", url, "--slot", "resvd", "--publication", "resvd"]
    run += ["--tables", "public.t", "--to", f"parquet:{out}", "--idle-exit", "30"]
    proc = cli_popen(*run)
    wait_slot_active(src, "resvd", proc)
    src.execute("INSERT INTO public.t VALUES (1, 'before')")
    wait_for(lambda: bool(_rows(out, "public.t")), "the first row to be stored")
    with src.transaction():
        src.execute("INSERT INTO public.t VALUES (2, 'same transaction')")
        src.execute("ALTER TABLE public.t ADD COLUMN _xid bigint")
        src.execute("INSERT INTO public.t VALUES (3, 'after', 7)")
        # The transaction's commit record comes after this: a stored position at or past it
        # would skip the transaction on a resume. (An idle position from the server's
        # keepalives may lie before it, inside the open transaction, which a resume sends whole.)
        before_commit = _count(src, "SELECT pg_current_wal_insert_lsn() - '0/0'")
    _, err = proc.communicate(timeout=120)
    line = assert_one_clear_line(
        proc.returncode, err, SECRET, "public.t._xid", "in the WAL up to LSN"
    )
    assert "cannot capture" in line
    # The first transaction is stored; nothing of the one that added the column is, and the
    # stored position does not pass it.
    assert [(r["id"], r["v"]) for r in _rows(out, "public.t")] == [(1, "before")]
    stored = checkpoint(out)
    assert stored is not None and int(stored["end_lsn"]) <= before_commit
    src.close()


@contextmanager
def _mariadb_schema(mariadb: Any, db: str) -> Iterator[Any]:
    """A database with tables ``ok`` and ``bad`` (a ``_pos`` column), dropped afterwards: the
    server is shared, and runs capturing every database would refuse it."""
    conn = mariadb.connect()
    try:
        yield _create(conn, db)
    finally:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
        conn.close()


def _create(conn: Any, db: str) -> Any:
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {db}")
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(f"GRANT SELECT ON `{db}`.* TO %s@%s", (CAPTURE_USER, LOOPBACK))
    cur.execute(f"CREATE TABLE {db}.ok (id int PRIMARY KEY, v varchar(20))")
    cur.execute(f"CREATE TABLE {db}.bad (id int PRIMARY KEY, `_pos` int, v varchar(20))")
    cur.execute(f"INSERT INTO {db}.bad VALUES (1, 10, 'x')")
    return conn


def test_mariadb_refuses_a_reserved_name_and_skips_tables_not_captured(
    mariadb: Any, tmp_path: Path
) -> None:
    db = "resv_my"
    with _mariadb_schema(mariadb, db) as conn:
        cur = conn.cursor()
        out = tmp_path / "refused"
        threads = dump_threads(mariadb)
        done = cli(
            *capture_args(mariadb, f"parquet:{out}", f"{db}.ok,{db}.bad", "--idle-exit", "1"),
            env=capture_env(mariadb),
        )
        assert_one_clear_line(
            done.returncode, done.stderr, mariadb.capture_password, f"{db}.bad._pos"
        )
        assert dump_threads(mariadb) <= threads, "a binlog dump was started"
        assert not list(out.glob("*/*.parquet"))

        # The same server, capturing only the other table: rows of `bad` pass in the binlog and
        # are left out, as any table the run does not capture.
        out = tmp_path / "ok"
        proc = start_streaming(
            mariadb, app_url(mariadb), out, "--tables", f"{db}.ok", "--idle-exit", "3"
        )
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW MASTER STATUS")
        binlog = mariadb.binlog_dir / cur.fetchone()[0]
        cur.execute(f"INSERT INTO {db}.bad VALUES (2, 20, 'y')")
        cur.execute(f"INSERT INTO {db}.ok VALUES (1, 'a')")
        cur.execute(f"UPDATE {db}.bad SET v = 'z'")
        cur.execute(f"INSERT INTO {db}.ok VALUES (2, 'b')")
        cur.execute("FLUSH BINARY LOGS")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert mariadb.capture_password not in err
        got = sorted((r["id"], r["v"], r["_op"]) for r in _rows(out, f"{db}.ok"))
        assert got == [(1, "a", "c"), (2, "b", "c")]
        assert not _rows(out, f"{db}.bad")

        # A decode of the binlog file takes every table in it: refused, naming the file.
        decoded = tmp_path / "decoded"
        done = cli("decode", "--format", "binlog", str(binlog), "--to", f"parquet:{decoded}")
        line = assert_one_clear_line(done.returncode, done.stderr, SECRET, f"{db}.bad._pos")
        assert str(binlog) in line
        assert not list(decoded.glob("*/*.parquet"))


def test_mariadb_stops_at_a_reserved_column_added_while_streaming(
    mariadb: Any, tmp_path: Path
) -> None:
    db = "resv_my_ddl"
    with _mariadb_schema(mariadb, db) as conn:
        cur = conn.cursor()
        out = tmp_path / "out"
        proc = start_streaming(
            mariadb, app_url(mariadb), out, "--tables", f"{db}.ok", "--idle-exit", "30"
        )
        cur.execute(f"INSERT INTO {db}.ok VALUES (1, 'before')")
        wait_for(lambda: bool(_rows(out, f"{db}.ok")), "the first row to be stored")
        cur.execute(f"ALTER TABLE {db}.ok ADD COLUMN `_seq` int")
        cur.execute(f"INSERT INTO {db}.ok VALUES (2, 'after', 5)")
        line = failed_with_one_error(proc, 2, mariadb.capture_password)
        assert f"{db}.ok._seq" in line and "found in binlog" in line, line
        assert [(r["id"], r["v"]) for r in _rows(out, f"{db}.ok")] == [(1, "before")]
