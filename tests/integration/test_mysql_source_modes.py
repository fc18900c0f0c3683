"""MySqlSource modes against the private MariaDB: binlogs written with MINIMAL row metadata (names
and keys from information_schema, refreshed after DDL mid-stream), resuming by GTID state, and
inserts a session logged with a MINIMAL row image."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path
from typing import Any

from arrowtail.pipeline import Pipeline
from arrowtail.sinks import open_sink
from arrowtail.sources.mysql.source import MySqlSource
from tests.support.cli import cli
from tests.support.mysql_run import (
    PASSWORD_ENV,
    PinnedSink,
    app_url,
    assert_rows_equal,
    capture_env,
    change_keys,
    check_replay,
    create_schema,
    start_streaming,
    stream_database,
    workload,
)
from tests.support.replay import parquet_changes, replay

DB = "src_min"
#: Columns whose type needs what MINIMAL metadata leaves out: signedness, charset, labels.
MORE = ["u", "tx", "e", "st"]


def _minimal_workload(conn: Any, start: int, columns: list[str]) -> None:
    """Inserts (one transaction), updates and deletes using exactly ``columns``."""
    values = {
        "id": lambda k: k,
        "name": lambda k: f"name {k}",
        "amount": lambda k: f"{k}.25",
        "at": lambda k: f"2024-01-01 00:00:{k % 60:02d}.125",
        "note": lambda k: "x" * (k % 5),
        "n": lambda k: -k,
        "a": lambda k: k,
        "u": lambda k: 4294967295 - k,
        "tx": lambda k: f"t\u00e9xt {k} \U0001f600",
        "e": lambda k: "ab"[k % 2],
        "st": lambda k: ["", "x", "x,y"][k % 3],
    }
    marks = ", ".join(["%s"] * len(columns))
    cur = conn.cursor()
    cur.execute("BEGIN")
    for k in range(start, start + 30):
        cur.execute(
            f"INSERT INTO {DB}.t ({', '.join(columns)}) VALUES ({marks})",
            tuple(values[c](k) for c in columns),
        )
    cur.execute("COMMIT")
    cur.execute(f"UPDATE {DB}.t SET name = CONCAT(name, '!') WHERE MOD(id, 3) = 0")
    cur.execute(f"DELETE FROM {DB}.t WHERE MOD(id, 10) = 1")


def test_minimal_metadata_with_ddl_mid_stream(mariadb: Any, tmp_path: Path) -> None:
    admin = mariadb.connect()
    cur = admin.cursor()
    cur.execute("SELECT @@global.binlog_row_metadata")
    (saved,) = cur.fetchone()
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"CREATE DATABASE {DB}")
    mariadb.grant_capture(DB)
    cur.execute(
        f"CREATE TABLE {DB}.t (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(10,2), "
        "at DATETIME(3), n BIGINT, u INT UNSIGNED, tx TEXT, e ENUM('a','b'), st SET('x','y')) "
        "CHARACTER SET utf8mb4"
    )
    out = tmp_path / "parquet"
    cur.execute("SET GLOBAL binlog_row_metadata = MINIMAL")
    try:
        conn = mariadb.connect()  # a new session takes the MINIMAL setting
        proc = start_streaming(mariadb, app_url(mariadb) + DB, out, "--idle-exit", "3")
        _minimal_workload(conn, 1, ["id", "name", "amount", "at", "n", *MORE])
        conn.cursor().execute(f"ALTER TABLE {DB}.t ADD COLUMN note VARCHAR(20) NULL AFTER name")
        # Live: the source reads each DDL before the next one runs (a restart across several
        # DDLs is tests/integration/test_mysql_schema_history.py).
        seen = _wait_for_line(proc, f"columns of {DB}.t are now id, name, note, amount, at, n, u")
        _minimal_workload(conn, 100, ["id", "name", "amount", "at", "note", "n", *MORE])
        conn.cursor().execute(f"ALTER TABLE {DB}.t DROP COLUMN n")
        seen += _wait_for_line(proc, f"columns of {DB}.t are now id, name, note, amount, at, u")
        _minimal_workload(conn, 200, ["id", "name", "amount", "at", "note", *MORE])
        stdout, stderr = proc.communicate(timeout=120)
        stderr = seen + stderr
        assert proc.returncode == 0, stderr
        assert "binlog_row_metadata is MINIMAL" in stderr
    finally:
        cur.execute("SET GLOBAL binlog_row_metadata = %s", (saved,))
    changes = [c for c in parquet_changes(out) if c[0] == f"{DB}.t"]
    assert len({v for _, v, _ in changes}) == 3  # one schema version per table shape
    for _, _, batch in changes:
        meta = batch.schema.metadata
        assert b"arrowtail.column_names" not in meta, stderr
        assert meta[b"arrowtail.primary_key"] == b"id"
    got = replay(changes)[f"{DB}.t"]
    c = conn.cursor()
    c.execute(f"SELECT * FROM {DB}.t")
    names = [d[0] for d in c.description]
    want = {(r[0],): dict(zip(names, r, strict=True)) for r in c.fetchall()}
    assert len(want) > 60
    assert_rows_equal(got, want, f"{DB}.t")
    types = {f.name: str(f.type) for f in changes[-1][2].schema}
    assert types["u"] == "uint32" and types["tx"] == "string" and types["st"].endswith(": string>")


def _wait_for_line(proc: Any, text: str, timeout: float = 60.0) -> str:
    """Reads the process's stderr (unbuffered) until ``text`` appears; returns what it read."""
    deadline = time.monotonic() + timeout
    fd = proc.stderr.fileno()
    read = b""
    while text.encode() not in read:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, left))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            raise AssertionError(f"no line with {text!r} in: {read.decode()}")
        read += chunk
    return read.decode()


