"""Lake sinks against the plain Parquet sink on the same change stream, and how a mirror's merge
cost grows with the table size and the share of updates.

    python -m benches.lake_benches                 # sizes 10k, 100k, 1M; writes benches/LAKE.md
    python -m benches.lake_benches --sizes 10000   # quicker

No server is involved: the change batches are generated (the mixed shape of the sink tests:
bigint key, int, text, timestamp, decimal), so the figures are the sinks' own cost. Each
measurement is a fresh sink in a fresh directory; times are the median of ``--rounds`` runs.

1. Load: ``size`` inserts in batches of 10,000, committed every batch, into each sink and shape.
2. Merge: on a mirror of ``size`` rows, one flush of 10,000 changes of which a given share are
   updates of existing keys (spread over the whole key range) and the rest inserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa

from arrowtail.sinks import open_sink

BATCH = 10_000
MERGE_CHANGES = 10_000
FIELDS = [
    pa.field("id", pa.int64()),
    pa.field("n", pa.int32()),
    pa.field("s", pa.string()),
    pa.field("ts", pa.timestamp("us", tz="UTC")),
    pa.field("amount", pa.decimal128(12, 2)),
]


def _batch(ids: np.ndarray, pos: int, op: str) -> pa.RecordBatch:
    n = len(ids)
    meta = {
        "arrowtail.source": "postgres",
        "arrowtail.table": "public.bench",
        "arrowtail.primary_key": "id",
        "arrowtail.schema_version": "1",
    }
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cols = [
        pa.array(ids, pa.int64()),
        pa.array((ids % 1000).astype(np.int32)),
        pa.array([f"row {i}" for i in ids]),
        pa.array(np.full(n, int(base.timestamp() * 1e6) + pos), pa.timestamp("us", tz="UTC")),
        pa.array([Decimal(int(i) % 10000) / 100 for i in ids], pa.decimal128(12, 2)),
        pa.array([op] * n),
        pa.array(np.full(n, pos, np.uint64)),
        pa.array(np.arange(n, dtype=np.uint32)),
        pa.array(np.full(n, pos, np.uint64)),
        pa.array(np.full(n, int(base.timestamp() * 1e6) + pos), pa.timestamp("us", tz="UTC")),
    ]
    schema = pa.schema(
        [
            *FIELDS,
            pa.field("_op", pa.string()),
            pa.field("_pos", pa.uint64()),
            pa.field("_seq", pa.uint32()),
            pa.field("_xid", pa.uint64()),
            pa.field("_commit_ts", pa.timestamp("us", tz="UTC")),
        ],
        metadata=meta,
    )
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _spec(kind: str, root: Path) -> str:
    if kind == "parquet":
        return f"parquet:{root}"
    fmt, shape = kind.split("-")
    return f"{fmt}:{root}?mode={shape}&commit_interval=0"


def load(kind: str, size: int) -> float:
    """Seconds to store ``size`` inserts, a commit per batch of 10,000."""
    with tempfile.TemporaryDirectory() as tmp:
        sink = open_sink(_spec(kind, Path(tmp)))
        sink.open()
        start = time.perf_counter()
        for i, lo in enumerate(range(0, size, BATCH)):
            ids = np.arange(lo, min(lo + BATCH, size), dtype=np.int64)
            sink.write("public.bench", 1, _batch(ids, i + 1, "c"))
            sink.commit({"pos": i + 1})
        sink.close()
        return time.perf_counter() - start


def merge(kind: str, size: int, update_share: float, rng: np.random.Generator) -> float:
    """Seconds for one flush of 10,000 changes into a mirror of ``size`` rows."""
    with tempfile.TemporaryDirectory() as tmp:
        sink = open_sink(_spec(kind, Path(tmp)))
        sink.open()
        sink.write("public.bench", 1, _batch(np.arange(size, dtype=np.int64), 1, "c"))
        sink.commit({"pos": 1})
        updates = int(MERGE_CHANGES * update_share)
        ids = np.concatenate(
            [
                rng.choice(size, size=updates, replace=False).astype(np.int64),
                np.arange(size, size + MERGE_CHANGES - updates, dtype=np.int64),
            ]
        )
        batch = _batch(np.sort(ids), 2, "u")
        start = time.perf_counter()
        sink.write("public.bench", 1, batch)
        sink.commit({"pos": 2})
        elapsed = time.perf_counter() - start
        sink.close()
        return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--shares", default="0.1,0.5,0.9")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).with_name("LAKE.md")))
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    shares = [float(x) for x in args.shares.split(",")]
    kinds = ["parquet", "iceberg-changelog", "delta-changelog", "iceberg-mirror", "delta-mirror"]
    rng = np.random.default_rng(7)
    lines = [
        "# Lake sinks: load and merge cost",
        "",
        f"`python -m benches.lake_benches --sizes {args.sizes} --shares {args.shares} "
        f"--rounds {args.rounds}`; medians; generated change batches, no server.",
        "",
        "## Load: inserts, a commit per 10,000 rows (rows/s; ratio to the Parquet sink)",
        "",
        "| rows | " + " | ".join(kinds) + " |",
        "|---:|" + "---:|" * len(kinds),
    ]
    for size in sizes:
        rates = {}
        for kind in kinds:
            secs = statistics.median(load(kind, size) for _ in range(args.rounds))
            rates[kind] = size / secs
            print(f"load {kind} {size}: {rates[kind]:,.0f} rows/s", flush=True)
        cells = [
            f"{rates[k]:,.0f}"
            + ("" if k == "parquet" else f" ({rates[k] / rates['parquet']:.2f}×)")
            for k in kinds
        ]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Merge: one flush of 10,000 changes into a mirror (seconds)",
        "",
        "| table rows | update share | iceberg-mirror | delta-mirror |",
        "|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for share in shares:
            cells = []
            for kind in ("iceberg-mirror", "delta-mirror"):
                secs = statistics.median(merge(kind, size, share, rng) for _ in range(args.rounds))
                print(f"merge {kind} {size} {share}: {secs:.3f}s", flush=True)
                cells.append(f"{secs:.3f}")
            lines.append(f"| {size:,} | {share:.0%} | " + " | ".join(cells) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
