"""TLS to PostgreSQL: a private server with ``ssl = on`` and a self-signed certificate, where the
password role may only connect over TLS (``hostssl``), so the snapshot and the replication
stream working at all proves both went over TLS; ``pg_stat_ssl`` is checked for the walsender
too. Failures (wrong CA, server without TLS, TLS refused) end in one clear line, and the password
given inside the URL appears in no output.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.servers.postgres_tls import make_self_signed
from tests.support.chaos import start_arrowtail, wait_for
from tests.support.pg_run import (
    assert_replay_equals_source,
    create_database,
    env_for,
    wait_slot_released,
)
from tests.support.replay import parquet_changes, replay

DB = "pgops_tls"
PUB = "tls_pub"
SCHEMA = f"""
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2));
INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.5 FROM generate_series(1, 2000) g;
CREATE PUBLICATION {PUB} FOR ALL TABLES;
"""


@pytest.fixture(scope="module")
def database(tls_postgres: Any) -> str:
    create_database(tls_postgres, DB, SCHEMA)
    return DB


def source_url(server: Any, query: str, *, password: bool = False) -> str:
    """The app role's URL with libpq options in ``query`` (and the password inline if asked)."""
    base = server.dsn_for(server.app_user, server.app_password if password else None, DB)
    return f"{base}?{query}"


def run_args(url: str, out: Path, slot: str, *extra: str) -> list[str]:
    return [
        "run",
        "--source",
        url,
        "--to",
        f"parquet:{out}",
        "--slot",
        slot,
        "--publication",
        PUB,
        *extra,
    ]


def drop_slot(server: Any, slot: str) -> None:
    wait_slot_released(server, DB, slot)
    with server.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def walsender_ssl(server: Any, slot: str) -> tuple[bool, str] | None:
    """``pg_stat_ssl`` (ssl, version) of the walsender holding ``slot``, None when none does."""
    with server.connect(dbname=DB) as conn:
        row = conn.execute(
            "SELECT s.ssl, coalesce(s.version, '') FROM pg_replication_slots r "
            "JOIN pg_stat_ssl s ON s.pid = r.active_pid "
            "JOIN pg_stat_activity a ON a.pid = r.active_pid "
            "WHERE r.slot_name = %s AND a.backend_type = 'walsender'",
            (slot,),
        ).fetchone()
    return None if row is None else (bool(row[0]), str(row[1]))


def test_snapshot_and_stream_over_tls_with_sslmode_require(
    tls_postgres: Any, database: str, tmp_path: Path
) -> None:
    slot = "tls_require"
    out = tmp_path / "parquet"
    url = source_url(tls_postgres, "sslmode=require")
    args = [*run_args(url, out, slot, "--snapshot", "initial", "--idle-exit", "600")]
    args += ["--password-env", "RUN_PG_PASSWORD"]
    run = start_arrowtail(args, env_for(tls_postgres), tmp_path, "run")
    try:
        wait_for(
            lambda: "streaming slot" in run.output() or run.proc.poll() is not None,
            "the snapshot to finish and the stream to start",
        )
        assert run.proc.poll() is None, run.output()
        with tls_postgres.connect(dbname=DB) as conn:
            conn.execute("INSERT INTO accounts VALUES (5001, 'new', 1), (5002, 'newer', 2)")
            conn.execute("UPDATE accounts SET balance = balance + 10 WHERE id % 100 = 0")
            conn.execute("DELETE FROM accounts WHERE id BETWEEN 10 AND 19")
        wait_for(lambda: walsender_ssl(tls_postgres, slot) is not None, "the walsender")
        ssl, version = walsender_ssl(tls_postgres, slot) or (False, "")
        assert ssl is True and version.startswith("TLS"), (ssl, version)

        def stored() -> bool:
            ids = {k[0] for k in replay(parquet_changes(out)).get("public.accounts", {})}
            return 5002 in ids and 15 not in ids

        wait_for(lambda: stored() or run.proc.poll() is not None, "the streamed changes")
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0, run.output()
    finally:
        run.kill()
    ops = [
        op
        for t, _, b in parquet_changes(out)
        if t == "public.accounts"
        for op in b.column("_op").to_pylist()
    ]
    # The 2000 existing rows came through the snapshot, the rest through the stream.
    assert ops.count("r") == 2000
    assert ops.count("c") == 2 and ops.count("d") == 10 and ops.count("u") == 20, ops
    assert_replay_equals_source(tls_postgres, DB, out, ["accounts"])
    assert tls_postgres.app_password not in run.output()
    drop_slot(tls_postgres, slot)


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_snapshot_verifies_the_server_certificate(
    tls_postgres: Any, database: str, tmp_path: Path, mode: str
) -> None:
    slot = f"tls_{mode.replace('-', '_')}"
    out = tmp_path / "parquet"
    url = source_url(tls_postgres, f"sslmode={mode}&sslrootcert={quote(str(tls_postgres.ca_file))}")
    args = ["snapshot", *run_args(url, out, slot)[1:], "--password-env", "RUN_PG_PASSWORD"]
    run = start_arrowtail(args, env_for(tls_postgres), tmp_path, "snapshot")
    assert run.wait(timeout=120) == 0, run.output()
    assert_replay_equals_source(tls_postgres, DB, out, ["accounts"])
    drop_slot(tls_postgres, slot)


def cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("case", "hint"),
    [
        ("unknown_ca", "certificate verify failed"),
        ("server_without_tls", "server does not support SSL"),
        ("tls_refused", "no encryption"),
    ],
)
def test_tls_failures_are_one_line_without_the_password(
    postgres: Any, tls_postgres: Any, database: str, tmp_path: Path, case: str, hint: str
) -> None:
    if case == "unknown_ca":
        other = make_self_signed(tmp_path / "other", "other-ca")
        url = source_url(
            tls_postgres, f"sslmode=verify-ca&sslrootcert={quote(str(other))}", password=True
        )
    elif case == "server_without_tls":
        # The session server has no TLS at all.
        base = postgres.dsn_for(postgres.app_user, postgres.app_password, "postgres")
        url = f"{base}?sslmode=require"
    else:
        url = source_url(tls_postgres, "sslmode=disable", password=True)
    for args in (
        run_args(url, tmp_path / "out", "tls_fail", "--idle-exit", "1"),
        ["run", *run_args(url, tmp_path / "out", "tls_fail")[1:], "--log-format", "json"],
        ["status", "--source", url, "--slot", "tls_fail", "--json"],
    ):
        result = cli(args)
        output = result.stdout + result.stderr
        assert result.returncode in (2, 3), output
        assert hint in output, output
        assert "Traceback" not in output, output
        for secret in (tls_postgres.app_password, quote(tls_postgres.app_password, safe="")):
            assert secret not in output, output
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1, result.stderr
