"""The Parquet sink: change batches as Parquet files with an atomically replaced manifest.

Layout (docs/design.md)::

    <root>/<schema>.<table>/part-<n:010d>-v<schema_version>.parquet
    <root>/_arrowtail/manifest.json

Guarantees:

- A file appears under its final name only complete: it is written to a hidden temporary name
  (``.part-....parquet.tmp``), fsynced, renamed, and its directory fsynced.
- ``manifest.json`` lists the committed files and the checkpoint position; it is replaced
  atomically (temp + fsync + rename + directory fsync) by a durable commit. On :meth:`open`, the
  sink's own leftovers are deleted and the checkpoint is returned, so a restart from it neither
  loses nor repeats rows. A leftover is a file this sink provably wrote after the last durable
  commit: in a table directory, a temporary ``.part-<n>-v<version>.parquet.tmp``, or a
  ``part-<n>-v<version>.parquet`` not in the manifest whose number ``n`` is at or past the
  manifest's ``next_file`` (numbers are handed out in order and recorded at every durable
  commit). Anything else under the root, ``*.parquet`` files of other names or places included,
  is never touched; a table directory that already holds files named like the sink's before it
  becomes one of the sink's is refused (``SinkError``), so none of them is replaced by name or
  later taken for a leftover.
- Rows are buffered in memory until :meth:`ParquetSink.commit`, or until they pass
  ``max_uncommitted_bytes`` (a transaction larger than that, handed on before its commit): then
  the buffered rows go into the open files (first making a deferred commit durable, so that the
  open files hold nothing committed), which are finished only at the next commit. Rows written
  after the last commit are never stored (the source sends them again after a restart); files
  holding them are deleted by :meth:`close` or as leftovers at the next :meth:`open`.

Files: one table and one schema version per file (a new version starts a new file); rolled at
``max_rows`` rows, ``max_bytes`` bytes or ``max_seconds`` seconds open; row groups of
``row_group_rows`` rows. A commit encodes its files at once, up to ``encoders`` of them (threads;
default: the machine's cores, at most four), and a durable commit with at least a row group of
one table spreads that table's rows over up to ``encoders`` consecutive files of about equal
rows, each at least half a row group (a snapshot's commits are large, and one thread encoding
them was the pipeline's slowest stage); with ``encoders=1`` a commit's rows of a table stay in one
file unless it rolls. zstd; plain encoding (no dictionary pages) unless ``dictionary`` is
set: change data is mostly keys, timestamps, positions and free text, where building a
dictionary only to abandon it costs about half the write time and gives larger files (measured
on the benchmark's mixed workload: 0.19 s and 14 MB plain, 0.35 s and 18 MB with dictionaries
for 345k rows). Types Parquet cannot store are converted as described in
:mod:`arrowtail.sinks.parquet_types` (intervals become ``struct<months, days, nanoseconds>``).

A commit that fails (a file that cannot be written) leaves the last durable commit as it was:
:meth:`close` then removes the files of the failed one instead of recording them.

A commit is durable when it returns, unless ``min_commit_interval`` (seconds) is set: commits
arriving sooner after the previous durable one only record their position (files stay open and
grow), and :meth:`durable_position` keeps reporting the previous one until the next durable
commit, a file roll, or :meth:`close`. This trades checkpoint freshness for fewer, larger files.

Reading: any Parquet reader, no configuration, e.g. DuckDB
``SELECT * FROM read_parquet('<root>/public.t/*.parquet')`` or
``pyarrow.dataset.dataset('<root>/public.t')``. When a table's schema changed (files with
different ``-v<version>`` suffixes), use ``read_parquet(..., union_by_name=true)`` in DuckDB, or in
pyarrow ``dataset(path, schema=pyarrow.unify_schemas([...file schemas...]))``; or read one version
with the glob ``*-v<version>.parquet``. Only files listed in the manifest are committed; a reader
running beside a live sink can also see files of a commit in progress.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from arrowtail.exceptions import SinkError
from arrowtail.lazy import call
from arrowtail.sinks.base import PositionJSON
from arrowtail.sinks.parquet_types import convert_batch, convert_schema

MANIFEST_DIR = "_arrowtail"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1

#: Names the sink gives its files (``part-<n>-v<schema version>.parquet``) and their temporaries.
_FILE_NAME = re.compile(r"part-(?P<n>[0-9]{10,})-v(?P<version>[0-9]+)\.parquet")
_TEMP_NAME = re.compile(r"\.part-[0-9]{10,}-v[0-9]+\.parquet\.tmp")

#: Whether this pyarrow's writer takes ``max_rows_per_page``. Arrow ends a data page at 20,000
#: rows by default whatever its bytes; each page of a zstd column sets up a fresh compression
#: context, which for a wide change batch made 6-10% of the writer's CPU. Where the
#: option is known, pages end at 1 MiB (Arrow's ``data_page_size``) or at the row group's end.
_ROWS_PER_PAGE = "max_rows_per_page" in inspect.signature(pq.ParquetWriter.__init__).parameters

log = logging.getLogger("arrowtail.sinks.parquet")


def default_encoders() -> int:
    """Files a sink encodes at once by default: the machine's cores, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def table_dir_name(table: str) -> str:
    """The directory of a table: its ``schema.table`` name, made safe as one path component."""
    name = table.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C").replace("\0", "")
    if name in ("", ".", "..") or name.startswith(".") or name == MANIFEST_DIR:
        name = "%" + name.encode().hex()
    return name


