"""Passwords and secret keys never appear in anything arrowtail prints or serves: a PostgreSQL run
as the capture role (password from the environment) with an HMAC masking key, its log lines, its
Prometheus metrics, ``status`` (text and JSON), ``verify`` against its Parquet output, and the
files it wrote (Parquet, manifest) are all searched for the password (plain and URL-encoded) and
for the key; a value hashed with the key must still be there, so the key was really in use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.chaos import checkpoint, start_arrowtail, wait_for
from tests.support.cli import free_port
from tests.support.pg_run import PASSWORD_ENV, create_database, run_args
from tests.support.replay import parquet_changes

DB = "secrets_out"
PUB = "secrets_pub"
SLOT = "secrets_slot"
KEY_ENV = "SECRETS_MASK_KEY"
MASK_KEY = "hmac-Key-7c41d9e0aa"
SCHEMA = """
CREATE TABLE users (id int PRIMARY KEY, email text, v int);
INSERT INTO users SELECT g, 'user' || g || '@example.com', g FROM generate_series(1, 50) g;
"""


@pytest.fixture(scope="module")
def database(postgres: Any) -> Any:
    create_database(postgres, DB, SCHEMA, publication=PUB)
    yield DB
    with postgres.connect(dbname=DB) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s AND NOT active",
            (SLOT,),
        )


def secrets(postgres: Any) -> list[str]:
    return [postgres.app_password, quote(postgres.app_password, safe=""), MASK_KEY]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_no_secret_in_logs_metrics_status_verify_or_files(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    config = tmp_path / "arrowtail.toml"
    config.write_text(
        f'[transform]\nhash_columns = ["public.users.email"]\nhash_key_env = "{KEY_ENV}"\n'
    )
    env = dict(os.environ, **{PASSWORD_ENV: postgres.app_password, KEY_ENV: MASK_KEY})
    port = free_port()
    args = run_args(postgres, DB, out, SLOT, PUB, "--config", str(config), "--snapshot", "initial")
    args += ["--metrics-port", str(port), "--idle-exit", "600"]
    run = start_arrowtail(args, dict(env, ARROWTAIL_DEBUG="1"), tmp_path, "run")
    seen: list[str] = []
    try:
        wait_for(
            lambda: checkpoint(out) is not None or run.proc.poll() is not None,
            "the snapshot to be stored",
        )
        with postgres.connect(dbname=DB) as conn:
            conn.execute("UPDATE users SET email = 'new' || email WHERE id <= 5")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        assert "arrowtail_" in metrics, metrics
        seen.append(metrics)
        for fmt in ((), ("--json",)):
            status = cli(
                env,
                "status",
                "--source",
                postgres.capture_dsn(DB),
                "--slot",
                SLOT,
                "--password-env",
                PASSWORD_ENV,
                "--to",
                f"parquet:{out}",
                *fmt,
            )
            assert status.returncode == 0, status.stdout + status.stderr
            assert SLOT in status.stdout, status.stdout
            seen.append(status.stdout + status.stderr)
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0, run.output()
    finally:
        run.kill()
    seen.append(run.output())
    assert "arrowtail.run" in run.output(), run.output()

    verify = cli(
        env,
        "verify",
        "--source",
        postgres.capture_dsn(DB),
        "--against",
        f"parquet:{out}",
        "--tables",
        "public.users",
        "--password-env",
        PASSWORD_ENV,
    )
    # The masked column differs from the source on purpose: verify reports it, and still
    # prints no secret.
    assert verify.returncode in (0, 1), verify.stdout + verify.stderr
    assert "public.users" in verify.stdout + verify.stderr
    seen.append(verify.stdout + verify.stderr)

    for path in out.rglob("*"):
        if path.is_file():
            seen.append(path.read_bytes().decode("latin-1"))
    emails = [e for _, _, b in parquet_changes(out) for e in b.column("email").to_pylist()]
    assert emails and all(len(e) == 64 and "@" not in e for e in emails), emails[:3]

    for text in seen:
        for secret in secrets(postgres):
            assert secret not in text, f"{secret!r} found in:\n{text[:2000]}"
