"""Smoke test of the benchmark command: ``python -m benches.run --quick`` against private servers,
once, under pytest-benchmark. It checks what the run produced (rows, the peer's identical Parquet
output, the report's sections), never how fast anything was.

Run with ``pytest benches/test_bench_quick.py`` (the peers from benches/requirements.txt must be
installed; without PostgreSQL or MariaDB binaries the test is skipped).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("pypgoutput")
pytest.importorskip("pymysqlreplication")

from benches import run  # noqa: E402
from benches.workloads import _expected  # noqa: E402
from tests.servers import ServerUnavailable  # noqa: E402

QUICK_ROWS = 2000
# Every part but Debezium (a JVM and Maven build: run it by hand, never in CI).
ONLY = ",".join(p for p in run.PARTS if p != "debezium")


def _rows(text: str, title: str) -> list[int]:
    section = text.split(title, 1)[1].split("###", 1)[0]
    return [int(m) for m in re.findall(r"^\| [^|]+ \| (\d+) \|", section, re.M)]


def test_quick_run_writes_results(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "RESULTS.md"
    try:
        code = benchmark.pedantic(
            run.main, args=(["--quick", "--only", ONLY, "--out", str(out)],), rounds=1, iterations=1
        )
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    assert code == 0
    text = out.read_text()
    changes = _expected(QUICK_ROWS).changes
    assert changes == 2300
    # Every decode system handled every change of the workload.
    for title in (
        "### pgoutput decode → Arrow (proto 1 text capture)",
        "### pgoutput decode → Parquet (proto 1 text capture)",
        "### binlog decode (MariaDB, one binlog file)",
        "### live MariaDB → sink, from the workload's first binlog (rows/s)",
    ):
        rows = _rows(text, title)
        assert rows and all(r == changes for r in rows), (title, rows)
    # Live and snapshot: both sides, then each side's empty run (its fixed cost), which gives the
    # steady-state ratio.
    assert _rows(text, "### live PostgreSQL → sink (events/s)") == [changes, changes, 0, 0]
    assert _rows(text, "### snapshot of the table (rows/s)") == [QUICK_ROWS - 100] * 2 + [0, 0]
    # 1, 2 and 4 snapshot workers and the raw COPY, then the two empty-table runs.
    assert _rows(text, "### parallel snapshot of a 20,000-row") == [20_000] * 4 + [0, 0]
    # (Whether a steady-state ratio is printed depends on timings, which this test never checks.)
    assert text.count("Note: Steady state: each system's rows/s net of its own empty run") == 2
    # Kafka counts messages: a tombstone follows each of the 100 deletes.
    kafka = _rows(text, "### live PostgreSQL → Kafka, first → last event in the topic")
    assert kafka == [changes + 100], kafka
    assert _rows(text, "### snapshot of the table → Kafka")[0] == QUICK_ROWS - 100
    # Transaction sizes: empty backlog, then 1, 100 and 10k rows per transaction, then one of 20k.
    assert _rows(text, "### transaction size") == [0, QUICK_ROWS, QUICK_ROWS, 10_000, 20_000]
    lat = re.search(r"^\| arrowtail \| (\d+) \| ([\d.]+) \| ([\d.]+) \|", text, re.M)
    assert lat and int(lat[1]) == 2 * 200 * 2, lat  # 2 rounds of 2 s at 200 commits/s
    assert 0 < float(lat[2]) <= float(lat[3])
    assert "sorted by (_pos, _seq): identical" in text
    # Both verify systems walk every source row (and each run checked what it found).
    for title in ("### verify a 20000-row table, PostgreSQL", "### verify a 20000-row table with"):
        assert _rows(text, title) == [20_000, 20_000], title
    assert "| pgoutput decode → Arrow (proto 1 text capture) | arrowtail | pypgoutput parse |" in (
        text
    )
    assert "nproc: " in text and "python -m benches.run --quick" in text
    # Each decoder beside the bare scan of the same file: the text and binary captures and the
    # binlog file, a fresh and a long-lived decoder each, measured as rows and as bytes.
    scan = text.split("## Decode against the bare scan", 1)[1].split("\n## ", 1)[0]
    shares = re.findall(
        r"^\| (pgoutput text|pgoutput binary|binlog)[^|]*\| (fresh|long-lived) \|", scan, re.M
    )
    assert len(shares) == 12 and len(set(shares)) == 6, shares
    assert "decode ≥ 30% of its bare scan (long-lived decoder)" in text
