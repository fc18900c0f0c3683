"""Each decoder against the bare scan of the same input, on the run's own captures and binlog
files: the criterion benches (``cargo bench -p arrowtail-core --bench decode``) given those files,
parsed into the shares RESULTS.md shows. What is measured, and how: :data:`NOTE`, which the
report prints under its table.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The issue's goals: a decoder's rows/s as a share of its bare scan's.
GOALS = {"pgoutput text (proto 1)": 0.20, "pgoutput binary (proto 2)": 0.30, "binlog": 0.20}

_UNITS = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# A criterion result: the bench's name (alone on its line when long), then its time interval.
_RESULT = re.compile(
    r"^(?P<name>\S+)\s+time:\s+\[(?P<lo>[\d.]+) (?P<lu>\S+) (?P<mid>[\d.]+) (?P<mu>\S+) "
    r"(?P<hi>[\d.]+) (?P<hu>\S+)\]",
    re.MULTILINE,
)


NOTE = (
    "A bare scan (`rust/arrowtail-core/benches/scan.rs`) frames every record, splits every tuple "
    "into its values where the format allows it and reads every byte; it knows no types and "
    "builds nothing. Decoder and scan run in one criterion bench process "
    "(`cargo bench -p arrowtail-core --bench decode`, given this run's capture files and binlog "
    "files through `ARROWTAIL_BENCH_CAPTURE` and `ARROWTAIL_BENCH_BINLOG`), timed as on-CPU time "
    "of the bench thread. A fresh decoder is made for each pass, so its buffers are new to the "
    "process; a long-lived one is given the input again and again and flushed after each pass, "
    "as a live stream's decoder is. Each is measured twice (criterion reporting rows/s, then "
    "MB/s), each time beside its own scan. The share is the scan's seconds per pass over the "
    "decoder's (point estimates); the interval pairs the ends of criterion's confidence "
    "intervals."
)


class ScanUnavailable(RuntimeError):
    """The criterion benches cannot run here (no cargo)."""


@dataclass
class Pair:
    """One input's decoder and scan, each criterion's interval of seconds per pass."""

    input: str
    decoder: str
    decode: tuple[float, float, float]
    scan: tuple[float, float, float]

    @property
    def share(self) -> float:
        """The decoder's rows/s as a share of the scan's (point estimates)."""
        return self.scan[1] / self.decode[1]

    @property
    def share_range(self) -> tuple[float, float]:
        """The share at the intervals' ends: slowest scan ÷ slowest decode is not a bound, so
        the lower end pairs the scan's lower bound with the decode's upper one, and back."""
        return self.scan[0] / self.decode[2], self.scan[2] / self.decode[0]

    @property
    def goal(self) -> float:
        return next(g for k, g in GOALS.items() if self.input.startswith(k))

    @property
    def met(self) -> bool:
        return self.share >= self.goal


def parse(output: str) -> dict[str, tuple[float, float, float]]:
    """Criterion's results in ``output``: bench name → (lower, estimate, upper) seconds."""
    out = {}
    for m in _RESULT.finditer(output):
        lo, mid, hi = (
            float(m[v]) * _UNITS[m[u]] for v, u in (("lo", "lu"), ("mid", "mu"), ("hi", "hu"))
        )
        out[m["name"]] = (lo, mid, hi)
    return out


def pairs(results: dict[str, tuple[float, float, float]], inputs: dict[str, str]) -> list[Pair]:
    """Decoder-and-scan pairs from criterion's results; ``inputs`` maps a bench group (such as
    ``pgoutput/file/x.cap``) to the input's label. Each group gives a fresh and a long-lived
    (``/steady``) decoder, each measured twice (throughput as rows and as bytes)."""
    out = []
    for group, label in inputs.items():
        for suffix, decoder in (("", "fresh"), ("/steady", "long-lived")):
            for unit in ("rows", "bytes"):
                d = results.get(f"{group}{suffix}/{unit}")
                s = results.get(f"{group}{suffix}/scan_{unit}")
                if d is None or s is None:
                    raise RuntimeError(f"criterion gave no {group}{suffix}/{unit} and its scan")
                out.append(Pair(label, decoder, d, s))
    return out


def _cargo(filter_: str, env: dict[str, str]) -> str:
    cargo = shutil.which("cargo")
    if cargo is None:
        raise ScanUnavailable("cargo is not on PATH")
    proc = subprocess.run(
        [cargo, "bench", "--locked", "-p", "arrowtail-core", "--bench", "decode", "--", filter_],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cargo bench failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def measure(
    captures: dict[str, Path], binlogs: list[Path], log, seconds: float | None = None
) -> list[Pair]:
    """Runs the criterion benches over ``captures`` (label → pgoutput capture file) and the
    ``binlogs`` files (one label, ``binlog``, named by file when there are several); ``seconds``
    of measurement per bench instead of criterion's 4 (``--quick``)."""
    inputs: dict[str, str] = {}
    results: dict[str, tuple[float, float, float]] = {}
    timing = {"ARROWTAIL_BENCH_SECONDS": f"{seconds:g}"} if seconds else {}
    if captures:
        log("decode against the bare scan: pgoutput captures (cargo bench)")
        paths = os.pathsep.join(str(p) for p in captures.values())
        results |= parse(_cargo("pgoutput/file/", {"ARROWTAIL_BENCH_CAPTURE": paths, **timing}))
        inputs |= {f"pgoutput/file/{p.name}": label for label, p in captures.items()}
    if binlogs:
        log("decode against the bare scan: binlog files (cargo bench)")
        paths = os.pathsep.join(str(p) for p in binlogs)
        results |= parse(_cargo("binlog/file/", {"ARROWTAIL_BENCH_BINLOG": paths, **timing}))
        inputs |= {
            f"binlog/file/{p.name}": "binlog" + (f" ({p.name})" if len(binlogs) > 1 else "")
            for p in binlogs
        }
    return pairs(results, inputs)


def section(found: list[Pair] | None) -> list[str]:
    """RESULTS.md's table of the decoders against their scans."""
    if not found:
        return []
    lines = [
        "## Decode against the bare scan (same run, same files)",
        "",
        "| input | decoder | throughput as | decode ms/pass | scan ms/pass | decode ÷ scan "
        "(interval) | goal | met |",
        "|---|---|---|---:|---:|---:|---:|:---:|",
    ]
    for i, p in enumerate(found):
        lo, hi = p.share_range
        lines.append(
            f"| {p.input} | {p.decoder} | {('rows', 'bytes')[i % 2]} | {p.decode[1] * 1e3:.2f} | "
            f"{p.scan[1] * 1e3:.2f} | {p.share:.1%} ({lo:.1%}–{hi:.1%}) | {p.goal:.0%} | "
            f"{'yes' if p.met else '**no**'} |"
        )
    return [*lines, "", f"Note: {NOTE}", ""]


def targets(found: list[Pair] | None) -> list[tuple[str, str, bool]]:
    """One target row per input and decoder: the lower of its two measurements."""
    rows = []
    seen: dict[tuple[str, str], list[Pair]] = {}
    for p in found or []:
        seen.setdefault((p.input, p.decoder), []).append(p)
    for (label, decoder), ps in seen.items():
        worst = min(ps, key=lambda p: p.share)
        rows.append(
            (
                f"{label} decode ≥ {worst.goal:.0%} of its bare scan ({decoder} decoder)",
                f"{worst.share:.1%}",
                worst.met,
            )
        )
    return rows