_ESCAPES = re.compile(r"%(25|2F|5C)")


def table_of_dir(name: str) -> str:
    """The ``schema.table`` name of a directory :func:`table_dir_name` made."""
    # A hex name is the empty one or one beginning with "." or "_" (2e, 5f in lower case); an
    # escaped name's "%" is always followed by 25, 2F or 5C.
    if name == "%" or name.startswith(("%2e", "%5f")):
        try:
            return bytes.fromhex(name[1:]).decode()
        except ValueError:
            return name
    return _ESCAPES.sub(lambda m: {"25": "%", "2F": "/", "5C": "\\"}[m.group(1)], name)


@dataclass
class _OpenFile:
    """A Parquet file being written (under its temporary name)."""

    table: str
    schema_version: int
    tmp: Path
    final: Path
    fobj: IO[bytes]
    writer: pq.ParquetWriter
    opened_at: float
    rows: int = 0
    min_pos: int | None = None
    max_pos: int | None = None
    #: Committed batches not yet written as a row group.
    row_group: list[pa.RecordBatch] = field(default_factory=list)
    row_group_rows: int = 0
    row_group_bytes: int = 0
    #: Row groups cut from them, written at the sink's next sync (:meth:`ParquetSink._sync`).
    queued: list[pa.Table] = field(default_factory=list)
    queued_bytes: int = 0
    #: Set by :meth:`ParquetSink._finish`: the sync writes the footer and renames the file.
    closing: bool = False

    def abandon(self) -> None:
        """Closes the file without completing it and removes its temporary."""
        if self.writer.is_open:
            try:
                self.writer.close()  # or pyarrow tries when it frees the writer
            except (OSError, ValueError):
                pass
        self.fobj.close()
        self.tmp.unlink(missing_ok=True)

    def write_queued(self) -> None:
        """Writes the queued row groups, then, if closing, the footer; fsyncs and renames a
        closed file to its final name. Runs on an encoder thread: it touches this file only
        (pyarrow encodes without the GIL)."""
        while self.queued:
            table = self.queued.pop(0)
            self.writer.write_table(table, row_group_size=table.num_rows)
            self.queued_bytes -= table.nbytes
        if self.closing:
            self.writer.close()
            self.fobj.flush()
            os.fsync(self.fobj.fileno())
            self.fobj.close()
            os.replace(self.tmp, self.final)


