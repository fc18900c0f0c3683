"""``arrowtail status`` for a MariaDB source: the server's binlog position, the stored checkpoint,
bytes and seconds behind, the binlog files a restart still needs and the last error, as a table
and as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.mysql_run import (
    PASSWORD_ENV,
    app_url,
    create_schema,
    start_run,
    start_streaming,
    workload,
)

DB = "status_my"


def _status(mariadb: Any, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "arrowtail.cli", "status", "--source", app_url(mariadb)]
    cmd += ["--password-env", PASSWORD_ENV, "--to", f"parquet:{out}", *extra]
    env = dict(os.environ, **{PASSWORD_ENV: mariadb.capture_password})
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def _binary_logs(conn: Any) -> list[tuple[str, int]]:
    cur = conn.cursor()
    cur.execute("SHOW BINARY LOGS")
    return [(str(r[0]), int(r[1])) for r in cur.fetchall()]


def test_status_reports_position_lag_files_and_last_error(mariadb: Any, tmp_path: Path) -> None:
    conn = mariadb.connect()
    create_schema(conn, DB)
    out = tmp_path / "parquet"
    proc = start_streaming(mariadb, app_url(mariadb) + DB, out, "--idle-exit", "2")
    workload(conn, DB, 1)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr

    # Caught up: nothing behind.
    done = _status(mariadb, out, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["lag_bytes"] == 0 and report["lag_seconds"] == 0.0
    assert report["binlog_files_needed"] == [report["checkpoint_file"]]

    # Changes the run has not read, across a binlog rotation.
    workload(conn, DB, 2, rotate=lambda: conn.cursor().execute("FLUSH BINARY LOGS"))
    # After a rotation MariaDB writes a Binlog_checkpoint event (43 bytes) into the new file on
    # its own time; the report is compared with file sizes read before and after it unchanged.
    for _ in range(50):
        files = _binary_logs(conn)
        behind = json.loads(_status(mariadb, out, "--json").stdout)
        if _binary_logs(conn) == files:
            break
    names = [n for n, _ in files]
    at = names.index(behind["checkpoint_file"])
    expected = files[at][1] - behind["checkpoint_offset"] + sum(s for _, s in files[at + 1 :])
    assert behind["lag_bytes"] == expected > 0
    assert behind["binlog_files_needed"] == names[at:] and len(names[at:]) >= 2
    assert (behind["server_file"], behind["server_offset"]) == files[-1]
    assert behind["server_gtid"].startswith("0-1-")
    assert behind["lag_seconds"] >= 0
    assert behind["sink_checkpoint"]["file"] == behind["checkpoint_file"]
    assert "last_error" not in behind

    # A run that fails leaves its error for status; the table form shows the same facts.
    failed = start_run(app_url(mariadb), out, "not-the-password", "--idle-exit", "1")
    failed_err = failed.communicate(timeout=60)[1]
    assert failed.returncode == 3, failed_err
    table = _status(mariadb, out)
    assert table.returncode == 0, table.stderr
    lines = {line.split()[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert {"server_file", "checkpoint_file", "lag_bytes", "binlog_files_needed"} <= set(lines)
    assert "last_error" in lines and "Access denied" in lines["last_error"], table.stdout
    for secret in (mariadb.capture_password, "not-the-password"):
        assert secret not in table.stdout + table.stderr


def test_describe_gives_lag_across_binlog_files(mariadb: Any) -> None:
    from arrowtail.sources.mysql.source import MySqlSource

    conn = mariadb.connect()
    create_schema(conn, DB + "_d")
    source = MySqlSource(app_url(mariadb) + DB + "_d", password=mariadb.capture_password)
    source.open(None)
    try:
        assert source.describe()["lag_bytes"] == 0
        workload(conn, DB + "_d", 1, rotate=lambda: conn.cursor().execute("FLUSH BINARY LOGS"))
        info = source.describe()
        files = _binary_logs(conn)
        names = [n for n, _ in files]
        at = names.index(info["file"])
        assert at < len(names) - 1  # the rotation happened after the source's position
        expected = files[at][1] - info["offset"] + sum(s for _, s in files[at + 1 :])
        assert info["lag_bytes"] == expected > 0
    finally:
        source.close()
