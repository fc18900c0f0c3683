"""Positions of the MySQL/MariaDB source and of binlog files: the binlog coordinates of the last
commit, the GTID state, and the schema history that travels with them (docs/design.md,
"Checkpoint positions")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arrowtail.sources.base import PositionJSON, SourcePosition, unknown_keys

_KEYS = ("pos", "file", "offset", "gtid", "snapshot", "schemas", "commit_ts", "xa", "tables")


def binlog_pos(file: str, offset: int) -> int:
    """``(file number << 32) | offset``; the number is the binlog file name's numeric suffix
    (0 when it has none)."""
    suffix = file.rsplit(".", 1)[-1]
    return ((int(suffix) if suffix.isdigit() else 0) << 32) | offset


@dataclass(frozen=True, eq=True)
class BinlogPosition(SourcePosition):
    """``pos``: the ``_pos`` of the last commit, ``(file number << 32) | offset``; ``file`` and
    ``offset``: where a restart dumps from (every position a source writes has them; only
    ``pos`` is needed to order positions); ``gtid``: MariaDB GTID state or last MySQL GTID
    (absent in positions of ``decode``); ``snapshot``: the position completes an initial
    snapshot; ``schemas``: the schema history (``binlog_row_metadata=MINIMAL``); ``commit_ts``:
    time of the last commit in Unix seconds; ``xa``: while XA transactions are prepared and
    their outcome not yet read, a position from before the earliest of their prepares
    (``pos``, ``file``, ``offset``, ``gtid``, ``schemas``), where a restart dumps from;
    ``tables``: the captured tables whose rows the target holds up to here, so that a restart
    reads the ones that joined the capture while no run streamed (absent in positions stored
    before the key existed)."""

    pos: int
    file: str | None = None
    offset: int | None = None
    gtid: str | None = None
    snapshot: bool = False
    schemas: list[Any] | None = None
    commit_ts: float | None = None
    xa: dict[str, Any] | None = None
    tables: list[str] | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def at(cls, file: str, offset: int, **fields: Any) -> BinlogPosition:
        """The position at ``file``/``offset``, with ``pos`` computed from them."""
        return cls(binlog_pos(file, offset), file, offset, **fields)

    @property
    def order(self) -> int:
        return self.pos

    def to_json(self) -> PositionJSON:
        out: PositionJSON = {"pos": self.pos}
        if self.file is not None:
            out["file"] = self.file
        if self.offset is not None:
            out["offset"] = self.offset
        if self.gtid is not None:
            out["gtid"] = self.gtid
        if self.snapshot:
            out["snapshot"] = True
        if self.schemas is not None:
            out["schemas"] = self.schemas
        if self.commit_ts is not None:
            out["commit_ts"] = self.commit_ts
        if self.xa is not None:
            out["xa"] = self.xa
        if self.tables is not None:
            out["tables"] = self.tables
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: PositionJSON) -> BinlogPosition:
        return cls(
            pos=int(data["pos"]),
            file=None if data.get("file") is None else str(data["file"]),
            offset=None if data.get("offset") is None else int(data["offset"]),
            gtid=data.get("gtid"),
            snapshot=bool(data.get("snapshot", False)),
            schemas=data.get("schemas"),
            commit_ts=data.get("commit_ts"),
            xa=data.get("xa"),
            tables=data.get("tables"),
            extra=unknown_keys(data, _KEYS),
        )
