"""``arrowtail run`` end to end against the private MariaDB: a live workload streamed into Parquet
by the CLI in a subprocess (password through the environment, never printed), a clean stop by
``--idle-exit``, and the replay of the files compared with ``SELECT *`` value by value. Also:
resume without duplicates, binlog rotation, a server restart mid-stream, and a purged binlog."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.support.mysql_run import (
    app_url,
    change_keys,
    check_replay,
    create_schema,
    dump_threads,
    failed_with_one_error,
    start_run,
    start_streaming,
    wait_for_dump,
    workload,
)
from tests.support.replay import parquet_changes, replay

DB = "run_my"


def _finish(proc: Any, server: Any, timeout: float = 240) -> str:
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr
    assert server.capture_password not in stdout + stderr
    return stderr


def test_stream_rotate_resume_restart(mariadb: Any, tmp_path: Path) -> None:
    conn = mariadb.connect()
    create_schema(conn, DB)
    out = tmp_path / "parquet"
    url = app_url(mariadb)

    # Run 1: live workload with a binlog rotation half way through.
    proc = start_streaming(mariadb, url, out, "--idle-exit", "3")
    before = _binlog_names(conn)
    workload(conn, DB, 1, rotate=lambda: conn.cursor().execute("FLUSH BINARY LOGS"))
    stderr = _finish(proc, mariadb)
    assert "stopped: idle for 3s" in stderr
    assert len(_binlog_names(conn)) > len(before)
    check_replay(out, conn, DB)
    first = change_keys(out)
    assert len(first) > 250

    # Run 2: changes made while nothing runs are picked up from the stored position.
    workload(conn, DB, 2)
    proc = start_run(url, out, mariadb.capture_password, "--idle-exit", "3")
    _finish(proc, mariadb)
    check_replay(out, conn, DB)
    second = change_keys(out)
    assert len(second) == len(set(second)), "a change was stored twice"
    assert set(first) < set(second)

    # Run 3: the server restarts mid-stream; the source reconnects and loses nothing.
    proc = start_streaming(mariadb, url, out, "--idle-exit", "15")
    workload(conn, DB, 3)
    conn.close()
    mariadb.restart()
    conn = mariadb.connect()
    workload(conn, DB, 4)  # possibly before the source is back: it resumes where it was
    wait_for_dump(mariadb, proc)
    workload(conn, DB, 5)
    stderr = _finish(proc, mariadb)
    assert "reconnected" in stderr, stderr
    check_replay(out, conn, DB)
    third = change_keys(out)
    assert len(third) == len(set(third)), "a change was stored twice"


def test_purged_binlog_is_one_clear_error(mariadb: Any, tmp_path: Path) -> None:
    db = DB + "_purge"
    conn = mariadb.connect()
    create_schema(conn, db)
    out = tmp_path / "parquet"
    url = app_url(mariadb)
    proc = start_streaming(mariadb, url, out, "--idle-exit", "2")
    workload(conn, db, 1)
    _finish(proc, mariadb)
    check_replay(out, conn, db)

    cur = conn.cursor()
    cur.execute("SHOW MASTER STATUS")
    needed = cur.fetchone()[0]
    for _ in range(2):
        cur.execute(f"INSERT INTO {db}.types (id) VALUES (%s)", (90000 + _,))
        cur.execute("FLUSH BINARY LOGS")
    cur.execute("SHOW MASTER STATUS")
    current = cur.fetchone()[0]
    # A finished replica's dump thread may still hold its file open, and the server keeps a file
    # until its binlog checkpoint is written: both make the purge wait.
    deadline = time.monotonic() + 60
    while needed in _binlog_names(conn) and time.monotonic() < deadline:
        for thread in dump_threads(mariadb):
            cur.execute(f"KILL {thread}")
        cur.execute("PURGE BINARY LOGS TO %s", (current,))
        time.sleep(0.2)
    assert needed not in _binlog_names(conn)
    proc = start_run(url, out, mariadb.capture_password, "--idle-exit", "2")
    error = failed_with_one_error(proc, 3, mariadb.capture_password)
    # It names the position that was needed and what the server still has.
    assert "no longer on the server" in error
    assert f"binlog {needed} (position " in error
    assert current in error


def _binlog_names(conn: Any) -> list[str]:
    cur = conn.cursor()
    cur.execute("SHOW BINARY LOGS")
    return [r[0] for r in cur.fetchall()]


def test_initial_snapshot_with_concurrent_writes(mariadb: Any, tmp_path: Path) -> None:
    db = DB + "_snap"
    conn = mariadb.connect()
    create_schema(conn, db)
    workload(conn, db, 1)
    cur = conn.cursor()
    # More rows than one snapshot chunk, so that paging by primary key is exercised.
    cur.execute(
        f"INSERT INTO {db}.pairs SELECT seq, CONCAT('s', seq), REPEAT('x', seq % 50), seq "
        f"FROM {db}.seq_1_to_25000"
    )
    # A table without a primary key: read in one unbuffered pass.
    cur.execute(f"CREATE TABLE {db}.nokey (a INT, b VARCHAR(20))")
    cur.executemany(f"INSERT INTO {db}.nokey VALUES (%s, %s)", [(i, f"n{i}") for i in range(7)])
    out = tmp_path / "parquet"
    before = dump_threads(mariadb)
    proc = start_run(
        app_url(mariadb) + db,
        out,
        mariadb.capture_password,
        "--snapshot",
        "initial",
        "--idle-exit",
        "4",
    )
    # Writes while the snapshot is read: each is either in the snapshot or streamed after it.
    workload(conn, db, 2)
    cur.execute(f"UPDATE {db}.pairs SET n = -n WHERE MOD(a, 7) = 0 AND a < 5000")
    wait_for_dump(mariadb, proc, before)  # the stream starts once the snapshot is stored
    workload(conn, db, 3)
    cur.execute(f"DELETE FROM {db}.nokey WHERE a = 3")
    cur.execute(f"INSERT INTO {db}.nokey VALUES (70, 'late')")
    _finish(proc, mariadb)
    check_replay(out, conn, db)
    changes = parquet_changes(out)
    nokey = replay(c for c in changes if c[0] == f"{db}.nokey")[f"{db}.nokey"]
    cur.execute(f"SELECT a, b FROM {db}.nokey")
    assert sorted((r["a"], r["b"]) for r in nokey.values()) == sorted(cur.fetchall())
    ops = {op for t, _, b in changes if t == f"{db}.pairs" for op in b.column("_op").to_pylist()}
    assert "r" in ops
    rows = [
        (op, pos)
        for t, _, b in changes
        if t == f"{db}.types"
        for op, pos in zip(b.column("_op").to_pylist(), b.column("_pos").to_pylist(), strict=True)
    ]
    snap_pos = {p for op, p in rows if op == "r"}
    assert len(snap_pos) == 1
    streamed = [p for op, p in rows if op != "r"]
    assert streamed and min(streamed) > min(snap_pos)
    # Snapshot rows have exactly the types the binlog decoder gives the same columns (the sink
    # refuses a batch whose schema differs within one schema version, and so does this check).
    schemas = {str(b.schema.remove_metadata()) for t, _, b in changes if t == f"{db}.types"}
    assert len(schemas) == 1


def test_snapshot_command_reads_everything_then_stops(mariadb: Any, tmp_path: Path) -> None:
    db = DB + "_snapcmd"
    conn = mariadb.connect()
    create_schema(conn, db)
    workload(conn, db, 1)
    conn.cursor().execute(
        f"INSERT INTO {db}.pairs SELECT seq, 's', NULL, seq FROM {db}.seq_1_to_45000"
    )
    out = tmp_path / "parquet"
    proc = start_run(app_url(mariadb) + db, out, mariadb.capture_password, command="snapshot")
    stderr = _finish(proc, mariadb)
    assert "stopped: idle for 0s" in stderr
    check_replay(out, conn, db)
    ops = {op for _, _, b in parquet_changes(out) for op in b.column("_op").to_pylist()}
    assert ops == {"r"}
