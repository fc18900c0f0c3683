"""Helpers for tests that run ``arrowtail run`` against one database of the session PostgreSQL:
create the database (with a schema and publication, or empty), build the command line (password
from the environment, never in argv), read the slot's state and the source rows to compare with a
replay."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from psycopg import sql

from tests.support.chaos import wait_for
from tests.support.replay import assert_tables_equal, parquet_changes, replay

PASSWORD_ENV = "RUN_PG_PASSWORD"
#: The extensions whose types the tests of extension types use (in a source and in a target).
EXTENSIONS = (
    "CREATE EXTENSION IF NOT EXISTS hstore; CREATE EXTENSION IF NOT EXISTS ltree;"
    " CREATE EXTENSION IF NOT EXISTS citext;"
)


def create_database(
    postgres: Any,
    db: str,
    schema: str,
    publication: str | None = None,
    decoding_work_mem: str | None = None,
) -> None:
    """(Re)creates ``db`` with ``schema`` (SQL) and lets the app role read its tables; then, if
    given, creates ``publication`` FOR ALL TABLES and sets the database's
    ``logical_decoding_work_mem`` (small values make large transactions stream in progress)."""
    with postgres.connect() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        if decoding_work_mem is not None:
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET logical_decoding_work_mem = {}").format(
                    sql.Identifier(db), sql.Literal(decoding_work_mem)
                )
            )
    with postgres.connect(dbname=db) as conn:
        conn.execute(schema)
        postgres.grant_capture(db)
        if publication is not None:
            conn.execute(
                sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(sql.Identifier(publication))
            )


def fresh_db(postgres: Any, name: str) -> Any:
    """(Re)creates the empty database ``name`` and returns a superuser connection to it."""
    admin = postgres.connect()
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    return postgres.connect(dbname=name)


def run_args(
    postgres: Any, db: str, out: Path, slot: str, publication: str, *extra: str
) -> list[str]:
    """``arrowtail run`` from ``db`` into ``parquet:out`` as the app role."""
    return [
        "run",
        "--source",
        postgres.capture_dsn(db),
        "--password-env",
        PASSWORD_ENV,
        "--to",
        f"parquet:{out}",
        "--slot",
        slot,
        "--publication",
        publication,
        *extra,
    ]


def env_for(postgres: Any, **extra: str) -> dict[str, str]:
    return dict(os.environ, **{PASSWORD_ENV: postgres.app_password}, **extra)


def slot_state(postgres: Any, db: str, slot: str) -> tuple[int, bool]:
    """The slot's ``confirmed_flush_lsn`` (as a number) and whether a walsender holds it."""
    with postgres.connect(dbname=db) as conn:
        row = conn.execute(
            "SELECT confirmed_flush_lsn - '0/0', active FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    assert row is not None, f"slot {slot} does not exist"
    return int(row[0]), bool(row[1])


def wait_slot_released(postgres: Any, db: str, slot: str) -> None:
    wait_for(lambda: not slot_state(postgres, db, slot)[1], f"slot {slot} to be released")


def _wait_while_running(
    conn: Any, proc: subprocess.Popen[str], query: str, slot: str, timeout: float
) -> bool:
    """Polls ``query`` (of ``slot``) until its first value is true, ``timeout`` s at most;
    whether it was. Fails at once when ``proc`` (the ``arrowtail run`` of ``slot``) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(query, (slot,)).fetchone()
        if row and row[0]:
            return True
        if proc.poll() is not None:
            raise AssertionError(f"arrowtail exited early: {proc.communicate()[1]}")
        time.sleep(0.05)
    return False


def wait_slot_active(conn: Any, slot: str, proc: subprocess.Popen[str]) -> None:
    """Waits (60 s at most) until a walsender holds ``slot``, failing at once when ``proc`` (the
    ``arrowtail run`` meant to hold it) exits first."""
    query = "SELECT active FROM pg_replication_slots WHERE slot_name = %s"
    if not _wait_while_running(conn, proc, query, slot, 60):
        raise AssertionError(f"slot {slot} never became active")


def wait_streaming(conn: Any, slot: str, proc: subprocess.Popen[str]) -> None:
    """Waits (120 s at most) until the walsender of ``slot`` streams: ``START_REPLICATION`` has
    been sent, so an initial snapshot, which the run reads before it, is over, and its end
    checks are done. Fails at once when ``proc`` (the ``arrowtail run`` holding it) exits."""
    query = (
        "SELECT r.state IN ('catchup', 'streaming') FROM pg_replication_slots s"
        " JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = %s"
    )
    if not _wait_while_running(conn, proc, query, slot, 120):
        raise AssertionError(f"slot {slot} never streamed")


def drop_slot(postgres: Any, db: str, slot: str, *, missing_ok: bool = False) -> None:
    """Drops ``slot`` (which must exist, unless ``missing_ok``) once no walsender holds it."""
    if missing_ok:
        with postgres.connect(dbname=db) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
        if found is None:
            return
    wait_slot_released(postgres, db, slot)
    with postgres.connect(dbname=db) as conn:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def current_wal(postgres: Any) -> int:
    with postgres.connect() as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'").fetchone()
    assert row is not None
    return int(row[0])


def assert_replay_equals_source(postgres: Any, db: str, out: Path, tables: list[str]) -> None:
    """Replaying the Parquet changes under ``out`` gives exactly the rows of ``tables``."""
    images = replay(parquet_changes(out))
    with postgres.connect(dbname=db) as conn:
        for table in tables:
            cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            names = [d.name for d in cur.description or []]
            want = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
            assert_tables_equal(images.get(f"public.{table}", {}), want, f"public.{table}")