class ParquetSink:
    """Writes change batches under ``root`` (see the module documentation)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_rows: int = 5_000_000,
        max_bytes: int = 512 * 1024 * 1024,
        max_seconds: float = 600.0,
        row_group_rows: int = 128 * 1024,
        compression: str = "zstd",
        min_commit_interval: float = 0.0,
        dictionary: bool = False,
        max_uncommitted_bytes: int = 64 * 1024 * 1024,
        encoders: int | None = None,
    ) -> None:
        encoders = default_encoders() if encoders is None else encoders
        limits = (max_rows, max_bytes, row_group_rows, max_uncommitted_bytes, encoders)
        if min(limits) <= 0 or max_seconds <= 0:
            raise ValueError("ParquetSink limits must be positive")
        self.root = Path(root)
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.row_group_rows = row_group_rows
        self.compression = compression
        #: Dictionary-encode columns (pyarrow's ``use_dictionary``).
        self.dictionary = dictionary
        self.min_commit_interval = min_commit_interval
        #: Files encoded at once (threads); a durable commit of at least a row group of a table
        #: spreads its rows over up to this many consecutive files.
        self.encoders = encoders
        self._pool: Any = None
        self._manifest_dir = self.root / MANIFEST_DIR
        self._files: list[dict[str, Any]] = []
        self._next_file = 1
        #: ``next_file`` as the manifest on disk has it (every number from it on is uncommitted).
        self._stored_next_file = 1
        #: Table directories the manifest records as this sink's (None: a manifest older than
        #: that record, where every directory under the root is taken as one).
        self._dirs: set[str] | None = set()
        self._durable: PositionJSON | None = None
        self._pending_position: PositionJSON | None = None
        self._last_durable_at = 0.0
        self._uncommitted: dict[tuple[str, int], list[pa.RecordBatch]] = {}
        self._uncommitted_bytes = 0
        #: Bytes of uncommitted rows past which they go into the open files before the commit.
        self.max_uncommitted_bytes = max_uncommitted_bytes
        #: True while the open (and finished, not yet recorded) files hold uncommitted rows.
        self._spilled = False
        self._open: dict[tuple[str, int], _OpenFile] = {}
        #: Set when a commit failed: :meth:`close` then makes nothing more durable.
        self._failed = False
        #: Files :meth:`_finish` closed whose footer the next :meth:`_sync` writes.
        self._closing: list[_OpenFile] = []
        self._finished: list[dict[str, Any]] = []
        self._schemas: dict[tuple[str, int], pa.Schema] = {}
        self._opened = False

    # -- Sink interface ---------------------------------------------------------------------

    def open(self) -> PositionJSON | None:
        try:
            self._manifest_dir.mkdir(parents=True, exist_ok=True)
            manifest = self._read_manifest()
            if manifest is not None:
                self._files = list(manifest.get("files", []))
                self._next_file = self._stored_next_file = int(manifest.get("next_file", 1))
                self._durable = manifest.get("checkpoint")
                dirs = manifest.get("dirs")
                self._dirs = set(dirs) if isinstance(dirs, list) else None
            self._remove_uncommitted_files()
            if self._dirs is None:  # from now on recorded, at the next manifest write
                self._dirs = {Path(e["path"]).parent.as_posix() for e in self._files}
        except OSError as exc:
            raise SinkError(f"cannot prepare Parquet output {self.root}: {exc}") from exc
        self._opened = True
        self._last_durable_at = time.monotonic()
        return self._durable

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        if not self._opened:
            raise SinkError("ParquetSink.write called before open()")
        if batch.num_rows == 0:
            return
        key = (table, schema_version)
        schema = self._schemas.get(key)
        if schema is None:
            schema = self._schemas[key] = convert_schema(batch.schema)
        converted = convert_batch(batch, schema)
        if not converted.schema.equals(schema):
            raise SinkError(
                f"batch of {table} schema version {schema_version} has a different schema than "
                "earlier batches of that version; a schema change needs a new schema_version"
            )
        self._uncommitted.setdefault(key, []).append(converted)
        self._uncommitted_bytes += converted.nbytes
        if self._uncommitted_bytes >= self.max_uncommitted_bytes:
            self._write_uncommitted()

    def _write_uncommitted(self) -> None:
        """Moves the buffered rows of a commit still to come into the open files."""
        with self._storing("write"):
            if self._pending_position is not None:
                # A deferred commit: made durable first, so that what the open files hold from
                # now on belongs to the commit still to come.
                self._make_durable()
            self._claim_dirs(self._uncommitted)
            now = time.monotonic()
            for key, batches in self._uncommitted.items():
                for batch in batches:
                    self._append(key, batch, now)
            self._uncommitted.clear()
            self._uncommitted_bytes = 0
            self._spilled = True
            self._sync()

    def commit(self, position: PositionJSON) -> None:
        if not self._opened:
            raise SinkError("ParquetSink.commit called before open()")
        with self._storing("commit"):
            self._claim_dirs(self._uncommitted)
            now = time.monotonic()
            durable = now - self._last_durable_at >= self.min_commit_interval
            for key, batches in self._uncommitted.items():
                lanes = self._lanes(batches) if durable else [batches]
                for i, lane in enumerate(lanes):
                    if i and key in self._open:
                        self._finish(key)
                    for batch in lane:
                        self._append(key, batch, now)
            self._uncommitted.clear()
            self._uncommitted_bytes = 0
            self._spilled = False
            # Files open too long are finished even when this commit added nothing to them.
            for key in [k for k, f in self._open.items() if now - f.opened_at >= self.max_seconds]:
                self._finish(key)
            self._pending_position = position
            if durable or self._closing or self._finished:
                self._make_durable()
            else:
                self._sync()

    @contextmanager
    def _storing(self, what: str) -> Iterator[None]:
        """Marks the sink failed when the block raises: what its open files hold is no longer
        known whole, so :meth:`close` stores none of it. An OSError becomes a SinkError saying
        ``what`` failed."""
        try:
            yield
        except BaseException as exc:
            self._failed = True
            if isinstance(exc, OSError):
                raise SinkError(f"cannot {what} Parquet files under {self.root}: {exc}") from exc
            raise

    def durable_position(self) -> PositionJSON | None:
        return self._durable

    def close(self) -> None:
        if not self._opened:
            return
        try:
            self._uncommitted.clear()
            self._uncommitted_bytes = 0
            if self._pending_position is not None and not self._spilled and not self._failed:
                self._make_durable()
        except OSError as exc:
            raise SinkError(f"cannot finish Parquet files under {self.root}: {exc}") from exc
        finally:
            for f in self._open.values():
                f.abandon()
            # Files of a sync that failed, completed or not.
            for f in self._closing:
                f.abandon()
                f.final.unlink(missing_ok=True)
            self._open.clear()
            self._closing = []
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
            if self._spilled or self._failed:
                # Finished files of a commit that never came, or that failed.
                for entry in self._finished:
                    (self.root / entry["path"]).unlink(missing_ok=True)
                self._finished = []
                self._spilled = False
            self._failed = False
            self._opened = False

    # -- files ---------------------------------------------------------------------------------

    def _append(self, key: tuple[str, int], batch: pa.RecordBatch, now: float) -> None:
        f = self._open.get(key)
        if f is None:
            f = self._open[key] = self._new_file(key, batch.schema, now)
        f.row_group.append(batch)
        f.row_group_rows += batch.num_rows
        f.row_group_bytes += batch.nbytes
        f.rows += batch.num_rows
        lo, hi = call("min_max", batch.column("_pos")).values()
        f.min_pos = lo.as_py() if f.min_pos is None else min(f.min_pos, lo.as_py())
        f.max_pos = hi.as_py() if f.max_pos is None else max(f.max_pos, hi.as_py())
        if f.row_group_rows >= self.row_group_rows:
            self._flush_row_groups(f, keep_partial=True)
        size = f.fobj.tell() + f.queued_bytes + f.row_group_bytes
        if (
            f.rows >= self.max_rows
            or size >= self.max_bytes
            or now - f.opened_at >= self.max_seconds
        ):
            self._finish(key)

    def _claim_dirs(self, keys: Iterable[tuple[str, int]]) -> None:
        """Makes the directories of ``keys``' tables this sink's, with one manifest write for all
        of them (a snapshot of many tables commits its first rows of each at once). Recorded
        before the first file goes in, so that the leftovers of a run that dies before its
        commit are found, and only in directories this sink made its own. A directory that
        already holds files named like this sink's (another run's output whose manifest is
        gone, say) is not taken: its files would be replaced by name, or later taken for
        leftovers and removed."""
        if self._dirs is None:
            return
        new = sorted({table_dir_name(table) for table, _ in keys} - self._dirs)
        if not new:
            return
        for name in new:
            self._refuse_foreign_files(self.root / name)
        self._dirs.update(new)
        self._store_manifest(self._files, self._durable, self._stored_next_file)

    def _new_file(self, key: tuple[str, int], schema: pa.Schema, now: float) -> _OpenFile:
        table, version = key
        directory = self.root / table_dir_name(table)
        self._claim_dirs([key])  # done already for the keys of a commit
        directory.mkdir(parents=True, exist_ok=True)
        name = f"part-{self._next_file:010d}-v{version}.parquet"
        self._next_file += 1
        tmp = directory / f".{name}.tmp"
        fobj = open(tmp, "wb")  # noqa: SIM115 - closed in _finish/close
        pages = {"max_rows_per_page": self.row_group_rows} if _ROWS_PER_PAGE else {}
        writer = pq.ParquetWriter(
            fobj,
            schema,
            compression=self.compression,
            use_dictionary=self.dictionary,
            write_statistics=True,
            **pages,
        )
        return _OpenFile(table, version, tmp, directory / name, fobj, writer, now)

    def _flush_row_groups(self, f: _OpenFile, *, keep_partial: bool) -> None:
        """Queues buffered rows as row groups of ``row_group_rows`` for the next
        :meth:`_sync` (the last one may be shorter unless ``keep_partial``, which keeps it
        buffered)."""
        if not f.row_group:
            return
        table = pa.Table.from_batches(f.row_group)
        full = (table.num_rows // self.row_group_rows) * self.row_group_rows
        upto = full if keep_partial else table.num_rows
        for start in range(0, upto, self.row_group_rows):
            group = table.slice(start, min(self.row_group_rows, upto - start))
            f.queued.append(group)
            f.queued_bytes += group.nbytes
        rest = table.slice(upto)
        f.row_group = rest.to_batches() if rest.num_rows else []
        f.row_group_rows = rest.num_rows
        f.row_group_bytes = rest.nbytes if rest.num_rows else 0

    def _finish(self, key: tuple[str, int]) -> None:
        """Closes an open file: its last row group, footer, fsync and rename to the final name
        follow at the next :meth:`_sync`."""
        f = self._open.pop(key)
        self._flush_row_groups(f, keep_partial=False)
        f.closing = True
        self._closing.append(f)

    def _lanes(self, batches: list[pa.RecordBatch]) -> list[list[pa.RecordBatch]]:
        """``batches`` (a table's rows in a durable commit) cut into consecutive runs of about
        equal rows, one per file to encode at once: as many as :attr:`encoders` allows with at
        least half of ``row_group_rows`` rows each. Each run goes into a file of its own, so that
        a large commit is encoded on several threads. Rows stay in order: a run's file is
        numbered after the one before.

        Half a row group, not a whole one: a snapshot's commits hold one to three row groups, and
        the last one is encoded after every reader has ended, on one thread unless cut. Cut at
        half, the whole 2M-row benchmark snapshot ran 2.894 s against 2.755 s (medians of 14
        alternated pairs, 12 of them faster); at a quarter no faster again."""
        rows = sum(b.num_rows for b in batches)
        n = min(self.encoders, rows // max(1, self.row_group_rows // 2))
        if n < 2:
            return [batches]
        bounds = [rows * i // n for i in range(1, n)]
        lanes: list[list[pa.RecordBatch]] = [[]]
        start = 0
        for batch in batches:
            offset = 0
            while bounds and start + batch.num_rows > bounds[0]:
                cut = bounds.pop(0) - start
                if cut > offset:
                    lanes[-1].append(batch.slice(offset, cut - offset))
                lanes.append([])
                offset = cut
            if offset < batch.num_rows:
                lanes[-1].append(batch.slice(offset))
            start += batch.num_rows
        return lanes

    def _sync(self) -> None:
        """Writes what every file has queued and completes the closed ones, encoding up to
        :attr:`encoders` files at once; then records the completed files, in number order."""
        work = [f for f in self._open.values() if f.queued] + self._closing
        if len(work) > 1 and self.encoders > 1:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.encoders, "arrowtail-parquet")
            futures = [self._pool.submit(f.write_queued) for f in work]
            errors = [exc for fut in futures if (exc := fut.exception()) is not None]
            if errors:
                raise errors[0]
        else:
            for f in work:
                f.write_queued()
        closed, self._closing = self._closing, []
        for f in sorted(closed, key=lambda f: f.final.name):
            self._finished.append(
                {
                    "path": f.final.relative_to(self.root).as_posix(),
                    "table": f.table,
                    "schema_version": f.schema_version,
                    "rows": f.rows,
                    "min_pos": f.min_pos,
                    "max_pos": f.max_pos,
                }
            )

    def _make_durable(self) -> None:
        """Finishes every open file and writes the manifest with the pending position."""
        for key in list(self._open):
            self._finish(key)
        self._sync()
        for d in {self.root / Path(e["path"]).parent for e in self._finished}:
            _fsync_dir(d)
        files = self._files + self._finished
        self._write_manifest(files, self._pending_position)
        self._stored_next_file = self._next_file
        self._files = files
        self._finished = []
        self._durable = self._pending_position
        self._pending_position = None
        self._last_durable_at = time.monotonic()

    # -- manifest ------------------------------------------------------------------------------

    def _read_manifest(self) -> dict[str, Any] | None:
        path = self._manifest_dir / MANIFEST
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            manifest = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SinkError(f"Parquet manifest {path} is not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise SinkError(f"Parquet manifest {path} has an unknown format")
        return manifest

    def _write_manifest(self, files: list[dict[str, Any]], position: PositionJSON | None) -> None:
        """A durable commit: ``files`` and ``position``, every file number handed out so far."""
        self._store_manifest(files, position, self._next_file)

    def _store_manifest(
        self, files: list[dict[str, Any]], position: PositionJSON | None, next_file: int
    ) -> None:
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "checkpoint": position,
            "next_file": next_file,
            "files": files,
        }
        if self._dirs is not None:
            manifest["dirs"] = sorted(self._dirs)
        path = self._manifest_dir / MANIFEST
        tmp = self._manifest_dir / (MANIFEST + ".tmp")
        # Compact: with an indent, json falls back to its pure-Python encoder, and the manifest,
        # rewritten at every durable commit, grows with every file (177 rewrites of a 177-file
        # manifest: 0.18 s indented, 0.07 s compact).
        text = json.dumps(manifest, separators=(",", ":"))
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_dir(self._manifest_dir)

    def _remove_uncommitted_files(self) -> None:
        """Deletes the sink's own leftovers of a run that ended before its last durable commit
        (see the module documentation); nothing else under the root."""
        committed = {e["path"] for e in self._files}
        (self._manifest_dir / (MANIFEST + ".tmp")).unlink(missing_ok=True)
        for directory in self.root.iterdir():
            if self._dirs is not None and directory.name not in self._dirs:
                continue
            # Table directories never start with a dot (see table_dir_name).
            if directory.name.startswith(".") or directory.name == MANIFEST_DIR:
                continue
            if directory.is_symlink() or not directory.is_dir():
                continue
            removed = False
            for p in directory.iterdir():
                if p.is_symlink() or not p.is_file():
                    continue
                if self._is_leftover(p, committed):
                    log.info("removing %s, written after the last committed position", p)
                    p.unlink()
                    removed = True
            if removed:
                _fsync_dir(directory)

    def _refuse_foreign_files(self, directory: Path) -> None:
        """Raises ``SinkError`` when ``directory``, not yet one of this sink's, holds files
        named like the sink's own."""
        if not directory.is_dir():
            return
        named = sorted(
            p.name
            for p in directory.iterdir()
            if _FILE_NAME.fullmatch(p.name) or _TEMP_NAME.fullmatch(p.name)
        )
        if named:
            raise SinkError(
                f"{directory} already holds files named like this sink's own ({named[0]}"
                f"{f' and {len(named) - 1} more' if len(named) > 1 else ''}) that its manifest"
                f" ({self._manifest_dir / MANIFEST}) does not list, perhaps another run's output:"
                " they are neither replaced nor removed; move them away or choose another root"
            )

    def _is_leftover(self, path: Path, committed: set[str]) -> bool:
        """Whether ``path`` (a file in a table directory) is a file of this sink written after
        the manifest's last commit: a temporary of its own, or a file named like its own whose
        number was handed out after that commit and that the manifest does not list."""
        if _TEMP_NAME.fullmatch(path.name):
            return True
        m = _FILE_NAME.fullmatch(path.name)
        if m is None or path.relative_to(self.root).as_posix() in committed:
            return False
        return int(m["n"]) >= self._stored_next_file

    def stored_position(self) -> PositionJSON | None:
        """The checkpoint the manifest holds, read without preparing or cleaning anything (for
        ``arrowtail status``, which may look at the output of a run in progress)."""
        try:
            manifest = self._read_manifest()
        except OSError as exc:
            raise SinkError(f"cannot read the Parquet manifest under {self.root}: {exc}") from exc
        return None if manifest is None else manifest.get("checkpoint")
