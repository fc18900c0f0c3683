"""A bare install runs every command: the wheel, built once per session, is installed alone into
a fresh venv (pip resolves the runtime dependencies that pyproject.toml declares, pinned to the
versions of requirements-dev.lock), and each command of that venv's ``arrowtail`` runs from an
empty working directory with a clean environment against the session's PostgreSQL and MariaDB.
A runtime dependency missing from ``[project] dependencies`` fails here with the
ModuleNotFoundError of the command that needs it, whatever the development venv holds.

The wheel build reuses the cargo target directory that ``./run setup`` filled, so it only packs;
the install takes its wheels from pip's cache (or PyPI once). ``ARROWTAIL_TEST_WHEEL=PATH`` tests
a wheel built beforehand instead (e.g. the one a release ships).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.support.pg_run import create_database, drop_slot
from tests.support.replay import assert_tables_equal, parquet_changes, replay

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "WHEEL_SOURCE_PASSWORD"
#: The dev venv's bin directory: on PATH in ./run test, never in the fresh venv's environment.
DEV_BIN = Path(sys.executable).parent
BUILD_TIMEOUT = 1800  # a cold cargo cache builds the whole release crate
INSTALL_TIMEOUT = 600
COMMAND_TIMEOUT = 120


@dataclass
class Installed:
    """The fresh venv holding only the wheel and its runtime dependencies."""

    venv: Path
    cwd: Path  # empty directory the commands run in: no repository on sys.path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment without anything pointing at the repository or the dev venv."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONDA")) and k != "ARROWTAIL_DEBUG"
        }
        path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != DEV_BIN]
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), *path])
        env["PYTHONNOUSERSITE"] = "1"
        env.update(extra)
        return env

    def run(self, argv: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=self.cwd,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def arrowtail(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """``arrowtail ARGS`` of the fresh venv; fails the test unless it exits 0."""
        result = self.run([str(self.venv / "bin" / "arrowtail"), *args], **extra)
        assert result.returncode == 0, (
            f"arrowtail {args[0]} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        return result


def _checked(argv: list[str], what: str, timeout: float, **kw: Any) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    assert result.returncode == 0, f"{what} failed:\n{result.stdout[-4000:]}\n{result.stderr}"


def _build_wheel(dist: Path) -> Path:
    """``pip wheel .`` as a user would build it, into ``dist``; the shared cargo target dir of
    ``./run setup`` keeps it to packing."""
    cache = Path(os.environ.get("ARROWTAIL_CACHE", Path.home() / ".cache" / "arrowtail"))
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(cache / "target"))
    # maturin's PEP 517 hooks call the maturin executable of the dev venv by name.
    env["PATH"] = os.pathsep.join([str(DEV_BIN), env.get("PATH", "")])
    _checked(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps"]
        + ["--disable-pip-version-check", "--wheel-dir", str(dist), str(ROOT)],
        "building the wheel",
        BUILD_TIMEOUT,
        env=env,
    )
    wheels = list(dist.glob("arrowtail-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    prebuilt = os.environ.get("ARROWTAIL_TEST_WHEEL")
    wheel = Path(prebuilt) if prebuilt else _build_wheel(work / "dist")

    venv = work / "venv"
    cwd = work / "cwd"
    cwd.mkdir()
    # venv makes it from the base interpreter: none of the dev venv's packages are in it.
    _checked([sys.executable, "-m", "venv", str(venv)], "python3 -m venv", 300)
    fresh = Installed(venv, cwd)
    _checked(
        [str(fresh.python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        + ["--constraint", str(ROOT / "requirements-dev.lock"), str(wheel)],
        "pip install of the wheel alone",
        INSTALL_TIMEOUT,
        cwd=cwd,
        env=fresh.env(),
    )
    return fresh


def test_the_venv_holds_the_wheel_and_its_dependencies_only(installed: Installed) -> None:
    # cryptography: PyMySQL's RSA exchange for caching_sha2_password without TLS (MySQL 8.4's
    # default authentication; MariaDB, which the tests run, has no such plugin).
    probe = installed.run(
        [
            str(installed.python),
            "-c",
            "import arrowtail._core, cryptography; print(arrowtail.__file__)",
        ]
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).is_relative_to(installed.venv), probe.stdout
    # A test-only package of the dev venv is not importable: the commands see the venv alone.
    isolated = installed.run([str(installed.python), "-c", "import pytest"])
    assert isolated.returncode == 1 and "No module named 'pytest'" in isolated.stderr
    check = installed.run([str(installed.python), "-m", "pip", "check"])
    assert check.returncode == 0, check.stdout + check.stderr
    version = installed.arrowtail("--version")
    assert version.stdout.startswith("arrowtail "), version.stdout


# -- PostgreSQL -----------------------------------------------------------------------------------

PG_DB = "wheel_pg"
PG_SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), seen timestamptz);
INSERT INTO items SELECT g, 'item ' || g, g * 1.25,
    timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 200) g;
"""
#: 60 inserts (201..260), 26 updates (every tenth id), 37 deletes (every seventh id).
CHANGES = {"c": 60, "u": 26, "d": 37}
PG_CHANGES = """
INSERT INTO items SELECT g, 'new ' || g, g, now() FROM generate_series(201, 260) g;
UPDATE items SET name = 'changed', price = price * 2 WHERE id % 10 = 0;
DELETE FROM items WHERE id % 7 = 0;
"""