def test_resume_by_gtid(mariadb: Any, tmp_path: Path) -> None:
    db = "src_gtid"
    conn = mariadb.connect()
    create_schema(conn, db)
    out = tmp_path / "parquet"
    proc = start_streaming(mariadb, app_url(mariadb) + db, out, "--idle-exit", "2")
    workload(conn, db, 1)
    assert proc.wait(timeout=120) == 0
    workload(conn, db, 2)

    # The stored position with a file the server never had: only the GTID state can resume it.
    sink = open_sink(f"parquet:{out}")
    stored = sink.open()
    assert stored is not None and str(stored["gtid"]).startswith("0-1-")
    sink.close()
    sink = open_sink(f"parquet:{out}")
    source = MySqlSource(app_url(mariadb) + db, password=mariadb.capture_password, resume_by="gtid")
    summary = Pipeline(
        source, PinnedSink(sink, dict(stored, file="mysql-bin.999999")), idle_exit=2
    ).run()
    assert summary.rows > 0
    check_replay(out, conn, db)
    keys = change_keys(out)
    assert len(keys) == len(set(keys)), "a change was stored twice"
    # The GTID state advanced with the stream and is what the sink stored.
    assert summary.last_position is not None
    assert summary.last_position["gtid"] != stored["gtid"]


def test_idle_exit_waits_for_a_transaction_still_open_on_the_server(
    mariadb: Any, tmp_path: Path
) -> None:
    db = "src_busy"
    conn = mariadb.connect()
    create_schema(conn, db)
    out = tmp_path / "parquet"
    proc = start_streaming(mariadb, app_url(mariadb) + db, out, "--idle-exit", "2")
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute(f"INSERT INTO {db}.pairs VALUES (1, 'a', 'first', 1)")
    # The transaction stays open three times longer than idle_exit; nothing of it is in the
    # binlog before COMMIT, so only the server's open transactions tell the run to wait.
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.2)
    cur.execute(f"INSERT INTO {db}.pairs VALUES (2, 'b', 'second', 2)")
    cur.execute("COMMIT")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    check_replay(out, conn, db)
    assert len(change_keys(out)) == 2


