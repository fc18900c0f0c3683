"""Reading a stored position whose source is not at hand.

The stored JSON form carries no tag naming its source (it stays as checkpoints already on disk
hold it), but each source's positions have a key no other source writes: ``lsn`` for PostgreSQL
and pgoutput capture files, ``pos`` for MySQL/MariaDB and binlog files. Sources declare their
``position_type``; this is for the places that only see the stored form (a database target
deciding which re-delivered changes it holds, a source that declares no type)."""

from __future__ import annotations

from arrowtail.sources.base import PositionJSON, SourcePosition
from arrowtail.sources.mysql.position import BinlogPosition
from arrowtail.sources.postgres.position import PgPosition


def position_type_of(data: PositionJSON) -> type[SourcePosition]:
    """The position class that reads ``data``; ``ValueError`` if none does."""
    if "lsn" in data:
        return PgPosition
    if "pos" in data:
        return BinlogPosition
    raise ValueError(f"position without an order: {sorted(data)}")


def read_position(data: PositionJSON) -> SourcePosition:
    """``data`` as the typed position of the source that wrote it."""
    return position_type_of(data).from_json(data)
