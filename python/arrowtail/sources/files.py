"""Recorded input as a source: pgoutput capture files and MySQL/MariaDB binlog files, decoded in
the order given. Each file is one poll; the position after it is the last commit decoded.

A ``TRUNCATE TABLE`` in a binlog becomes a ``t`` row of its table besides its ``_ddl`` row, as
the live MySQL/MariaDB source hands it on, when the table's columns at the statement are known
from the rows decoded before it (:mod:`arrowtail.sources.mysql.truncate`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from arrowtail import _core
from arrowtail.exceptions import ConfigError, DecodeError
from arrowtail.sources.base import Chunk, PositionJSON, ReservedNames, SourcePosition
from arrowtail.sources.mysql.position import BinlogPosition
from arrowtail.sources.mysql.truncate import Truncates
from arrowtail.sources.postgres.position import PgPosition

log = logging.getLogger("arrowtail.files")


class FileSource:
    """Decodes capture files (``fmt="pgoutput"``) or binlog files (``fmt="binlog"``)."""

    kind = "file"

    def __init__(self, fmt: str, paths: list[str]) -> None:
        if fmt not in ("pgoutput", "binlog"):
            raise ConfigError(f"unknown input format {fmt!r}: use pgoutput or binlog")
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise ConfigError(f"input file not found: {missing[0]}")
        self.fmt = fmt
        self.position_type: type[SourcePosition] = (
            PgPosition if fmt == "pgoutput" else BinlogPosition
        )
        self.paths = [Path(p) for p in paths]
        self._next = 0
        self._decoder: Any = None
        self.bytes_read = 0
        #: The run's schema versions (see :class:`arrowtail._core.SchemaVersions`).
        self.schema_versions = _core.SchemaVersions()
        #: Binlog files: ``t`` rows for truncates; no server to ask, every table decoded.
        self._truncates = Truncates(None, self.schema_versions, lambda _table: True)
        self._names = ReservedNames()

    def open(self, start: PositionJSON | None) -> None:
        if start is not None:
            raise ConfigError(
                f"the output already holds decoded changes up to {start}; decode into a new "
                "directory"
            )
        versions = self.schema_versions
        self._decoder = (
            _core.PgOutputDecoder(versions=versions)
            if self.fmt == "pgoutput"
            else _core.BinlogDecoder(versions=versions)
        )

    def poll(self, timeout: float) -> Chunk:
        if self._next >= len(self.paths):
            return Chunk(exhausted=True)
        path = self.paths[self._next]
        self._next += 1
        try:
            if self.fmt == "pgoutput":
                data = path.read_bytes()
                self.bytes_read += len(data)
                self._decoder.feed_capture(data)
            else:
                self.bytes_read += path.stat().st_size
                self._decoder.feed_file(str(path))
        except DecodeError as exc:
            raise DecodeError(f"{path}: {exc}") from None
        batches = self._names.check(self._decoder.flush(), str(path))
        if self.fmt == "binlog":
            batches = self._truncates.apply(batches)
            # Prepared XA transactions wait in the decoder for their outcome; one committed
            # whose prepare is in none of the files has no rows to give.
            self._decoder.take_xa_events()
            unmatched = self._decoder.take_xa_unmatched()
            if unmatched is not None:
                log.warning(
                    "%s: XA transaction %s committed, but its prepare is in none of the files "
                    "read before: its rows are not in the output",
                    path,
                    unmatched,
                )
        # After the flush, the decoder's last commit covers exactly these batches, also for a
        # file that ends inside a transaction (still being written, or cut).
        return Chunk(batches, self._position(), exhausted=self._next >= len(self.paths))

    def _position(self) -> PositionJSON | None:
        if self.fmt == "pgoutput":
            lsn = self._decoder.committed_lsn
            return PgPosition(lsn).to_json() if lsn else None
        last = self._decoder.last_commit
        if last is None:
            return None
        file, offset = last
        return BinlogPosition.at(file, offset).to_json()

    def acknowledge(self, position: PositionJSON) -> None:
        return None

    def close(self) -> None:
        self._decoder = None

    def describe(self) -> dict[str, Any]:
        return {"files": [str(p) for p in self.paths], "bytes_read": self.bytes_read}
