"""One PostgreSQL source streamed by ``arrowtail run --create-tables`` into two database targets
at once, a PostgreSQL database and the MariaDB fixture's, each with its own slot: for tests of
what a target does with a change at the source, on both engines."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Any

from tests.support.cli import cli, cli_popen
from tests.support.pg_run import fresh_db, wait_slot_active, wait_streaming


@dataclass
class TwoTargets:
    source_url: str
    #: Slot name -> target URL.
    targets: dict[str, str]
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def finish(self, timeout: float = 240) -> dict[str, str]:
        """Waits for both runs (their idle exit); each must succeed. Their stderr by slot."""
        errs = {}
        for slot, proc in self.procs.items():
            _, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, f"{slot}: {err}"
            errs[slot] = err
        return errs

    def verify(self, table: str) -> list[str]:
        """``arrowtail verify`` of ``table`` against each target; each must say equal."""
        outs = []
        for target in self.targets.values():
            args = ["--source", self.source_url, "--against", target, "--tables", table]
            check = cli("verify", *args, env=self.env)
            assert check.returncode == 0, check.stdout + check.stderr
            outs.append(check.stdout)
        return outs


def fresh_source(postgres: Any, mariadb: Any, name: str, ddl: str, maria_database: str) -> Any:
    """Databases ``{name}_src`` (made by ``ddl``) and an empty ``{name}_dst`` made anew, and the
    MariaDB target's database ``maria_database`` dropped, for :func:`stream_into_both`; the
    source's connection."""
    src = fresh_db(postgres, f"{name}_src")
    src.execute(ddl)
    fresh_db(postgres, f"{name}_dst").close()
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {maria_database}")
    my.close()
    return src


def stream_into_both(
    postgres: Any, mariadb: Any, src: Any, name: str, publication: str, *extra: str
) -> TwoTargets:
    """Starts the runs from database ``{name}_src`` (open as ``src``) into ``{name}_dst`` (made
    by the caller) and MariaDB, an initial snapshot each, with ``extra`` arguments, and returns
    once both stream."""
    my_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    two = TwoTargets(
        postgres.dsn_for(postgres.user, None, f"{name}_src"),
        {f"{name}_pg": postgres.dsn_for(postgres.user, None, f"{name}_dst"), f"{name}_my": my_url},
        dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password),
    )
    for slot, target in two.targets.items():
        run = ["run", "--source", two.source_url, "--slot", slot, "--publication", publication]
        run += ["--to", f"{target}?sink_name={slot}", "--create-tables"]
        run += ["--snapshot", "initial", "--idle-exit", "3", *extra]
        two.procs[slot] = cli_popen(*run, env=two.env)
        wait_slot_active(src, slot, two.procs[slot])
    # Past the snapshots and their end checks: what the caller does next meets streaming runs.
    for slot, proc in two.procs.items():
        wait_streaming(src, slot, proc)
    return two
