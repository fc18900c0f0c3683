"""``arrowtail verify``: is the target a faithful copy of the source?

Compares each source table with the same-named table of a target database or with the replayed
change batches of a Parquet directory, and reports the keys of missing, extra and different rows.

Two databases of the same engine are compared by primary-key ranges: the source's keys are cut
into chunks, both servers hash each chunk at the same time (count + the sum of the rows' hashes on
PostgreSQL, count + md5 of the rows' text in key order on MySQL and for PostgreSQL types without a
hash function), and only a mismatching chunk is bisected at its median key until it is small
enough to fetch and compare row by row. Across engines, rows are fetched range by range,
normalised and compared by key in Python; a Parquet directory is replayed in memory (as Arrow)
and compared the same way, range by range where its key columns sort as the source's (integers,
decimals, dates, timestamps), else whole.

While writes continue, a first pass sees rows whose change is still on its way to the target.
Re-checks compare just the keys found missing, extra or different again, on both sides, after a
wait, up to N times; a difference the running replication closed in the meantime is counted as
resolved and only those that persist are reported. The default is :data:`DEFAULT_RECHECKS`
re-checks when the source is live (something streams from it: an active replication slot in the
source database, a binlog dump connection on a MySQL/MariaDB server) and none otherwise.

Exit codes of :func:`main_verify`: 0 equal, 1 differences, otherwise the error's exit code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import os
import pickle
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import psycopg
import pymysql

from arrowtail.changes import hashable
from arrowtail.exceptions import ArrowtailError, ConfigError
from arrowtail.redact import register_secret, scrub
from arrowtail.tables import TableSpec, is_pattern, split_list
from arrowtail.tables import parse_all as parse_tables
from arrowtail.transforms import key_columns_for, split_key_spec
from arrowtail.verify.sides import (
    Bound,
    DbSide,
    Key,
    LakeSide,
    ParquetSide,
    same_row,
    same_value,
)

log = logging.getLogger(__name__)

#: Rows per first-level chunk, and the size at which a mismatching range is compared row by row.
CHUNK_ROWS = 10_000
LEAF_ROWS = 256
#: Re-checks of the differing keys when the source is live and none were asked for, and the
#: seconds waited before each (long enough for a running replication to apply a change or two).
DEFAULT_RECHECKS = 3
DEFAULT_RECHECK_WAIT = 1.0
#: A table with more differing keys than this is not re-checked (that is no change in flight).
RECHECK_MAX_KEYS = 100_000


@dataclass
class TableReport:
    """The comparison of one table."""

    table: str
    missing: list[Key] = field(default_factory=list)  # in the source, not in the target
    extra: list[Key] = field(default_factory=list)  # in the target, not in the source
    different: list[Key] = field(default_factory=list)  # in both, with other values
    #: How many of the different rows differ in each column.
    differing_columns: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # schema-level differences
    source_rows: int = 0
    chunks: int = 0
    chunks_fetched: int = 0
    resolved: int = 0  # differences a re-check found gone
    rechecks: int = 0  # re-checks done
    # What the rows were compared by (for the re-checks).
    columns: list[str] = field(default_factory=list, repr=False)
    primary_key: tuple[str, ...] = field(default=(), repr=False)
    target_table: str = ""

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.different or self.problems)

    def add_different(self, key: Key, source_row: tuple, target_row: tuple) -> None:
        """Notes ``key`` as different, and the columns its two rows differ in."""
        self.different.append(key)
        if len(self.columns) == len(source_row) == len(target_row):
            pairs = zip(self.columns, source_row, target_row, strict=True)
            self.differing_columns.update(c for c, a, b in pairs if not same_value(a, b))

    @property
    def differing_keys(self) -> list[Key]:
        return [*self.missing, *self.extra, *self.different]

    def _resolved_note(self) -> str:
        return f"{self.resolved} resolved by {self.rechecks} re-check(s)" if self.rechecks else ""

    def lines(self, limit: int = 20) -> list[str]:
        if self.equal:
            return [
                f"{self.table}: equal ({self.source_rows} rows, {self.chunks} chunks"
                + (f", {self._resolved_note()})" if self.rechecks else ")")
            ]
        note = self._resolved_note()
        out = [f"{self.table}: DIFFERENT" + (f" ({note})" if note else "")]
        out += [f"  {p}" for p in self.problems]
        for label, keys in (
            ("missing", self.missing),
            ("extra", self.extra),
            ("different", self.different),
        ):
            if keys:
                shown = ", ".join(_fmt(k) for k in keys[:limit])
                more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
                out.append(f"  {label} {len(keys)}: {shown}{more}")
        if self.differing_columns:
            counts = sorted(self.differing_columns.items(), key=lambda c: (-c[1], c[0]))
            out.append("  in column(s): " + ", ".join(f"{c} ({n})" for c, n in counts))
        return out


def _fmt(key: Key) -> str:
    return repr(key[0]) if len(key) == 1 else repr(key)


@dataclass
class Report:
    """The comparison of every table."""

    tables: list[TableReport] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return all(t.equal for t in self.tables)

    @property
    def resolved(self) -> int:
        return sum(t.resolved for t in self.tables)

    def summary(self, limit: int = 20) -> str:
        lines = [line for t in self.tables for line in t.lines(limit)]
        last = "equal" if self.equal else "differences found"
        if any(t.rechecks for t in self.tables):
            last += f" ({self.resolved} difference(s) resolved by re-checks)"
        lines.append(last)
        return "\n".join(lines)


def _open_source(value: Any, password: str | None = None) -> DbSide:
    if isinstance(value, DbSide):
        return value
    if isinstance(value, str):
        return DbSide.from_url(value, password)
    return DbSide.from_connection(value)


def _open_against(value: Any, password: str | None = None) -> DbSide | ParquetSide:
    if isinstance(value, (DbSide, ParquetSide)):
        return value
    if isinstance(value, Path):
        return ParquetSide(value)
    if isinstance(value, str):
        if value.startswith("parquet:"):
            return ParquetSide(value[len("parquet:") :])
        if value.startswith(("iceberg:", "delta:")):
            return LakeSide(value)
        from arrowtail.config import is_pg_conninfo

        if "://" in value or is_pg_conninfo(value):
            return DbSide.from_url(value, password)
        return ParquetSide(value)
    return DbSide.from_connection(value)


#: Unmatched rows of a table without a key past which they are not paired by the tolerant
#: comparison (it tries every pair).
PAIRING_LIMIT = 2000

#: Rows of a table without a key that the comparison holds in memory: the source's, then the
#: target's it has not matched. Past it both sides go to partition files (a temporary
#: directory) by a hash of each row, and are compared partition by partition.
KEYLESS_MEMORY_ROWS = 1_000_000
#: Partition files per side when the rows do not fit.
KEYLESS_PARTITIONS = 256


def _compare_multisets(
    report: TableReport, src: Iterable[tuple], tgt: Iterable[tuple], limit: int | None = None
) -> int:
    """Rows of a table without a key, compared as multisets: each row of one side is matched by
    an equal row of the other (the same values: identical rows count one by one); rows left
    over are then paired by the tolerant comparison of keyed rows (:func:`same_row`, the forms
    two engines give one value). What stays unmatched is missing (the source's) or extra.

    Both sides are read once, as they stream. Memory holds at most ``limit`` rows
    (:data:`KEYLESS_MEMORY_ROWS`) besides the differences; a larger table is compared through
    partition files. Returns the number of source rows."""
    limit = KEYLESS_MEMORY_ROWS if limit is None else limit
    source = iter(src)
    head = list(itertools.islice(source, limit + 1))
    missing: list[tuple] = []
    extra: list[tuple] = []
    if len(head) <= limit:
        count = len(head)
        pool = _pool(head)
        del head
        target = iter(tgt)
        for row in target:
            if not _take(pool, row):
                extra.append(row)
                if len(extra) > limit:
                    # Too many rows the source lacks to hold: what is left of both sides goes
                    # through partitions (the pairs matched so far are equal and done).
                    rest = [row for rows in pool.values() for row in rows]
                    pool.clear()
                    held, extra = extra, []
                    _spilled(rest, itertools.chain(held, target), missing, extra)
                    break
        else:
            missing = [row for rows in pool.values() for row in rows]
    else:
        count = _spilled(itertools.chain(head, source), tgt, missing, extra)
        del head
    if missing and extra and len(missing) <= PAIRING_LIMIT and len(extra) <= PAIRING_LIMIT:
        left = []
        for row in missing:
            match = next((i for i, other in enumerate(extra) if same_row(other, row)), None)
            if match is None:
                left.append(row)
            else:
                extra.pop(match)
        missing = left
    report.missing.extend(missing)
    report.extra.extend(extra)
    return count


def _pool(rows: Iterable[tuple]) -> dict[object, list[tuple]]:
    pool: dict[object, list[tuple]] = {}
    for row in rows:
        pool.setdefault(hashable(row), []).append(row)
    return pool


def _take(pool: dict[object, list[tuple]], row: tuple) -> bool:
    """Removes one row equal to ``row`` from ``pool``; False when there is none."""
    key = hashable(row)
    same = pool.get(key)
    if not same:
        return False
    same.pop()
    if not same:
        del pool[key]
    return True


def _spilled(
    src: Iterable[tuple], tgt: Iterable[tuple], missing: list[tuple], extra: list[tuple]
) -> int:
    """The multiset comparison through partition files: equal rows hash alike, so each
    partition of the source is matched against the same partition of the target alone.
    Returns the number of source rows."""
    with tempfile.TemporaryDirectory(prefix="arrowtail-verify-") as tmp:
        source, count = _partition(Path(tmp) / "s", src)
        target, _ = _partition(Path(tmp) / "t", tgt)
        for mine, theirs in zip(source, target, strict=True):
            pool = _pool(_unpickled(mine))
            for row in _unpickled(theirs):
                if not _take(pool, row):
                    extra.append(row)
            missing.extend(row for rows in pool.values() for row in rows)
    return count


def _partition(prefix: Path, rows: Iterable[tuple]) -> tuple[list[Path], int]:
    """Writes ``rows`` to partition files by a hash of each; the files and the rows written."""
    paths = [prefix.with_name(f"{prefix.name}{i:03d}") for i in range(KEYLESS_PARTITIONS)]
    files = [path.open("wb") for path in paths]
    count = 0
    try:
        for row in rows:
            pickle.dump(row, files[hash(hashable(row)) % KEYLESS_PARTITIONS])
            count += 1
    finally:
        for f in files:
            f.close()
    return paths, count


def _unpickled(path: Path) -> Iterator[tuple]:
    with path.open("rb") as f:
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return


def _compare_rows(report: TableReport, src: dict, tgt: dict) -> None:
    for key, row in src.items():
        other = tgt.get(key)
        if other is None:
            report.missing.append(key)
        elif not same_row(other, row):
            report.add_different(key, row, other)
    report.extra.extend(k for k in tgt if k not in src)


#: Errors reading or comparing values (psycopg's and PyMySQL's DataError, Arrow's conversions,
#: decimal and date arithmetic): the table is reported with a problem, not the run ended.
_UNREADABLE = (
    psycopg.DataError,
    pymysql.err.DataError,
    ValueError,
    ArithmeticError,
)


# Key values that every engine orders the same way and that bind the same in psycopg and PyMySQL;
# text is not among them (collations differ), so text keys are compared in one range.
_PORTABLE_KEYS = (int, Decimal, dt.date, dt.datetime)


def _compare_across_engines(
    src: DbSide,
    tgt: DbSide | ParquetSide,
    table: tuple[str, str],
    cols: list[str],
    pk: tuple[str, ...],
    report: TableReport,
    chunk_rows: int,
) -> None:
    """Fetches and compares key range by key range, so memory holds one chunk (plus the rows
    still unmatched, which wait until the end before they count as missing or extra)."""
    starts = src.boundaries(table[0], pk, chunk_rows)
    if not all(isinstance(v, _PORTABLE_KEYS) for key in starts for v in key):
        starts = []
    edges: list[Bound] = [None, *starts[1:], None]
    unmatched_src: dict[Key, tuple] = {}
    unmatched_tgt: dict[Key, tuple] = {}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        rows_s = src.rows(table[0], cols, pk, lo, hi)
        rows_t = tgt.rows(table[1], cols, pk, lo, hi)
        report.chunks += 1
        report.chunks_fetched += 1
        report.source_rows += len(rows_s)
        for key, row in rows_s.items():
            other = rows_t.pop(key, None)
            if other is None:
                other = unmatched_tgt.pop(key, None)
            if other is None:
                unmatched_src[key] = row
            elif not same_row(other, row):
                report.add_different(key, row, other)
        for key, row in rows_t.items():
            mine = unmatched_src.pop(key, None)
            if mine is None:
                unmatched_tgt[key] = row
            elif not same_row(mine, row):
                report.add_different(key, mine, row)
    report.missing.extend(unmatched_src)
    report.extra.extend(unmatched_tgt)


class _Bisector:
    """Chunked digest comparison of one table on two databases of the same engine."""

    def __init__(
        self,
        src: DbSide,
        tgt: DbSide,
        table: tuple[str, str],
        cols: list[str],
        pk: tuple,
        report: TableReport,
        leaf_rows: int,
    ) -> None:
        self.src, self.tgt, self.cols, self.pk = src, tgt, cols, pk
        self.table, self.other = table
        self.report = report
        self.leaf_rows = leaf_rows
        # PostgreSQL hashes rows by type (fast) until a column type turns out to have no hash
        # function or the server is older than 14; then both sides use the text digest.
        self.method = "hash" if src.engine == "postgres" else "text"
        # The target's digest of a range is computed while the source computes its own.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-target")

    def run(self, chunk_rows: int) -> None:
        try:
            starts = self.src.boundaries(self.table, self.pk, chunk_rows)
            edges: list[Bound] = [None, *starts[1:], None]
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                self.report.chunks += 1
                self.compare(lo, hi, 0)
        finally:
            self.pool.shutdown()

    def digests(self, lo: Bound, hi: Bound) -> tuple[tuple[int, str], tuple[int, str]]:
        """(source, target) digests of a range, computed by both servers at the same time."""
        while True:
            theirs = self.pool.submit(
                self.tgt.digest, self.other, self.cols, self.pk, lo, hi, self.method
            )
            try:
                try:
                    mine = self.src.digest(self.table, self.cols, self.pk, lo, hi, self.method)
                finally:
                    wait([theirs])  # never two statements on the target's connection at once
                return mine, theirs.result()
            except Exception as exc:
                if self.method == "text":
                    raise
                log.info("%s: row hashes unavailable (%s); digests of the text", self.table, exc)
                self.method = "text"

    def compare(self, lo: Bound, hi: Bound, depth: int) -> None:
        (count_s, digest_s), (count_t, digest_t) = self.digests(lo, hi)
        if depth == 0:
            self.report.source_rows += count_s
        if (count_s, digest_s) == (count_t, digest_t):
            return
        mid = None
        if max(count_s, count_t) > self.leaf_rows and depth < 64:
            if count_s > 1:
                mid = self.src.key_at(self.table, self.pk, lo, hi, count_s // 2)
            else:
                mid = self.tgt.key_at(self.other, self.pk, lo, hi, count_t // 2)
        if mid is None or mid == lo:
            self.report.chunks_fetched += 1
            _compare_rows(
                self.report,
                self.src.rows(self.table, self.cols, self.pk, lo, hi),
                self.tgt.rows(self.other, self.cols, self.pk, lo, hi),
            )
            return
        self.compare(lo, mid, depth + 1)
        self.compare(mid, hi, depth + 1)


def verify_table(
    src: DbSide,
    tgt: DbSide | ParquetSide,
    table: str,
    chunk_rows: int = CHUNK_ROWS,
    leaf_rows: int = LEAF_ROWS,
    target_table: str | None = None,
    columns: Sequence[str] | None = None,
    key: Sequence[str] | None = None,
) -> TableReport:
    """Compares the source's ``table`` with ``target_table`` (by default the same name), on
    ``columns`` only when given (a publication's column list), by ``key`` when given instead of
    the source's primary key (``--key-columns``, as the run that copied it keyed it)."""
    other = target_table or table
    report = TableReport(table, target_table=other)
    cols, pk = src.describe(table)
    if columns is not None and cols:
        unknown = [c for c in columns if c not in cols]
        if unknown:
            raise ConfigError(f"source table {table} has no column(s) {', '.join(unknown)}")
        cols = [c for c in cols if c in columns]
    if key and cols:
        unknown = [c for c in key if c not in cols]
        if unknown:
            raise ConfigError(
                f"--key-columns names {', '.join(unknown)} as key of {table}, which has no such"
                f" column (its columns: {', '.join(cols)})"
            )
        pk = tuple(key)
        if isinstance(tgt, ParquetSide):
            tgt.replay_keys[other] = pk
    report.columns, report.primary_key = cols, pk
    if not cols and columns is None and table in src.tables():
        report.problems.append("the source table has no columns; cannot compare by key")
        return report
    if not cols:
        raise ConfigError(f"source table {table} does not exist")
    tcols, tpk = tgt.describe(other)
    if not tcols and isinstance(tgt, DbSide):
        report.problems.append("the target table does not exist")
        return report
    absent = [c for c in cols if c not in tcols] if tcols else []
    if absent:
        report.problems.append("target lacks column(s) " + ", ".join(absent))
        return report
    if not pk and tpk and set(tpk) <= set(cols):
        # No key at the source: the copy's (made by --key-columns) keys the comparison.
        pk = tuple(tpk)
        report.primary_key = pk
    if tpk and tuple(tpk) != tuple(pk):
        report.problems.append(f"target primary key {tpk} differs from the source's {pk}")
    try:
        if not pk:
            # Neither side has a key: every row is compared whole, as a multiset.
            report.chunks, report.chunks_fetched = 1, 1
            report.source_rows = _compare_multisets(
                report, src.all_rows(table, cols), tgt.all_rows(other, cols)
            )
        elif isinstance(tgt, DbSide) and tgt.engine == src.engine:
            _Bisector(src, tgt, (table, other), cols, pk, report, leaf_rows).run(chunk_rows)
        elif isinstance(tgt, DbSide) or tgt.by_range(other, pk):
            _compare_across_engines(src, tgt, (table, other), cols, pk, report, chunk_rows)
        else:
            source_rows = src.rows(table, cols, pk)
            report.source_rows, report.chunks, report.chunks_fetched = len(source_rows), 1, 1
            _compare_rows(report, source_rows, tgt.rows(other, cols, pk))
    except _UNREADABLE as exc:
        # A value a driver or Arrow cannot give in a comparable form: this table is not proven
        # equal (a difference), the others are still compared.
        log.debug("%s: cannot compare the values", table, exc_info=True)
        report.problems.append(
            f"cannot compare its values ({type(exc).__name__}): {scrub(str(exc))}"
        )
    for keys in (report.missing, report.extra, report.different):
        keys.sort(key=repr)
    return report


def recheck_table(src: DbSide, tgt: DbSide | ParquetSide, report: TableReport) -> bool:
    """Compares the keys ``report`` found missing, extra or different again (just those rows,
    both sides, now) and keeps only the differences that are still there. False when the keys
    cannot be asked for (a key type whose compared form does not bind back, e.g. uuid): the
    differences stay as found."""
    keys = report.differing_keys
    cols, pk = report.columns, report.primary_key
    if not pk:
        # A table without a key is compared whole again (its rows are their own keys).
        before = len(keys)
        report.missing, report.extra = [], []
        if isinstance(tgt, ParquetSide):
            tgt.forget(report.target_table)
        _compare_multisets(
            report, src.all_rows(report.table, cols), tgt.all_rows(report.target_table, cols)
        )
        report.resolved += max(0, before - len(report.differing_keys))
        report.rechecks += 1
        return True
    try:
        source_rows = src.rows_for_keys(report.table, cols, pk, keys)
        target_rows = tgt.rows_for_keys(report.target_table, cols, pk, keys)
    except Exception as exc:  # noqa: BLE001 - the first pass's finding stands
        log.warning("%s: cannot re-check by key: %s", report.table, scrub(str(exc)))
        return False
    missing, extra = [], []
    report.different, report.differing_columns = [], Counter()
    for key in keys:
        mine, other = source_rows.get(key), target_rows.get(key)
        if mine is not None and other is None:
            missing.append(key)
        elif other is not None and mine is None:
            extra.append(key)
        elif mine is not None and other is not None and not same_row(other, mine):
            report.add_different(key, mine, other)
    report.resolved += len(keys) - len(missing) - len(extra) - len(report.different)
    # A key may change kind between looks (missing, then different): keep each list sorted.
    report.missing, report.extra, report.different = (
        sorted(k, key=repr) for k in (missing, extra, report.different)
    )
    report.rechecks += 1
    return True


def recheck(
    src: DbSide,
    tgt: DbSide | ParquetSide,
    reports: Sequence[TableReport],
    times: int,
    wait: float = DEFAULT_RECHECK_WAIT,
) -> None:
    """Up to ``times`` rounds of :func:`recheck_table`, ``wait`` seconds after the previous
    look, while any table still has differing keys (and not more than
    :data:`RECHECK_MAX_KEYS`)."""
    pending = list(reports)
    for _ in range(times):
        pending = [r for r in pending if 0 < len(r.differing_keys) <= RECHECK_MAX_KEYS]
        if not pending:
            return
        # A delay the user chose, for the replication to catch up; nothing to poll for here.
        time.sleep(wait)
        pending = [r for r in pending if recheck_table(src, tgt, r)]


def verify(
    source_conn_or_url: Any,
    against: Any,
    tables: Sequence[str] | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
    leaf_rows: int = LEAF_ROWS,
    table_map: dict[str, str] | None = None,
    source_password: str | None = None,
    target_password: str | None = None,
    recheck_times: int | None = None,
    recheck_wait: float = DEFAULT_RECHECK_WAIT,
    key_columns: Sequence[str] = (),
) -> Report:
    """Compares source tables (all user tables when ``tables`` is ``None``) with ``against``: a
    database URL or connection, or a Parquet directory (``parquet:DIR`` or a path).
    ``table_map`` names target tables that differ from the source's ``schema.table``;
    ``source_password`` / ``target_password`` are used when the URL carries none.
    ``recheck_times`` re-checks of the differing keys, ``recheck_wait`` seconds apart (see
    :func:`recheck`); ``None``: :data:`DEFAULT_RECHECKS` if the source is live, else none.
    ``key_columns``: ``schema.table:col,col`` entries as ``transform.key_columns`` takes them
    (the first whose table pattern matches keys the table)."""
    src = _open_source(source_conn_or_url, source_password)
    tgt = _open_against(against, target_password)
    try:
        if tables:
            specs = _expand_patterns(parse_tables(list(tables)), src.tables())
        else:
            specs = [TableSpec(t) for t in src.tables()]
        src.row_filters = {s.name: s.where for s in specs if s.where is not None}
        mapping = table_map or {}
        keys = [split_key_spec(k.strip()) for k in key_columns if k.strip()]
        reports = []
        for s in specs:
            key = key_columns_for(keys, s.name)
            target = mapping.get(s.name)
            reports.append(
                verify_table(src, tgt, s.name, chunk_rows, leaf_rows, target, s.columns, key)
            )
        if recheck_times is None:
            recheck_times = DEFAULT_RECHECKS if src.is_live() else 0
        recheck(src, tgt, reports, recheck_times, recheck_wait)
        return Report(reports)
    finally:
        if src is not source_conn_or_url and isinstance(source_conn_or_url, str):
            src.close()
        if tgt is not against and isinstance(against, (str, Path)):
            tgt.close()


def _expand_patterns(specs: list[TableSpec], names: list[str]) -> list[TableSpec]:
    """Each entry whose name has shell wildcards (``shop.order_*``) becomes one entry per source
    table it matches, with its column list and filter (a table named or matched before keeps
    its first entry); a pattern matching none is refused."""
    out: dict[str, TableSpec] = {}
    for spec in specs:
        if not is_pattern(spec.name):
            out.setdefault(spec.name, spec)
            continue
        matched = [n for n in names if fnmatchcase(n, spec.name)]
        if not matched:
            raise ConfigError(f"--tables pattern {spec.name} matches no source table")
        for name in matched:
            out.setdefault(name, TableSpec(name, spec.columns, spec.where))
    return list(out.values())


def add_verify_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds the ``verify`` options to ``parser`` (used by the CLI's subcommand)."""
    parser.add_argument("--source", required=True, help="postgresql://... or mysql://...")
    parser.add_argument(
        "--against",
        required=True,
        help="postgresql://..., mysql://... (password in ARROWTAIL_TARGET_PASSWORD), parquet:DIR, "
        "iceberg:DIR or delta:DIR (a mirror table written by the lake sinks)",
    )
    parser.add_argument(
        "--tables",
        default=None,
        help="comma-separated schema.table names (default: all), each optionally with a column "
        "list and a row filter as in --tables of run: 'public.orders (id, total) WHERE (...)'",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="SRC=DST",
        help="compare source table SRC with target table DST (repeatable)",
    )
    parser.add_argument(
        "--password-env", metavar="VAR", help="environment variable holding the source password"
    )
    parser.add_argument(
        "--key-columns",
        metavar="SPEC",
        help="key columns per table, as --key-columns of run: 'schema.table:col1,col2;...' (a "
        "table without a primary key its copy was keyed by)",
    )
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per chunk")
    parser.add_argument(
        "--recheck",
        type=int,
        default=None,
        metavar="N",
        help="compare differing keys again up to N times, so changes still in flight are not"
        f" reported (default: {DEFAULT_RECHECKS} when something streams from the source, else 0)",
    )
    parser.add_argument(
        "--recheck-wait",
        type=float,
        default=DEFAULT_RECHECK_WAIT,
        metavar="SEC",
        help=f"seconds before each re-check (default {DEFAULT_RECHECK_WAIT:g})",
    )
    parser.add_argument("--show", type=int, default=20, help="keys shown per kind of difference")
    return parser


def main_verify(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Runs a verification and prints the report; returns 0 when equal, 1 on differences."""
    if not isinstance(args, argparse.Namespace):
        parser = add_verify_arguments(argparse.ArgumentParser(prog="arrowtail verify"))
        args = parser.parse_args(args)
    tables = getattr(args, "tables", None)
    if isinstance(tables, str):
        tables = split_list(tables)
    table_map = {}
    for item in getattr(args, "map", None) or []:
        src_name, sep, dst_name = item.partition("=")
        if not sep:
            print(f"arrowtail verify: --map {item!r}: expected SRC=DST", file=sys.stderr)
            return ConfigError.exit_code
        table_map[src_name.strip()] = dst_name.strip()
    if (getattr(args, "recheck", None) or 0) < 0 or getattr(args, "recheck_wait", 0) < 0:
        print("arrowtail verify: --recheck and --recheck-wait must be >= 0", file=sys.stderr)
        return ConfigError.exit_code
    password = None
    password_env = getattr(args, "password_env", None)
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            print(
                f"arrowtail verify: --password-env names {password_env}, which is not set",
                file=sys.stderr,
            )
            return ConfigError.exit_code
        register_secret(password)
    # The same variable as for `arrowtail run --to DB`: the target's password outside the URL.
    target_password = os.environ.get("ARROWTAIL_TARGET_PASSWORD")
    register_secret(target_password)
    try:
        report = verify(
            args.source,
            args.against,
            tables,
            chunk_rows=getattr(args, "chunk_rows", CHUNK_ROWS) or CHUNK_ROWS,
            table_map=table_map,
            source_password=password,
            target_password=target_password,
            recheck_times=getattr(args, "recheck", None),
            recheck_wait=getattr(args, "recheck_wait", DEFAULT_RECHECK_WAIT),
            key_columns=(getattr(args, "key_columns", None) or "").split(";"),
        )
    except ArrowtailError as exc:
        print(f"arrowtail verify: {scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    print(report.summary(getattr(args, "show", 20)))
    return 0 if report.equal else 1
