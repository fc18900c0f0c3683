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


def test_quick_run_writes_results(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "RESULTS.md"
    try:
        code = benchmark.pedantic(
            run.main, args=(["--quick", "--out", str(out)],), rounds=1, iterations=1
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
        "### live PostgreSQL → sink (events/s)",
    ):
        section = text.split(title, 1)[1].split("###", 1)[0]
        rows = [int(m) for m in re.findall(r"^\| [^|]+ \| (\d+) \|", section, re.M)]
        assert rows and all(r == changes for r in rows), (title, rows)
    assert "sorted by (_pos, _seq): identical" in text
    assert "| pgoutput decode → Arrow (proto 1 text capture) | arrowtail | pypgoutput parse |" in (
        text
    )
    assert "nproc: " in text and "python -m benches.run --quick" in text
