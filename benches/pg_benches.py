"""PostgreSQL comparisons: pgoutput decode only (arrowtail vs pypgoutput), live end to end
(``arrowtail run`` vs ``pg_recvlogical``), snapshot (``arrowtail run --snapshot initial`` vs a raw
binary COPY) and decode throughput against row width."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from benches import workloads as wl
from benches.harness import Sample, System, interleave, run_command, run_worker

IDLE_EXIT = 0.5
#: Name suffix of a system's zero-row run (its fixed cost).
EMPTY = "empty backlog (start-up and shutdown only)"
STEADY_NOTE = (
    "Steady state: each system's rows/s net of its own empty run's median seconds (the fixed "
    "cost of start-up, connection, slot and shutdown with nothing to read), i.e. the rate once "
    "running; the whole-process figures above include that cost."
)


@dataclass
class Comparison:
    """A named group of systems measured together; the first system is arrowtail's."""

    title: str
    unit: str
    systems: list[System]
    notes: list[str] = field(default_factory=list)


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def _only_parquet(root: Path, table: str) -> Path:
    files = sorted((root / table).glob("*.parquet"))
    if not files:
        raise RuntimeError(f"no Parquet output for {table} under {root}")
    return files[0]


def _parquet_rows(root: Path, table: str) -> int:
    return sum(pq.read_metadata(f).num_rows for f in (root / table).glob("*.parquet"))


def _checked(sample: Sample, root: Path, table: str) -> Sample:
    """The sample with the rows actually found in the Parquet output (so a short run shows)."""
    sample.rows = _parquet_rows(root, table)
    return sample


@contextmanager
def _empty_slot(pg, name: str) -> Iterator[tuple[str, str]]:
    """A slot created now (after the workload, so it has nothing to stream) and its position as
    ``X/Y`` text; dropped on exit."""
    conn = pg.connect()
    row = conn.execute(
        "SELECT lsn FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (name,)
    ).fetchone()
    conn.close()
    try:
        yield name, str(row[0])
    finally:
        conn = pg.connect()
        wl.pg_drop_slots(conn, [name])
        conn.close()


def _same_rows(a: Path, b: Path) -> str:
    """Compares two Parquet files sorted by (_pos, _seq): ``"identical"`` or what differs."""
    ta = pq.read_table(a).sort_by([("_pos", "ascending"), ("_seq", "ascending")])
    tb = pq.read_table(b).sort_by([("_pos", "ascending"), ("_seq", "ascending")])
    if ta.num_rows != tb.num_rows:
        return f"row counts differ: {ta.num_rows} vs {tb.num_rows}"
    diff = [c for c in ta.column_names if not ta[c].equals(tb[c].cast(ta[c].type))]
    return "identical" if not diff else f"columns differ: {', '.join(diff)}"


def prepare(
    pg, work: Path, rows: int, widths: list[int], wide_rows: int, rounds: int, templates=()
) -> dict:
    """Creates tables, slots and publications, runs the workloads, records the captures.

    ``templates`` are slots left in place at the workload's start, for later runs to copy."""
    conn = pg.connect()
    wl.pg_create_mixed(conn)
    wl.pg_create_publication(conn, "pub_mixed", [f"{wl.SCHEMA}.mixed"])
    for slot in ["cap_text", "cap_bin", *templates] + [
        f"{k}_{r}" for r in range(rounds) for k in ("live", "rlp")
    ]:
        wl.pg_create_slot(conn, slot)
    tables = {w: wl.pg_create_wide(conn, w) for w in widths}
    for w, name in tables.items():
        wl.pg_create_publication(conn, f"pub_w{w}", [name])
        wl.pg_create_slot(conn, f"cap_w{w}")
    mixed = wl.pg_run_mixed(conn, rows)
    wide = {w: wl.pg_run_wide(conn, w, wide_rows) for w in widths}
    conn.close()
    text = wl.pg_capture(
        pg.dsn, "cap_text", "pub_mixed", work / "mixed-p1-text.cap", mixed.transactions,
        proto_version=1, binary=False,
    )  # fmt: skip
    binary = wl.pg_capture(
        pg.dsn, "cap_bin", "pub_mixed", work / "mixed-p2-binary.cap", mixed.transactions,
        proto_version=2, binary=True,
    )  # fmt: skip
    caps = {
        w: wl.pg_capture(
            pg.dsn,
            f"cap_w{w}",
            f"pub_w{w}",
            work / f"w{w}.cap",
            wide[w].transactions,
            proto_version=1,
            binary=False,
        )  # fmt: skip
        for w in widths
    }
    conn = pg.connect()
    wl.pg_drop_slots(conn, ["cap_text", "cap_bin"] + [f"cap_w{w}" for w in widths])
    conn.close()
    return {"mixed": mixed, "text": text, "binary": binary, "wide": wide, "wide_caps": caps}