def test_a_system_versioned_table_is_left_out_by_name(mariadb: Any, tmp_path: Path) -> None:
    # It used to be left out of the snapshot (not a BASE TABLE) but streamed, its history rows
    # as inserts under a key that lacked row_end; named in --tables, it "did not exist".
    from tests.support.cli import assert_one_clear_line, cli, cli_popen
    from tests.support.mysql_run import capture_args, capture_env, wait_for_dump

    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS versioned")
        cur.execute("CREATE DATABASE versioned")
        cur.execute("CREATE TABLE versioned.plain (id INT PRIMARY KEY, a INT)")
        cur.execute(
            "CREATE TABLE versioned.hist (id INT PRIMARY KEY, a INT) WITH SYSTEM VERSIONING"
        )
        cur.execute("INSERT INTO versioned.plain VALUES (1, 1)")
        cur.execute("INSERT INTO versioned.hist VALUES (1, 1)")
    mariadb.grant_capture("versioned")
    env = capture_env(mariadb)
    try:
        named = capture_args(
            mariadb, f"parquet:{tmp_path / 'named'}", "versioned.plain,versioned.hist"
        )
        run = cli(*named, "--snapshot", "initial", "--idle-exit", "1", env=env)
        assert_one_clear_line(
            run.returncode, run.stderr, mariadb.capture_password,
            "versioned.hist is a system-versioned table", "leave it out of --tables",
        )  # fmt: skip
        # The whole database: the table is named in a warning and left out of the snapshot
        # and of the stream alike.
        out = tmp_path / "whole"
        args = capture_args(mariadb, f"parquet:{out}", "", "--snapshot", "initial")
        args = [a for a in args if a not in ("--tables", "")]
        args[args.index("--source") + 1] += "versioned"
        proc = cli_popen(*args, "--idle-exit", "3", env=env)
        wait_for_dump(mariadb, proc)
        with conn.cursor() as cur:
            cur.execute("UPDATE versioned.hist SET a = 2")
            cur.execute("INSERT INTO versioned.plain VALUES (2, 2)")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "left out: versioned.hist, system-versioned" in err
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_")) == [
            "versioned.plain"
        ]
        assert sorted(replay(parquet_changes(out))["versioned.plain"]) == [(1,), (2,)]
        # A database of versioned tables only: said so, not that the user cannot see a table.
        with conn.cursor() as cur:
            cur.execute("DROP TABLE versioned.plain")
        only = capture_args(mariadb, f"parquet:{tmp_path / 'only'}", "")
        only = [a for a in only if a not in ("--tables", "")]
        only[only.index("--source") + 1] += "versioned"
        run = cli(*only, "--snapshot", "initial", "--idle-exit", "1", env=env)
        assert_one_clear_line(
            run.returncode, run.stderr, mariadb.capture_password,
            "no table of versioned can be captured: versioned.hist is system-versioned",
        )  # fmt: skip
        assert "cannot see" not in run.stderr
    finally:
        # A versioned table left behind would be named in every later whole-server run.
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE versioned")
        conn.close()


def test_inserts_logged_without_some_columns_are_warned_of(mariadb: Any, tmp_path: Path) -> None:
    """``binlog_row_image`` is also a session setting: an INSERT under MINIMAL logs only the
    columns it names, so a column's default is in no event. The run warns once for the table
    (an update or delete under MINIMAL loses nothing: the output marks the columns not logged
    unchanged, and a replay keeps their values), and ``verify`` names the row."""
    db = "partial_img"
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(
            f"CREATE TABLE {db}.t (id int PRIMARY KEY, a int, b varchar(10) DEFAULT 'dflt', c blob)"
        )
        cur.execute(f"INSERT INTO {db}.t VALUES (1, 1, 'one', 'x'), (2, 2, 'two', 'y')")
    out = tmp_path / "out"
    proc = stream_database(mariadb, db, out, 7439)
    with conn.cursor() as cur:
        cur.execute("SET SESSION binlog_row_image = 'MINIMAL'")
        cur.execute(f"UPDATE {db}.t SET a = 10 WHERE id = 1")
        cur.execute(f"DELETE FROM {db}.t WHERE id = 2")
        cur.execute(f"INSERT INTO {db}.t (id, a) VALUES (3, 3), (4, 4)")
        cur.execute(f"INSERT INTO {db}.t (id, a) VALUES (5, 5)")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    warned = [line for line in err.splitlines() if "logged without some of their columns" in line]
    assert len(warned) == 1, err
    assert f"{db}.t: inserts logged without" in warned[0], err
    rows = replay(parquet_changes(out))[f"{db}.t"]
    assert rows[(1,)]["a"] == 10 and rows[(1,)]["b"] == "one"  # the update lost nothing
    assert (2,) not in rows
    verify = cli(
        "verify", "--source", app_url(mariadb), "--password-env", PASSWORD_ENV,
        "--against", f"parquet:{out}", "--tables", f"{db}.t", env=capture_env(mariadb),
    )  # fmt: skip
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "different 3: 3, 4, 5" in verify.stdout, verify.stdout
    conn.close()
