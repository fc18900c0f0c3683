"""The PostgreSQL source as a least-privilege role (README, "Least-privilege roles"): with the
publication and the slot made beforehand by the superuser, ``LOGIN REPLICATION``, ``CONNECT`` and
``SELECT`` on the published tables are enough; each missing piece (no SELECT on a published table,
no REPLICATION attribute, a publication the role may not create) ends the run with one
``arrowtail: error:`` line that names it and the statement that fixes it, exit code 2 or 3, and no
password anywhere in the output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.support.cli import assert_one_clear_line
from tests.support.pg_run import PASSWORD_ENV, create_database, run_args

DB = "privileges"
SCHEMA = """
CREATE TABLE open_t (id int PRIMARY KEY, v text);
CREATE TABLE secret_t (id int PRIMARY KEY, v text);
INSERT INTO open_t VALUES (1, 'a'), (2, 'b');
INSERT INTO secret_t VALUES (1, 'x');
"""
NOREPL = "arrowtail_norepl"
NOREPL_PASSWORD = "norepl-Secret-pw-41"


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[str]:
    create_database(postgres, DB, SCHEMA)
    with postgres.connect(dbname=DB) as conn:
        conn.execute("CREATE PUBLICATION both_pub FOR TABLE open_t, secret_t")
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(NOREPL), sql.Literal(NOREPL_PASSWORD)
            )
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(DB), sql.Identifier(NOREPL)
            )
        )
        conn.execute(
            sql.SQL("GRANT SELECT ON open_t, secret_t TO {}").format(sql.Identifier(NOREPL))
        )
    yield DB
    with postgres.connect(dbname=DB) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = current_database() AND NOT active"
        )
        conn.execute(
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(
                sql.Identifier(NOREPL)
            )
        )
    with postgres.connect() as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(DB)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(NOREPL)))


def run_cli(args: list[str], password: str) -> tuple[int, str]:
    """``arrowtail ARGS`` with ``password`` in the variable ``run_args`` names."""
    done = subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", *args],
        env=dict(os.environ, **{PASSWORD_ENV: password}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def run(postgres: Any, tmp_path: Path, slot: str, publication: str, *extra: str) -> tuple[int, str]:
    """``arrowtail run`` of database ``privileges`` as the capture role, idle exit after 1 s."""
    args = run_args(postgres, DB, tmp_path / "out", slot, publication, "--idle-exit", "1", *extra)
    return run_cli(args, postgres.app_password)


def test_documented_grants_suffice_with_a_prepared_publication(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    code, out = run(postgres, tmp_path, "priv_ok", "both_pub", "--snapshot", "initial")
    assert code == 0, out
    assert postgres.app_password not in out
    assert re.search(r"public\.open_t +snapshot 2\n", out), out
    assert re.search(r"public\.secret_t +snapshot 1\n", out), out


def test_missing_select_on_a_published_table(postgres: Any, database: str, tmp_path: Path) -> None:
    with postgres.connect(dbname=DB) as conn:
        conn.execute(f"REVOKE SELECT ON secret_t FROM {postgres.app_user}")
        try:
            code, out = run(postgres, tmp_path, "priv_nosel", "both_pub", "--snapshot", "initial")
        finally:
            conn.execute(f"GRANT SELECT ON secret_t TO {postgres.app_user}")
    assert_one_clear_line(
        code, out, postgres.app_password, "public.secret_t", "GRANT SELECT ON public.secret_t"
    )
    # Refused before the slot was made: a rerun after the GRANT is not stuck on a half-used slot.
    with postgres.connect(dbname=DB) as conn:
        left = conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'priv_nosel'")
        assert left.fetchone() is None


def test_role_without_replication_attribute(postgres: Any, database: str, tmp_path: Path) -> None:
    args = run_args(postgres, DB, tmp_path / "out", "priv_norepl", "both_pub", "--idle-exit", "1")
    args[args.index("--source") + 1] = postgres.dsn_for(NOREPL, None, DB)
    code, out = run_cli(args, NOREPL_PASSWORD)
    assert_one_clear_line(
        code, out, NOREPL_PASSWORD, "REPLICATION", f"ALTER ROLE {NOREPL} WITH REPLICATION"
    )


@pytest.mark.parametrize(
    ("tables", "statement"),
    [
        ((), 'CREATE PUBLICATION "new_pub" FOR ALL TABLES'),
        (("--tables", "public.open_t"), 'CREATE PUBLICATION "new_pub" FOR TABLE "public"."open_t"'),
    ],
)
def test_publication_the_role_may_not_create(
    postgres: Any, database: str, tmp_path: Path, tables: tuple[str, ...], statement: str
) -> None:
    code, out = run(postgres, tmp_path, "priv_nopub", "new_pub", *tables)
    assert_one_clear_line(code, out, postgres.app_password, "new_pub", statement)
