"""Column names, primary keys and column details for binlogs written with
``binlog_row_metadata = MINIMAL``.

Such TABLE_MAP events carry column types but no names, key, signedness, character sets or
ENUM/SET labels, so the source reads them from ``information_schema`` and hands them to the
decoder (``BinlogDecoder.set_table_schema`` and ``set_column_details``) before the table's rows
are decoded. A DDL statement changes them: the stream is therefore fed to the
decoder in pieces that end after each QUERY event, and the schemas are read again whenever such a
piece produced a ``_ddl`` row, before any later TABLE_MAP is decoded.

``information_schema`` describes the tables as they are now, so this is exact while the source is
caught up with the server; replaying a backlog that holds several DDL statements for one table
can give rows before the last of them the newer names (a schema history kept with the
checkpoint would be needed for that).

Packet framing (MySQL "Replication Protocol"): each event arrives as a packet ``[u24 length][u8
sequence][0x00][event header: u32 timestamp, u8 type, ...]``; a packet of length 0xFFFFFF is
continued by the next one. QUERY is event type 2, MariaDB's compressed QUERY 0xA5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUERY_EVENTS = frozenset({0x02, 0xA5})
_MAX_PACKET = 0xFFFFFF
_SYSTEM = ("mysql", "information_schema", "performance_schema", "sys")


class QuerySplitter:
    """Cuts replication-stream bytes after every packet that holds a QUERY event. Keeps the state
    of a packet that spans reads; bytes of an incomplete packet header are held back until the
    rest arrives (they could not be decoded before anyway)."""

    def __init__(self) -> None:
        self._head = b""
        self._skip = 0
        self._cut_after = False
        self._continued = False

    def split(self, data: bytes) -> list[tuple[bytes, bool]]:
        """``[(piece, ends_with_query_event)]`` covering ``data`` (minus a held-back header)."""
        if self._head:
            data, self._head = self._head + data, b""
        pieces: list[tuple[bytes, bool]] = []
        start = at = 0
        n = len(data)
        while at < n:
            if self._skip:
                take = min(self._skip, n - at)
                at += take
                self._skip -= take
                if self._skip == 0 and self._cut_after:
                    pieces.append((data[start:at], True))
                    start, self._cut_after = at, False
                continue
            if n - at < 4:
                break
            length = int.from_bytes(data[at : at + 3], "little")
            if length >= 6 and not self._continued and n - at < 10:
                break
            is_query = (
                length >= 6
                and not self._continued
                and data[at + 4] == 0
                and data[at + 9] in QUERY_EVENTS
            )
            self._continued = length == _MAX_PACKET
            at += 4
            self._skip, self._cut_after = length, is_query
        self._head = data[at:]
        if start < at:
            pieces.append((data[start:at], False))
        return pieces


#: Per column: (unsigned, collation id, ENUM/SET labels), as ``set_column_details`` takes them.
Detail = tuple[bool, int | None, list[str] | None]


@dataclass
class TableInfo:
    """What ``information_schema`` says about one table."""

    names: list[str] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    details: list[Detail] = field(default_factory=list)


def parse_labels(column_type: str) -> list[str] | None:
    """The labels of ``enum('a','b''c')`` / ``set(...)`` (quotes doubled inside), else None."""
    head, _, rest = column_type.partition("(")
    if head.strip().lower() not in ("enum", "set"):
        return None
    labels: list[str] = []
    at, n = 0, len(rest)
    while at < n:
        if rest[at] != "'":
            at += 1
            continue
        at += 1
        label = []
        while at < n:
            if rest[at] == "'" and at + 1 < n and rest[at + 1] == "'":
                label.append("'")
                at += 2
            elif rest[at] == "'":
                break
            else:
                label.append(rest[at])
                at += 1
        labels.append("".join(label))
        at += 1
    return labels


def load_schemas(conn: Any, database: str = "") -> dict[tuple[str, str], TableInfo]:
    """Names, primary key and column details of every base table of ``database`` (every
    non-system database when empty)."""
    where = "c.TABLE_SCHEMA = %s" if database else "c.TABLE_SCHEMA NOT IN %s"
    arg: Any = database if database else _SYSTEM
    out: dict[tuple[str, str], TableInfo] = {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, co.ID "
            "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON "
            "t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND "
            "t.TABLE_TYPE = 'BASE TABLE' LEFT JOIN information_schema.COLLATIONS co ON "
            f"co.COLLATION_NAME = c.COLLATION_NAME WHERE {where} "
            "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
            (arg,),
        )
        for schema, table, column, column_type, collation in cur.fetchall():
            info = out.setdefault((str(schema), str(table)), TableInfo())
            info.names.append(str(column))
            ctype = str(column_type)
            info.details.append(
                (
                    "unsigned" in ctype.lower(),
                    None if collation is None else int(collation),
                    parse_labels(ctype),
                )
            )
        cur.execute(
            "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME FROM "
            "information_schema.KEY_COLUMN_USAGE c "
            f"WHERE c.CONSTRAINT_NAME = 'PRIMARY' AND {where} "
            "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
            (arg,),
        )
        for schema, table, column in cur.fetchall():
            entry = out.get((str(schema), str(table)))
            if entry is not None:
                entry.primary_key.append(str(column))
    return out