def decode(work: Path, prep: dict, rounds: int, log) -> list[Comparison]:
    """Priority 1: decode only, pgoutput capture files."""
    text, binary = prep["text"], prep["binary"]
    table = f"{wl.SCHEMA}.mixed"
    # Reference run: arrowtail's Parquet output gives the peer its target schema and the
    # correctness check for the peer's typed conversion.
    ref = _fresh(work / "ref-pg")
    run_worker("pg-arrow", {"input": str(text.path), "out": str(ref)})
    ref_file = _only_parquet(ref, table)
    peer_dir = _fresh(work / "ref-pypgoutput")
    run_worker(
        "pypgoutput-parquet",
        {"input": str(text.path), "out": str(peer_dir), "schema": str(ref_file), "table": table},
    )
    check = _same_rows(ref_file, _only_parquet(peer_dir, table))

    def parquet_out(name: str) -> str:
        return str(_fresh(work / name))

    size_t, size_b = text.path.stat().st_size, binary.path.stat().st_size
    arrow = Comparison(
        "pgoutput decode → Arrow (proto 1 text capture)",
        "rows/s",
        [
            System("arrowtail", lambda: run_worker("pg-arrow", {"input": str(text.path)}), size_t),
            System(
                "pypgoutput parse",
                lambda: run_worker("pypgoutput-parse", {"input": str(text.path)}),
                size_t,
            ),
        ],
    )
    parquet = Comparison(
        "pgoutput decode → Parquet (proto 1 text capture)",
        "rows/s",
        [
            System(
                "arrowtail",
                lambda: run_worker(
                    "pg-arrow", {"input": str(text.path), "out": parquet_out("out-pg")}
                ),
                size_t,
            ),
            System(
                "pypgoutput + typed pyarrow",
                lambda: run_worker(
                    "pypgoutput-parquet",
                    {
                        "input": str(text.path),
                        "out": parquet_out("out-pypgoutput"),
                        "schema": str(ref_file),
                        "table": table,
                    },
                ),
                size_t,
            ),
        ],
        [f"pypgoutput's typed Parquet output vs arrowtail's, sorted by (_pos, _seq): {check}"],
    )
    bin_cmp = Comparison(
        "pgoutput decode, proto 2 binary capture (arrowtail only; pypgoutput reads text only)",
        "rows/s",
        [
            System(
                "arrowtail → Arrow",
                lambda: run_worker("pg-arrow", {"input": str(binary.path)}),
                size_b,
            ),
            System(
                "arrowtail → Parquet",
                lambda: run_worker(
                    "pg-arrow", {"input": str(binary.path), "out": parquet_out("out-pg-bin")}
                ),
                size_b,
            ),
        ],
    )
    for cmp in (arrow, parquet, bin_cmp):
        log(cmp.title)
        interleave(cmp.systems, rounds, log)
    return [arrow, parquet, bin_cmp]


def width(work: Path, prep: dict, rounds: int, log) -> list[Comparison]:
    """Priority 5: decode-only rows/s against row width."""
    out = []
    for w, cap in prep["wide_caps"].items():
        size = cap.path.stat().st_size
        cmp = Comparison(
            f"row width {w} columns, decode → Arrow (proto 1 text)",
            "rows/s",
            [
                System(
                    "arrowtail", lambda p=cap.path: run_worker("pg-arrow", {"input": str(p)}), size
                ),
                System(
                    "pypgoutput parse",
                    lambda p=cap.path: run_worker("pypgoutput-parse", {"input": str(p)}),
                    size,
                ),
            ],
        )
        log(cmp.title)
        interleave(cmp.systems, rounds, log)
        out.append(cmp)
    return out


def _arrowtail_argv() -> list[str]:
    return [sys.executable, "-m", "arrowtail.cli"]


