"""The MariaDB fixture's tables streamed by ``arrowtail run --create-tables`` into a fresh
PostgreSQL database of the ``postgres`` fixture: an initial snapshot, then the binlog, as the
capture user with the password in the environment; for tests of what a target does with a change
made at a MariaDB source."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any

from tests.support.cli import cli, cli_popen
from tests.support.mysql_run import PASSWORD_ENV, app_url, dump_threads, wait_for_dump
from tests.support.pg_run import fresh_db


@dataclass
class IntoPostgres:
    proc: subprocess.Popen[str]
    #: A connection to the target database.
    target: Any
    target_url: str
    env: dict[str, str]
    #: ``--source`` and ``--password-env`` arguments.
    source: list[str]

    def finish(self, timeout: float = 240) -> str:
        """Waits for the run's idle exit, which must succeed; its stderr."""
        _, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return err

    def verify(self, tables: str) -> subprocess.CompletedProcess[str]:
        """``arrowtail verify`` of ``tables`` against the target."""
        args = ["verify", *self.source, "--against", self.target_url, "--tables", tables]
        result: subprocess.CompletedProcess[str] = cli(*args, env=self.env)
        return result


def stream_into_postgres(
    mariadb: Any, postgres: Any, tables: str, target_db: str, server_id: str, *, fresh: bool = True
) -> IntoPostgres:
    """Starts the run of ``tables`` (``--tables``) into database ``target_db`` (made anew, unless
    not ``fresh``: a restart) and returns once its binlog dump runs. The caller grants the
    capture user its databases."""
    target = fresh_db(postgres, target_db) if fresh else postgres.connect(dbname=target_db)
    target_url = postgres.dsn_for(postgres.user, None, target_db)
    env = dict(os.environ, **{PASSWORD_ENV: mariadb.capture_password})
    source = ["--source", app_url(mariadb), "--password-env", PASSWORD_ENV]
    before = dump_threads(mariadb)
    run = ["run", *source, "--tables", tables, "--to", target_url, "--create-tables"]
    run += ["--snapshot", "initial", "--server-id", server_id, "--idle-exit", "3"]
    proc = cli_popen(*run, env=env)
    wait_for_dump(mariadb, proc, before)
    return IntoPostgres(proc, target, target_url, env, source)