def _ops(out: Path, table: str) -> Counter[str]:
    ops: Counter[str] = Counter()
    for name, _, batch in parquet_changes(out):
        if name == table:
            ops.update(batch.column("_op").to_pylist())
    return ops


def _pg_rows(postgres: Any, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    with postgres.connect(dbname=PG_DB) as conn:
        cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(*table.split("."))))
        names = [d.name for d in cur.description or []]
        return {(r[0],): dict(zip(names, r, strict=True)) for r in cur}


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def test_postgres_commands(postgres: Any, installed: Installed, tmp_path: Path) -> None:
    create_database(postgres, PG_DB, PG_SCHEMA, publication="wheel_pub")
    source = ["--source", postgres.capture_dsn(PG_DB), "--password-env", PASSWORD_ENV]
    pw = {PASSWORD_ENV: postgres.app_password}
    table = "public.items"

    # snapshot: the 200 rows, as reads.
    snap = tmp_path / "snapshot"
    installed.arrowtail(
        "snapshot", *source, "--slot", "wheel_snap", "--publication", "wheel_pub",
        "--to", f"parquet:{snap}", **pw,
    )  # fmt: skip
    assert _ops(snap, table) == {"r": 200}

    # run: the initial snapshot; then the changes, made while nothing ran, from the slot.
    out = tmp_path / "run"
    run = ["run", *source, "--slot", "wheel_run", "--publication", "wheel_pub"]
    run += ["--to", f"parquet:{out}", "--idle-exit", "1"]
    installed.arrowtail(*run, "--snapshot", "initial", **pw)
    with postgres.connect(dbname=PG_DB) as conn:
        # A slot of its own for capture, made before the changes so that it holds them.
        conn.execute("SELECT pg_create_logical_replication_slot('wheel_cap', 'pgoutput')")
        conn.execute(PG_CHANGES)
    installed.arrowtail(*run, **pw)
    assert _ops(out, table) == {"r": 200, **CHANGES}, _ops(out, table)
    assert_tables_equal(replay(parquet_changes(out))[table], _pg_rows(postgres, table), table)

    # status: the slot, caught up with the sink's checkpoint.
    status = installed.arrowtail(
        "status", *source, "--slot", "wheel_run", "--to", f"parquet:{out}", "--json", **pw
    )
    report = json.loads(status.stdout)
    assert report["slot"] == "wheel_run" and report["slot_active"] is False, report
    high, low = (int(part, 16) for part in report["slot_confirmed_flush_lsn"].split("/"))
    # Acknowledged up to what the Parquet files hold (later WAL of other sessions is lag).
    assert (high << 32) + low >= report["sink_checkpoint"]["lsn"] > 0, report
    assert report["lag_bytes"] >= 0, report
    assert postgres.app_password not in status.stdout + status.stderr

    # verify: the Parquet replay equals the source table.
    verified = installed.arrowtail(
        "verify", *source, "--against", f"parquet:{out}", "--tables", table, **pw
    )
    assert _last_line(verified) == "equal", verified.stdout

    # capture: the changes, from the slot made before them; decode: those changes as rows.
    cap = tmp_path / "changes.cap"
    captured = installed.arrowtail(
        "capture", *source, "--slot", "wheel_cap", "--publication", "wheel_pub",
        "--out", str(cap), "--idle-exit", "1", **pw,
    )  # fmt: skip
    assert "captured" in captured.stderr and cap.stat().st_size > 0, captured.stderr
    decoded = tmp_path / "decoded"
    installed.arrowtail("decode", "--format", "pgoutput", str(cap), "--to", f"parquet:{decoded}")
    assert _ops(decoded, table) == CHANGES

    for slot in ("wheel_snap", "wheel_run", "wheel_cap"):
        drop_slot(postgres, PG_DB, slot)


