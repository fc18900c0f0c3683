"""MariaDB comparisons: the workload's binlog file decoded by arrowtail (→ Arrow, → Parquet),
read from the live server by python-mysql-replication, and printed by ``mariadb-binlog -v``."""

from __future__ import annotations

import shutil
from pathlib import Path

from benches import workloads as wl
from benches.harness import System, interleave, run_command, run_worker
from benches.pg_benches import Comparison


def prepare(my, rows: int) -> dict:
    """Runs the workload into a binlog file of its own (rotated before and after)."""
    conn = my.connect()
    wl.my_create_mixed(conn, my.database)
    wl.my_rotate(conn)
    first = wl.my_current_binlog(conn)
    work = wl.my_run_mixed(conn, my.database, rows)
    wl.my_rotate(conn)
    last = wl.my_current_binlog(conn)
    conn.close()
    files = sorted(p for p in my.binlog_dir.glob("mysql-bin.[0-9]*") if first <= p.name < last)
    return {"workload": work, "files": files, "first": first}


def decode(my, work: Path, prep: dict, rounds: int, log) -> list[Comparison]:
    """Priority 2: decode only, binlog."""
    files = [str(p) for p in prep["files"]]
    size = sum(p.stat().st_size for p in prep["files"])
    mariadb_binlog = (
        shutil.which("mariadb-binlog") or shutil.which("mysqlbinlog") or "mariadb-binlog"
    )
    rows = prep["workload"].changes

    def out(name: str) -> str:
        path = work / name
        shutil.rmtree(path, ignore_errors=True)
        return str(path)

    repl_args = {
        "host": my.host,
        "port": my.port,
        "user": my.user,
        "password": my.password,
        "log_file": prep["first"],
        "database": my.database,
    }
    cmp = Comparison(
        "binlog decode (MariaDB, one binlog file)",
        "rows/s",
        [
            System(
                "arrowtail → Arrow", lambda: run_worker("binlog-arrow", {"inputs": files}), size
            ),
            System(
                "arrowtail → Parquet",
                lambda: run_worker("binlog-arrow", {"inputs": files, "out": out("out-binlog")}),
                size,
            ),
            System(
                "python-mysql-replication (live server)",
                lambda: run_worker("mysql-replication", repl_args),
                size,
            ),
            System(
                "mariadb-binlog -v → /dev/null",
                lambda: run_command([mariadb_binlog, "-v", *files], rows),
                size,
            ),
        ],
        [
            "python-mysql-replication reads the same events from the running server "
            "(BinLogStreamReader, blocking=False, rows resolved to Python values); "
            "mariadb-binlog is timed as a whole process (C, output to /dev/null)."
        ],
    )
    log(cmp.title)
    interleave(cmp.systems, rounds, log)
    return [cmp]