def live(pg, work: Path, prep: dict, rounds: int, log) -> Comparison:
    """Priority 3: live end to end from the slots created before the workload."""
    rows = prep["mixed"].changes
    end = prep["text"].end_lsn
    recv = str(pg.bin_dir / "pg_recvlogical")
    counter = iter(range(rounds))
    counter_b = iter(range(rounds))
    end_txt = f"{end >> 32:X}/{end & 0xFFFFFFFF:X}"

    def arrowtail_run() -> Sample:
        r = next(counter)
        out = _fresh(work / f"live-{r}")
        argv = _arrowtail_argv() + [
            "run", "--source", pg.dsn, "--slot", f"live_{r}", "--publication", "pub_mixed",
            "--snapshot", "never", "--to", f"parquet:{out}", "--idle-exit", str(IDLE_EXIT),
        ]  # fmt: skip
        return _checked(run_command(argv, rows, minus=IDLE_EXIT), out, f"{wl.SCHEMA}.mixed")

    def recvlogical(slot: str, endpos: str, rows: int) -> Sample:
        argv = [
            recv, "-d", pg.dsn, "--slot", slot, "--start", "--endpos", endpos,
            "-o", "proto_version=3", "-o", "publication_names=pub_mixed", "-o", "binary=true",
            "-o", "streaming=on", "-f", "/dev/null", "--no-loop",
        ]  # fmt: skip
        return run_command(argv, rows, env={**os.environ, "PGUSER": pg.user})

    def arrowtail_empty() -> Sample:
        with _empty_slot(pg, "live_empty") as (slot, _):
            out = _fresh(work / "live-empty")
            argv = _arrowtail_argv() + [
                "run", "--source", pg.dsn, "--slot", slot, "--publication", "pub_mixed",
                "--snapshot", "never", "--to", f"parquet:{out}", "--idle-exit", str(IDLE_EXIT),
            ]  # fmt: skip
            return _checked(run_command(argv, 0, minus=IDLE_EXIT), out, f"{wl.SCHEMA}.mixed")

    def recvlogical_empty() -> Sample:
        with _empty_slot(pg, "rlp_empty") as (slot, lsn):
            return recvlogical(slot, lsn, 0)

    ours, peer = "arrowtail run → Parquet", "pg_recvlogical → /dev/null"
    cmp = Comparison(
        "live PostgreSQL → sink (events/s)",
        "events/s",
        [
            System(ours, arrowtail_run, baseline=f"{ours}, {EMPTY}"),
            System(
                peer,
                lambda: recvlogical(f"rlp_{next(counter_b)}", end_txt, rows),
                baseline=f"{peer}, {EMPTY}",
            ),
            System(f"{ours}, {EMPTY}", arrowtail_empty),
            System(f"{peer}, {EMPTY}", recvlogical_empty),
        ],
        [
            f"arrowtail: whole `arrowtail run` process (Python start-up included) minus its "
            f"--idle-exit {IDLE_EXIT} s; pg_recvlogical: whole process, stops at --endpos "
            "(the last commit's end LSN). Both use proto_version 3, binary, streaming on.",
            STEADY_NOTE,
        ],
    )
    log(cmp.title)
    interleave(cmp.systems, rounds, log)
    conn = pg.connect()
    wl.pg_drop_slots(conn, [f"{k}_{r}" for r in range(rounds) for k in ("live", "rlp")])
    conn.close()
    return cmp


def snapshot(pg, work: Path, prep: dict, rounds: int, log) -> Comparison:
    """Priority 4: ``arrowtail run --snapshot initial`` vs a raw binary COPY of the same table."""
    conn = pg.connect()
    rows = conn.execute(f"SELECT count(*) FROM {wl.SCHEMA}.mixed").fetchone()[0]
    conn.close()
    counter = iter(range(rounds))

    def arrowtail_snapshot() -> Sample:
        r = next(counter)
        out = _fresh(work / f"snap-{r}")
        argv = _arrowtail_argv() + [
            "run", "--source", pg.dsn, "--slot", f"snap_{r}", "--publication", "pub_mixed",
            "--snapshot", "initial", "--to", f"parquet:{out}", "--idle-exit", str(IDLE_EXIT),
        ]  # fmt: skip
        return _checked(run_command(argv, rows, minus=IDLE_EXIT), out, f"{wl.SCHEMA}.mixed")

    # The empty runs: the same statements over an empty copy of the table.
    conn = pg.connect()
    empty = f"{wl.SCHEMA}.mixed_empty"
    conn.execute(f"CREATE TABLE IF NOT EXISTS {empty} (LIKE {wl.SCHEMA}.mixed INCLUDING ALL)")
    conn.execute("DROP PUBLICATION IF EXISTS pub_mixed_empty")
    wl.pg_create_publication(conn, "pub_mixed_empty", [empty])
    conn.close()

    def arrowtail_empty() -> Sample:
        out = _fresh(work / "snap-empty")
        argv = _arrowtail_argv() + [
            "run", "--source", pg.dsn, "--slot", "snap_empty", "--publication", "pub_mixed_empty",
            "--snapshot", "initial", "--to", f"parquet:{out}", "--idle-exit", str(IDLE_EXIT),
        ]  # fmt: skip
        try:
            return run_command(argv, 0, minus=IDLE_EXIT)
        finally:
            conn = pg.connect()
            wl.pg_drop_slots(conn, ["snap_empty"])
            conn.close()

    def copy(query: str, rows: int) -> Sample:
        return run_worker("copy-binary", {"dsn": pg.dsn, "query": query, "rows": rows})

    ours, peer = "arrowtail run --snapshot initial → Parquet", "psycopg COPY binary → /dev/null"
    empty_name = "empty table (fixed cost)"
    cmp = Comparison(
        "snapshot of the table (rows/s)",
        "rows/s",
        [
            System(ours, arrowtail_snapshot, baseline=f"{ours}, {empty_name}"),
            System(
                peer,
                lambda: copy(f"SELECT * FROM {wl.SCHEMA}.mixed", rows),
                baseline=f"{peer}, {empty_name}",
            ),
            System(f"{ours}, {empty_name}", arrowtail_empty),
            System(f"{peer}, {empty_name}", lambda: copy(f"SELECT * FROM {empty}", 0)),
        ],
        [
            "arrowtail: whole process (start-up, slot creation, COPY, decode, Parquet) minus its "
            f"--idle-exit {IDLE_EXIT} s; psycopg: the COPY alone inside a running process.",
            STEADY_NOTE,
        ],
    )
    log(cmp.title)
    interleave(cmp.systems, rounds, log)
    conn = pg.connect()
    wl.pg_drop_slots(conn, [f"snap_{r}" for r in range(rounds)])
    conn.close()
    return cmp