def test_demo(installed: Installed, tmp_path: Path) -> None:
    """``arrowtail demo``: its own PostgreSQL, a workload into Parquet, the replay check."""
    out = tmp_path / "demo"
    result = installed.arrowtail("demo", "--rows", "2000", "--out", str(out))
    text = result.stdout + result.stderr
    assert "replay of the Parquet files against the source tables" in text, text
    equal = [line for line in text.splitlines() if ": equal (" in line]
    assert len(equal) == 3, text
    assert _ops(out, "public.orders")["c"] == 2000, text


# -- MariaDB --------------------------------------------------------------------------------------

MY_DB = "wheel_my"


def _mysql_url(mariadb: Any, db: str) -> str:
    return f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{db}"


def _my_rows(mariadb: Any, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cur.description]
            return {(r[0],): dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    finally:
        conn.close()


def _my_items(mariadb: Any, db: str) -> None:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(
            f"CREATE TABLE {db}.items (id INT PRIMARY KEY, name VARCHAR(40),"
            " price DECIMAL(10,2), seen DATETIME(6))"
        )
        cur.execute(
            f"INSERT INTO {db}.items SELECT seq, CONCAT('item ', seq), seq * 1.25,"
            f" TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq HOUR FROM {db}.seq_1_to_200"
        )
    conn.close()


def test_mariadb_commands(mariadb: Any, installed: Installed, tmp_path: Path) -> None:
    _my_items(mariadb, MY_DB)
    source = ["--source", _mysql_url(mariadb, MY_DB), "--password-env", PASSWORD_ENV]
    pw = {PASSWORD_ENV: mariadb.password}
    table = f"{MY_DB}.items"

    snap = tmp_path / "snapshot"
    installed.arrowtail("snapshot", *source, "--to", f"parquet:{snap}", **pw)
    assert _ops(snap, table) == {"r": 200}

    # run: the initial snapshot; then the changes, in a binlog file of their own, resumed.
    out = tmp_path / "run"
    run = ["run", *source, "--to", f"parquet:{out}", "--idle-exit", "1"]
    installed.arrowtail(*run, "--snapshot", "initial", **pw)
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW MASTER STATUS")
        binlog = mariadb.binlog_dir / cur.fetchone()[0]
        cur.execute(
            f"INSERT INTO {table} SELECT seq, CONCAT('new ', seq), seq, NOW(6)"
            f" FROM {MY_DB}.seq_201_to_260"
        )
        cur.execute(f"UPDATE {table} SET name = 'changed', price = price * 2 WHERE id % 10 = 0")
        cur.execute(f"DELETE FROM {table} WHERE id % 7 = 0")
        cur.execute("FLUSH BINARY LOGS")
    conn.close()
    installed.arrowtail(*run, **pw)
    assert _ops(out, table) == {"r": 200, **CHANGES}, _ops(out, table)
    assert_tables_equal(replay(parquet_changes(out))[table], _my_rows(mariadb, table), table)

    # status: the server's position and the Parquet checkpoint, nothing behind.
    status = installed.arrowtail("status", *source, "--to", f"parquet:{out}", "--json", **pw)
    report = json.loads(status.stdout)
    # The last change stored is the last commit of the changes' file; the server is in the next.
    assert report["sink_checkpoint"]["file"] == report["checkpoint_file"] == binlog.name, report
    assert report["binlog_files_needed"][0] == binlog.name < report["server_file"], report
    assert report["lag_bytes"] >= 0, report
    assert mariadb.password not in status.stdout + status.stderr

    verified = installed.arrowtail(
        "verify", *source, "--against", f"parquet:{out}", "--tables", table, **pw
    )
    assert _last_line(verified) == "equal", verified.stdout

    # decode: the binlog file that holds exactly the changes.
    decoded = tmp_path / "decoded"
    installed.arrowtail("decode", "--format", "binlog", str(binlog), "--to", f"parquet:{decoded}")
    assert _ops(decoded, table) == CHANGES


# -- database targets -----------------------------------------------------------------------------

MIG_SCHEMA = "wheel_mig"  # a PostgreSQL schema, and the MariaDB database it is copied into
MIG_PG = "wheel_mig_pg"  # PostgreSQL source database
MIG_MY = "wheel_mig_my"  # MariaDB source database, and the PostgreSQL schema it is copied into
MY_TO_PG = "wheel_from_my"  # PostgreSQL target database


def test_database_targets(postgres: Any, mariadb: Any, installed: Installed) -> None:
    """PostgreSQL into the MySQL target and MariaDB into the PostgreSQL target, each then
    verified against its source."""
    create_database(
        postgres,
        MIG_PG,
        f"CREATE SCHEMA {MIG_SCHEMA}; SET search_path = {MIG_SCHEMA};" + PG_SCHEMA
        + f"CREATE PUBLICATION {MIG_SCHEMA} FOR TABLE {MIG_SCHEMA}.items;",
    )  # fmt: skip
    with postgres.connect() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {MY_TO_PG} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {MY_TO_PG}")
    _my_items(mariadb, MIG_MY)
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {MIG_SCHEMA}")
    my.close()
    pw = {PASSWORD_ENV: mariadb.password, "ARROWTAIL_TARGET_PASSWORD": mariadb.password}
    pg_table, my_table = f"{MIG_SCHEMA}.items", f"{MIG_MY}.items"

    pg_source = ["--source", postgres.dsn_for(postgres.user, None, MIG_PG)]
    my_target = _mysql_url(mariadb, mariadb.database)
    installed.arrowtail(
        "snapshot", *pg_source, "--slot", "wheel_mig", "--publication", MIG_SCHEMA,
        "--tables", pg_table, "--to", f"{my_target}?sink_name=wheel_mig", "--create-tables",
        **pw,
    )  # fmt: skip
    assert len(_my_rows(mariadb, pg_table)) == 200
    verified = installed.arrowtail(
        "verify", *pg_source, "--against", my_target, "--tables", pg_table, **pw
    )
    assert _last_line(verified) == "equal", verified.stdout
    drop_slot(postgres, MIG_PG, "wheel_mig")

    my_source = ["--source", _mysql_url(mariadb, MIG_MY), "--password-env", PASSWORD_ENV]
    pg_target = postgres.dsn_for(postgres.user, None, MY_TO_PG)
    installed.arrowtail(
        "snapshot", *my_source, "--tables", my_table, "--to", pg_target, "--create-tables", **pw
    )
    with postgres.connect(dbname=MY_TO_PG) as conn:
        row = conn.execute(f"SELECT count(*) FROM {my_table}").fetchone()
        assert row is not None and row[0] == 200
    verified = installed.arrowtail(
        "verify", *my_source, "--against", pg_target, "--tables", my_table, **pw
    )
    assert _last_line(verified) == "equal", verified.stdout
