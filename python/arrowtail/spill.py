"""Rows of a transaction still open, kept on disk until its commit.

A binlog transaction's ``_pos`` is the end of its commit event, and a PostgreSQL transaction
streamed in progress or prepared learns its commit only at Stream Commit / Commit Prepared, so
their rows are final only at the end. A source whose open transactions outgrow its memory budget
takes the rows out of the decoder unstamped and adds them here (one :class:`Spill` per
transaction): Arrow IPC stream files, one per table and schema version, in a directory of their
own (under ``spill_dir``, by default the system's temporary directory).
At the commit, :meth:`Spill.drain` reads them back in order, batch by batch, with ``_pos``,
``_commit_ts`` and (when the commit gives it) ``_xid`` set, and removes the files; a rollback or
a lost connection removes them with :meth:`Spill.discard`. Rows added with the subtransaction that
wrote them are left out of the drain once :meth:`Spill.abort` names that subtransaction. The
directory's name carries the process id, so :meth:`Spill.remove_leftovers` can delete those of
runs that died (SIGKILL, crash) without touching a live run's.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

TableBatch = tuple[str, int, pa.RecordBatch]

PREFIX = "arrowtail-spill-"
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stamp(
    batch: pa.RecordBatch,
    pos: int,
    commit_ts_us: int,
    xid: int | None,
    last_commit_lsn: int | None = None,
) -> pa.RecordBatch:
    """``batch`` with every row's ``_pos`` and ``_commit_ts`` set, and ``_xid`` and
    ``_last_commit_lsn`` (PostgreSQL's optional column) when given and present."""
    n = batch.num_rows
    names = batch.schema.names
    arrays = list(batch.columns)
    arrays[names.index("_pos")] = pa.array(np.full(n, pos, dtype=np.uint64))
    ts_type = batch.schema.field("_commit_ts").type
    arrays[names.index("_commit_ts")] = pa.array(np.full(n, commit_ts_us, dtype=np.int64)).view(
        ts_type
    )
    if xid is not None and "_xid" in names:
        arrays[names.index("_xid")] = pa.array(np.full(n, xid, dtype=np.uint64))
    if last_commit_lsn is not None and "_last_commit_lsn" in names:
        arrays[names.index("_last_commit_lsn")] = pa.array(
            np.full(n, last_commit_lsn, dtype=np.uint64)
        )
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


class Spill:
    """The spilled rows of one open transaction (see the module documentation)."""

    def __init__(self, spill_dir: str | None = None) -> None:
        self.spill_dir = spill_dir
        self._dir: Path | None = None
        #: (table, schema version) -> (file, writer), in the order the keys first came.
        self._files: dict[tuple[str, int], tuple[Path, Any, Any]] = {}
        #: The subtransaction of every batch written, per file (None: not told).
        self._tags: dict[tuple[str, int], list[int | None]] = {}
        #: Subtransactions whose rows are void.
        self._aborted: set[int] = set()
        #: Rows and Arrow bytes written.
        self.rows = 0
        self.bytes = 0

    @property
    def active(self) -> bool:
        """True while rows of an open transaction are on disk."""
        return bool(self._files)

    def add(self, batches: list[TableBatch], subxact: int | None = None) -> None:
        """Appends rows of the open transaction, written by ``subxact`` when given."""
        for table, version, batch in batches:
            if batch.num_rows == 0:
                continue
            key = (table, version)
            entry = self._files.get(key)
            if entry is None:
                if self._dir is None:
                    if self.spill_dir is not None:
                        Path(self.spill_dir).mkdir(parents=True, exist_ok=True)
                    self._dir = Path(
                        tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.spill_dir)
                    )
                path = self._dir / f"{len(self._files):05d}.arrows"
                sink = pa.OSFile(str(path), "wb")
                entry = (path, sink, pa.ipc.new_stream(sink, batch.schema))
                self._files[key] = entry
                self._tags[key] = []
            entry[2].write_batch(batch)
            self._tags[key].append(subxact)
            self.rows += batch.num_rows
            self.bytes += batch.nbytes

    def abort(self, subxact: int) -> None:
        """Voids the rows added for subtransaction ``subxact`` (a drain leaves them out)."""
        self._aborted.add(subxact)

    def drain(
        self, pos: int, commit_ts_us: int, xid: int | None, last_commit_lsn: int | None = None
    ) -> Generator[TableBatch, None, None]:
        """The spilled rows, stamped with their commit, in the order they were added per table;
        the files are removed as they are read, the directory at the end. The spill is empty
        (ready for the next transaction) as soon as this returns."""
        self._close_writers()
        files = [(key, path, self._tags[key]) for key, (path, _s, _w) in self._files.items()]
        aborted = self._aborted
        directory, self._dir = self._dir, None
        self._files, self._tags, self._aborted = {}, {}, set()
        self.rows = self.bytes = 0
        return _read(files, aborted, directory, pos, commit_ts_us, xid, last_commit_lsn)

    def remove_leftovers(self) -> int:
        """Deletes spill directories of runs no longer alive under the spill directory; returns
        how many."""
        parent = Path(self.spill_dir or tempfile.gettempdir())
        removed = 0
        try:
            entries = list(parent.iterdir())
        except OSError:
            return 0
        for entry in entries:
            match = _NAME.match(entry.name)
            if match is None or not entry.is_dir() or _alive(int(match.group(1))):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        return removed

    def discard(self) -> None:
        """Drops every spilled row (a rollback, a lost connection, the end of the run)."""
        self._close_writers()
        self._files, self._tags, self._aborted = {}, {}, set()
        self.rows = self.bytes = 0
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _close_writers(self) -> None:
        """Finishes every file (the stream's end marker), so it reads back whole."""
        for _path, sink, writer in self._files.values():
            try:
                writer.close()
            finally:
                sink.close()


def _read(
    files: list[tuple[tuple[str, int], Path, list[int | None]]],
    aborted: set[int],
    directory: Path | None,
    pos: int,
    commit_ts_us: int,
    xid: int | None,
    last_commit_lsn: int | None,
) -> Generator[TableBatch, None, None]:
    try:
        for (table, version), path, tags in files:
            with pa.OSFile(str(path), "rb") as source:
                # One message per batch written, so the tags line up with what is read.
                for batch, tag in zip(pa.ipc.open_stream(source), tags, strict=True):
                    if tag is not None and tag in aborted:
                        continue
                    yield table, version, stamp(batch, pos, commit_ts_us, xid, last_commit_lsn)
            path.unlink(missing_ok=True)
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
