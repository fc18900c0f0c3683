"""MariaDB comparisons: the workload's binlog file decoded by arrowtail (→ Arrow, → Parquet),
read from the live server by python-mysql-replication, and printed by ``mariadb-binlog -v``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benches import workloads as wl
from benches.harness import Sample, System, interleave, run_command, run_worker
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


def _start_checkpoint(path: Path, binlog: str) -> str:
    """A checkpoint file that makes ``arrowtail run`` start at the head of ``binlog``."""
    from arrowtail.checkpoint import CheckpointFile
    from arrowtail.sources.mysql.position import binlog_pos

    path.unlink(missing_ok=True)
    CheckpointFile(path).save({"file": binlog, "offset": 4, "pos": binlog_pos(binlog, 4)})
    return str(path)


def live(my, kafka, work: Path, prep: dict, rounds: int, log) -> Comparison:
    """Live MariaDB: ``arrowtail run`` → Parquet (and → Kafka with a broker) against
    python-mysql-replication, each reading the workload's binlog from the running server."""
    import sys

    from benches.kafka_benches import TopicCounter, timed_to_topic
    from benches.pg_benches import IDLE_EXIT, _arrowtail_argv, _checked

    rows = prep["workload"].changes
    table = f"{my.database}.mixed"
    serial = iter(range(10_000))

    def arrowtail_argv(tag: str, to: str) -> list[str]:
        return _arrowtail_argv() + [
            "run", "--source", my.url, "--server-id", str(7400 + int(tag[2:])),
            "--tables", table, "--to", to, "--idle-exit", str(IDLE_EXIT),
            "--checkpoint", _start_checkpoint(work / f"{tag}.checkpoint", prep["first"]),
        ]  # fmt: skip

    def to_parquet() -> Sample:
        tag = f"my{next(serial)}"
        out = work / f"mylive-{tag}"
        shutil.rmtree(out, ignore_errors=True)
        sample = run_command(arrowtail_argv(tag, f"parquet:{out}"), rows, minus=IDLE_EXIT)
        return _checked(sample, out, table)

    def to_kafka() -> Sample:
        tag = f"my{next(serial)}"
        counter = TopicCounter(kafka.bootstrap, f"{tag}.{table}")
        try:
            to = f"kafka://{kafka.bootstrap}?topic_prefix={tag}"
            messages = rows + prep["workload"].deletes  # a tombstone follows each delete
            sample = timed_to_topic(arrowtail_argv(tag, to), counter, messages)[0]
            sample.rows = rows  # rows/s like the other systems; every message was seen
            return sample
        finally:
            counter.close()

    repl = {
        "host": my.host, "port": my.port, "user": my.user, "password": my.password,
        "log_file": prep["first"], "database": my.database, "server_id": 4343,
    }  # fmt: skip
    systems = [System("arrowtail run → Parquet", to_parquet)]
    if kafka is not None:
        systems.append(System("arrowtail run → Kafka", to_kafka))
    worker = [sys.executable, "-m", "benches.worker", "mysql-replication", json.dumps(repl)]
    systems.append(
        System(
            "python-mysql-replication (rows to Python values)", lambda: run_command(worker, rows)
        )
    )
    cmp = Comparison(
        "live MariaDB → sink, from the workload's first binlog (rows/s)",
        "rows/s",
        systems,
        [
            "Every system is a whole process (interpreter start-up included) reading the same "
            "binlog from the running server, from the workload's first file to the end: "
            f"arrowtail run minus its --idle-exit {IDLE_EXIT} s (→ Kafka: until the topic holds "
            "every row), python-mysql-replication's BinLogStreamReader with blocking=False."
        ],
    )
    log(cmp.title)
    interleave(cmp.systems, rounds, log)
    return cmp
