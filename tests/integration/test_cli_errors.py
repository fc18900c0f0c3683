"""``arrowtail run`` refusing what it cannot do: a wrong host or port, a wrong password, a server
without ``wal_level = logical`` (a second private cluster), an unknown table, a MariaDB whose
binlog is not in ROW format. Each must end with exactly one ``arrowtail: error:`` line, exit code 2
or 3, no traceback, and no password anywhere in the output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import SECRET, assert_one_clear_line, free_port


def run(args: list[str], password: str, tmp_path: Path) -> tuple[int, str]:
    env = dict(os.environ, RUN_PASSWORD=password)
    cmd = [sys.executable, "-m", "arrowtail.cli", "run", *args, "--password-env", "RUN_PASSWORD"]
    cmd += ["--to", f"parquet:{tmp_path / 'out'}", "--idle-exit", "1"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def pg_args(postgres: Any, *, port: int | None = None, host: str | None = None) -> list[str]:
    url = f"postgresql://{postgres.app_user}@{host or '127.0.0.1'}:{port or postgres.port}/"
    return ["--source", url + postgres.dbname, "--slot", "cli_err", "--publication", "cli_err"]


def test_postgres_wrong_port(postgres: Any, tmp_path: Path) -> None:
    code, out = run(pg_args(postgres, port=free_port()), postgres.app_password, tmp_path)
    assert_one_clear_line(code, out, postgres.app_password, "cannot connect to PostgreSQL")


def test_postgres_unknown_host(postgres: Any, tmp_path: Path) -> None:
    code, out = run(pg_args(postgres, host="no-such-host.invalid"), postgres.app_password, tmp_path)
    assert_one_clear_line(code, out, postgres.app_password, "cannot connect to PostgreSQL")


def test_postgres_wrong_password(postgres: Any, tmp_path: Path) -> None:
    code, out = run(pg_args(postgres), SECRET, tmp_path)
    assert_one_clear_line(code, out, SECRET, "password authentication failed")


def test_postgres_unknown_table(postgres: Any, tmp_path: Path) -> None:
    url = f"postgresql://{postgres.app_user}@127.0.0.1:{postgres.port}/{postgres.dbname}"
    args = ["--source", url, "--slot", "cli_err", "--publication", "cli_err_tables"]
    args += ["--tables", "public.no_such_table"]
    code, out = run(args, postgres.app_password, tmp_path)
    assert_one_clear_line(code, out, postgres.app_password, "no_such_table")


@pytest.fixture
def replica_cluster(postgres: Any) -> Iterator[int]:
    """A second, throwaway PostgreSQL cluster with wal_level = replica, trust auth."""
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("runuser is needed to run initdb as a non-root user")
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="arrowtail-replica-"))
    root.chmod(0o755)
    if prefix:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    bin_dir = Path(postgres.bin_dir)
    try:
        subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c wal_level=replica"
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-w",
                "-l",
                str(root / "log"),
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield port
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_wal_level_not_logical(replica_cluster: int, tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{replica_cluster}/postgres"
    args = ["--source", url, "--slot", "s", "--publication", "p"]
    code, out = run(args, SECRET, tmp_path)
    assert_one_clear_line(code, out, SECRET, "wal_level is 'replica'")


def my_args(mariadb: Any, *, port: int | None = None) -> list[str]:
    return ["--source", f"mysql://{mariadb.user}@127.0.0.1:{port or mariadb.port}/"]


def test_mariadb_wrong_port(mariadb: Any, tmp_path: Path) -> None:
    code, out = run(my_args(mariadb, port=free_port()), mariadb.password, tmp_path)
    assert_one_clear_line(code, out, mariadb.password)


def test_mariadb_wrong_password(mariadb: Any, tmp_path: Path) -> None:
    code, out = run(my_args(mariadb), SECRET, tmp_path)
    assert_one_clear_line(code, out, SECRET, "denied")


def test_mariadb_statement_binlog(mariadb: Any, tmp_path: Path) -> None:
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL binlog_format = 'STATEMENT'")
        code, out = run(my_args(mariadb), mariadb.password, tmp_path)
    finally:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL binlog_format = 'ROW'")
        conn.close()
    assert_one_clear_line(code, out, mariadb.password, "binlog_format is STATEMENT", "ROW")
