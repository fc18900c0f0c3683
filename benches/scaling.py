"""Transaction-size scaling: ``arrowtail run`` → Parquet over a live slot's backlog made of
transactions of 1, 100, 10k and 1M rows (protocol 3 with streaming, as ``arrowtail run`` asks for
it), rows/s and peak RSS per size.

Each size gets a fresh template slot created just before its workload; every round reads a copy of
it, so all rounds see the same backlog.
"""

from __future__ import annotations

from pathlib import Path

from benches import workloads as wl
from benches.harness import Sample, System, interleave, run_command
from benches.pg_benches import IDLE_EXIT, Comparison, _arrowtail_argv, _checked, _fresh

WIDTH = 4  # bench.w4: a bigint key, integer, text and numeric columns


def sizes(rows: int, big: int) -> list[tuple[int, int]]:
    """``(rows per transaction, rows in all)`` per step: first an empty backlog (what start-up and
    shutdown cost), single-row commits capped at 20k rows (each is a round trip), the largest step
    one transaction of ``big`` rows."""
    out = [(0, 0), (1, min(rows, 20_000)), (100, rows), (10_000, max(rows, 10_000))]
    return out + [(big, big)] if big > 10_000 else out


def tx_size(pg, work: Path, rows: int, big: int, rounds: int, log) -> Comparison:
    """One comparison whose systems are the transaction sizes."""
    conn = pg.connect()
    table = wl.pg_create_wide(conn, WIDTH)
    wl.pg_create_publication(conn, "pub_tx", [table])
    conn.close()
    systems = []
    log("transaction-size scaling, live PostgreSQL → Parquet")
    for tx_rows, total in sizes(rows, big):
        conn = pg.connect()
        conn.execute(f"TRUNCATE {table}")  # before the slot: the truncate is not in its stream
        wl.pg_create_slot(conn, "tx_tmpl")
        if total:
            wl.pg_run_wide(conn, WIDTH, total, tx_rows=tx_rows)
        conn.close()
        serial = iter(range(rounds))

        def run(total: int = total, serial=serial) -> Sample:
            slot = f"tx_{next(serial)}"
            conn = pg.connect()
            conn.execute("SELECT pg_copy_logical_replication_slot('tx_tmpl', %s)", (slot,))
            conn.close()
            out = _fresh(work / f"txsize-{slot}")
            argv = _arrowtail_argv() + [
                "run", "--source", pg.dsn, "--slot", slot, "--publication", "pub_tx",
                "--snapshot", "never", "--to", f"parquet:{out}", "--idle-exit", str(IDLE_EXIT),
            ]  # fmt: skip
            try:
                return _checked(run_command(argv, total, minus=IDLE_EXIT), out, table)
            finally:
                conn = pg.connect()
                wl.pg_drop_slots(conn, [slot])
                conn.close()

        label = (
            f"arrowtail, {tx_rows:,} row{'s' if tx_rows > 1 else ''} per transaction "
            f"({total:,} rows)"
            if total
            else "arrowtail, empty backlog (start-up and shutdown only)"
        )
        system = System(label, run)
        interleave([system], rounds, log)
        systems.append(system)
        conn = pg.connect()
        wl.pg_drop_slots(conn, ["tx_tmpl"])
        conn.close()
    return Comparison(
        "transaction size, live PostgreSQL → Parquet (rows/s, peak RSS)",
        "rows/s",
        systems,
        [
            f"bench.w{WIDTH} (bigint key, integer, text, numeric). Whole `arrowtail run` process "
            f"minus its --idle-exit {IDLE_EXIT} s, reading a copy of a slot made before the "
            "workload; transactions larger than logical_decoding_work_mem arrive streamed "
            "(protocol ≥ 2)."
        ],
    )
