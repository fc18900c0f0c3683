"""The grants docs/mysql.md documents are exactly enough: every MariaDB pipeline test runs as the
fixture's ``arrowtail_cdc`` user, which has only them, and here a user missing one of them gets
one clear error line naming the privilege, exit code 3, no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.servers.mariadb import CAPTURE_GRANTS, LOOPBACK
from tests.support.mysql_run import create_schema, failed_with_one_error, start_run

DB = "priv_my"
PASSWORD = "priv-test-pw"


@pytest.mark.parametrize(
    ("missing", "options", "named"),
    [
        ("REPLICATION SLAVE", (), "REPLICATION SLAVE"),
        ("BINLOG MONITOR", (), "BINLOG MONITOR"),
        ("SELECT", ("--snapshot", "initial"), "SELECT"),
    ],
)
def test_a_missing_grant_is_one_clear_error(
    mariadb: Any, tmp_path: Path, missing: str, options: tuple[str, ...], named: str
) -> None:
    conn = mariadb.connect()
    create_schema(conn, DB)
    user = "cdc_no_" + missing.split()[-1].lower()
    grants = [g.strip() for g in CAPTURE_GRANTS.split(",") if g.strip() != missing]
    cur = conn.cursor()
    cur.execute(f"DROP USER IF EXISTS '{user}'@'{LOOPBACK}'")
    cur.execute(f"CREATE USER '{user}'@'{LOOPBACK}' IDENTIFIED BY %s", (PASSWORD,))
    cur.execute(f"GRANT {', '.join(grants)} ON *.* TO '{user}'@'{LOOPBACK}'")
    if missing != "SELECT":
        cur.execute(f"GRANT SELECT ON `{DB}`.* TO '{user}'@'{LOOPBACK}'")
    url = f"mysql://{user}@{mariadb.host}:{mariadb.port}/{DB}"
    proc = start_run(url, tmp_path / "out", PASSWORD, "--idle-exit", "1", *options)
    error = failed_with_one_error(proc, 3, PASSWORD)
    assert f"'{user}'" in error and "lacks a privilege" in error and named in error, error
