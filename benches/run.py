"""The one benchmark command: ``python -m benches.run [--quick]`` (from the repository root).

Starts a private PostgreSQL and MariaDB (``tests/servers``), generates the workloads, runs every
comparison interleaved and writes ``benches/RESULTS.md`` plus ``benches/charts/*.png``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from benches import (
    apply_benches,
    debezium,
    kafka_benches,
    latency_benches,
    my_benches,
    pg_benches,
    report,
    scaling,
    scan_benches,
    snapshot_benches,
    verify_benches,
)
from benches import workloads as wl
from benches.harness import System, interleave, machine, rss_method, run_worker

HERE = Path(__file__).resolve().parent
PARTS = (
    "pgoutput", "binlog", "live", "snapshot", "psnapshot", "width", "memory",
    "kafka", "latency", "txsize", "mylive", "debezium", "apply", "verify", "scan",
)  # fmt: skip
KAFKA_PARTS = {"kafka", "latency"}
#: The benchmark broker runs as Kafka's own start scripts run it (a 1 GiB heap, G1 aiming at
#: pauses of 20 ms); the tests' broker trades that for memory (a small serial-collected heap,
#: whose young collections under the latency load stop it every few seconds, for tens of
#: milliseconds, for every Kafka system measured alike). The heap's pages are touched at start:
#: otherwise the first collections that copy into fresh regions take the kernel's page faults
#: inside the pause (a 200 ms young pause on this machine kind, where 12 ms is usual), a stall
#: of the broker that every Kafka system measured would carry.
BROKER_JVM_OPTS = [
    "-Xms1g", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15", "-XX:+AlwaysPreTouch", "-Djava.awt.headless=true",
]  # fmt: skip
PG_PARTS = {"pgoutput", "live", "snapshot", "psnapshot", "width", "memory", "txsize", "scan"}
PG_PARTS |= KAFKA_PARTS


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benches.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny inputs, 2 rounds (< 2 minutes)")
    p.add_argument("--rows", type=int, help="rows inserted by the mixed workload (100000)")
    p.add_argument("--rounds", type=int, help="interleaved rounds per comparison (5)")
    p.add_argument("--wide-rows", type=int, help="rows per width table (30000)")
    p.add_argument("--memory-rows", type=int, help="rows of the one big transaction (1000000)")
    p.add_argument(
        "--only",
        help=f"comma-separated subset of {','.join(PARTS)} ('debezium' adds Debezium to the "
        "kafka and latency parts; it needs Java 17 and Maven)",
    )
    p.add_argument(
        "--snapshot-rows", type=int, help="rows of the parallel snapshot part's table (2000000)"
    )
    p.add_argument("--verify-rows", type=int, help="rows of the verify part's table (1000000)")
    p.add_argument(
        "--latency-rates",
        help="commits/s of the latency runs, comma-separated (500,5000)",
    )
    p.add_argument("--latency-seconds", type=float, help="seconds of the latency run (10)")
    p.add_argument("--keep", type=Path, help="keep inputs and outputs in this directory")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="results file")
    return p.parse_args(argv)


def memory(pg, work: Path, rows: int) -> pg_benches.Comparison:
    """Peak RSS of decoding one transaction of ``rows`` rows (5 columns, proto 1 text)."""
    conn = pg.connect()
    name = wl.pg_create_wide(conn, 6)
    wl.pg_create_publication(conn, "pub_big", [name])
    wl.pg_create_slot(conn, "cap_big")
    wl.pg_run_wide(conn, 6, rows, tx_rows=rows)
    conn.close()
    cap = wl.pg_capture(
        pg.dsn, "cap_big", "pub_big", work / "big.cap", 1, proto_version=1, binary=False
    )
    size = cap.path.stat().st_size
    cmp = pg_benches.Comparison(
        f"one transaction of {rows} rows (6 columns), decode → Arrow: peak RSS",
        "rows/s",
        [System("arrowtail", lambda: run_worker("pg-arrow", {"input": str(cap.path)}), size)],
        [
            f"capture file {size / 2**20:.0f} MiB, read into memory before decoding (counted in "
            "the peak RSS)."
        ],
    )
    _log(cmp.title)
    interleave(cmp.systems, 1, _log)
    conn = pg.connect()
    wl.pg_drop_slots(conn, ["cap_big"])
    conn.close()
    return cmp


def _compile_installed() -> None:
    """Compiles the installed arrowtail's modules where their cached bytecode is missing or
    older than the source, as installing the wheel does: otherwise every timed process would
    compile them again at start (``PYTHONDONTWRITEBYTECODE`` keeps it from saving the result),
    about 0.1 s of a start-up of 0.45 s."""
    import compileall

    import arrowtail

    compileall.compile_dir(Path(arrowtail.__file__).parent, quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _compile_installed()
    quick = args.quick
    rows = args.rows or (2000 if quick else 100_000)
    rounds = args.rounds or (2 if quick else 5)
    # Parts whose runs take tens of seconds (Debezium, latency, 1M-row transactions) run fewer.
    slow = min(rounds, 3)
    wide_rows = args.wide_rows or (1000 if quick else 30_000)
    memory_rows = args.memory_rows or (20_000 if quick else 1_000_000)
    verify_rows = args.verify_rows or (20_000 if quick else 1_000_000)
    snapshot_rows = args.snapshot_rows or (20_000 if quick else 2_000_000)
    lat_rates = (
        [int(r) for r in args.latency_rates.split(",")]
        if args.latency_rates
        else ([200] if quick else [500, 5000])
    )
    lat_seconds = args.latency_seconds or (2.0 if quick else 10.0)
    parts = set(args.only.split(",")) if args.only else set(PARTS)
    widths = [5, 20, 60] if "width" in parts else []
    command = shlex.join(
        ["python", "-m", "benches.run", *(argv if argv is not None else sys.argv[1:])]
    )
    settings = {
        "mixed workload rows": rows,
        "rounds": f"{rounds} ({slow} for the kafka, latency and txsize parts)",
        "peak RSS": rss_method(),
        "rows per width table": wide_rows,
        "rows in the big transaction": memory_rows,
        "rows of the verify table": verify_rows,
        "rows of the parallel snapshot table": snapshot_rows,
        "parts": ", ".join(p for p in PARTS if p in parts),
        "latency runs": f"{', '.join(map(str, lat_rates))} single-row commits/s, "
        f"{lat_seconds:g} s each",
    }
    from tests.servers import KafkaServer, MariaDBServer, PostgresServer

    comparisons: list[pg_benches.Comparison] = []
    latency: list[latency_benches.LatencyResult] = []
    scans: list[scan_benches.Pair] = []
    scan_inputs: dict[str, Path] = {}
    scan_binlogs: list[Path] = []
    skipped: list[str] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    settings["load average (1, 5, 15 min) when the run started"] = " ".join(
        f"{x:.1f}" for x in os.getloadavg()
    )
    with tempfile.TemporaryDirectory(prefix="arrowtail-bench-") as tmp, ExitStack() as servers:
        work = Path(tmp)
        if args.keep:
            work = args.keep
            work.mkdir(parents=True, exist_ok=True)
        kafka = None
        if parts & (KAFKA_PARTS | {"mylive"}):
            kafka = KafkaServer(jvm_opts=BROKER_JVM_OPTS)
            settings["Kafka broker JVM"] = " ".join(BROKER_JVM_OPTS)
            servers.callback(kafka.cleanup)
            kafka.start()
            _log(f"Kafka on {kafka.bootstrap}")
        classpath = None
        if "debezium" in parts and parts & KAFKA_PARTS:
            try:
                classpath = debezium.build()
                settings["Debezium"] = (
                    f"{debezium.version()} (embedded engine, PostgreSQL connector)"
                )
            except debezium.DebeziumUnavailable as exc:
                skipped.append(f"Debezium: {exc}")
                _log(f"Debezium left out: {exc}")
        if parts & PG_PARTS:
            pg = PostgresServer()
            servers.callback(pg.cleanup)
            pg.start()
            _log(f"PostgreSQL on port {pg.port}: workload of {rows} rows, captures")
            templates = ["kafka_tmpl"] if "kafka" in parts else []
            prep = pg_benches.prepare(pg, work, rows, widths, wide_rows, rounds, templates)
            scan_inputs = {
                "pgoutput text (proto 1), mixed workload": prep["text"].path,
                "pgoutput binary (proto 2), mixed workload": prep["binary"].path,
            }
            if "pgoutput" in parts:
                comparisons += pg_benches.decode(work, prep, rounds, _log)
            if "live" in parts:
                comparisons.append(pg_benches.live(pg, work, prep, rounds, _log))
            if "kafka" in parts:
                prep["kafka_template"] = "kafka_tmpl"
                comparisons += kafka_benches.live(pg, kafka, work, prep, slow, classpath, _log)
                conn = pg.connect()
                wl.pg_drop_slots(conn, ["kafka_tmpl"])
                conn.close()
            if "snapshot" in parts:
                comparisons.append(pg_benches.snapshot(pg, work, prep, rounds, _log))
            if "psnapshot" in parts:
                comparisons += snapshot_benches.parallel_snapshot(
                    pg, work, snapshot_rows, rounds, _log
                )
            if "kafka" in parts:
                comparisons.append(kafka_benches.snapshot(pg, kafka, work, slow, classpath, _log))
            if "latency" in parts:
                latency = latency_benches.latency(
                    pg, kafka, work, slow, lat_rates, lat_seconds, classpath, _log
                )
            if "width" in parts:
                comparisons += pg_benches.width(work, prep, rounds, _log)
            if "memory" in parts:
                comparisons.append(memory(pg, work, memory_rows))
            if "txsize" in parts:
                comparisons.append(scaling.tx_size(pg, work, rows, memory_rows, slow, _log))
        if parts & {"binlog", "mylive", "scan"}:
            my = MariaDBServer()
            servers.callback(my.cleanup)
            my.start()
            _log(f"MariaDB on port {my.port}: workload of {rows} rows")
            prep = my_benches.prepare(my, rows)
            scan_binlogs = list(prep["files"])
            if "binlog" in parts:
                comparisons += my_benches.decode(my, work, prep, rounds, _log)
            if "mylive" in parts:
                comparisons.append(my_benches.live(my, kafka, work, prep, rounds, _log))
        if "apply" in parts:
            comparisons += apply_benches.apply(work, rows, rounds, _log)
        if "verify" in parts:
            comparisons += verify_benches.verify(verify_rows, rounds, _log)
        if "scan" in parts:
            try:
                scans = scan_benches.measure(
                    scan_inputs, scan_binlogs, _log, 0.5 if quick else None
                )
            except scan_benches.ScanUnavailable as exc:
                skipped.append(f"decode against the bare scan: {exc}")
    skipped += [f"{p} (not selected with --only)" for p in PARTS if p not in parts]
    settings["wall time of the run"] = f"{time.monotonic() - started:.0f} s"
    charts = report.charts(comparisons, args.out.parent / "charts")
    if latency:
        charts += report.latency_chart(latency, args.out.parent / "charts")
    info = machine()
    report.write(args.out, comparisons, info, command, settings, charts, skipped, latency, scans)
    report.dump(
        args.out.with_name("results.json"),
        comparisons, info, command, settings, skipped, latency, scans,
    )  # fmt: skip
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
