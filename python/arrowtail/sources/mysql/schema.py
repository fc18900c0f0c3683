"""Column names, primary keys and column details for binlogs written with
``binlog_row_metadata = MINIMAL``.

Such TABLE_MAP events carry column types but no names, key, signedness, character sets or
ENUM/SET labels, so the source reads them from ``information_schema`` and hands them to the
decoder (``BinlogDecoder.set_table_schema`` and ``set_column_details``) before the table's rows
are decoded. A DDL statement changes them: the stream is therefore fed with
``BinlogDecoder.feed_until_ddl``, which stops right after each DDL statement, and the schemas are
read again before any later TABLE_MAP is decoded.

``information_schema`` describes the tables as they are now, which is exact only while the source
is caught up with the server. The source therefore keeps a schema history: the column lists as of
the last decoded position, carried in the checkpoint position (``TableInfo.to_json``) and moved
forward by the DDL statements of the stream (``mysql_ddl``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_SYSTEM = ("mysql", "information_schema", "performance_schema", "sys")


#: Per column: (unsigned, collation id, ENUM/SET labels), as ``set_column_details`` takes them.
Detail = tuple[bool, int | None, list[str] | None]


@dataclass
class TableInfo:
    """The columns of one table as the decoder needs them (from ``information_schema`` or
    followed through DDL statements)."""

    names: list[str] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    details: list[Detail] = field(default_factory=list)
    #: The table's default collation id, for columns added without a character set.
    collation: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, as stored in checkpoint positions."""
        return {
            "names": self.names,
            "pk": self.primary_key,
            "details": [list(d) for d in self.details],
            "collation": self.collation,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TableInfo:
        """The inverse of :meth:`to_json`."""
        details: list[Detail] = [
            (bool(u), None if c is None else int(c), None if lab is None else list(lab))
            for u, c, lab in doc["details"]
        ]
        names = [str(n) for n in doc["names"]]
        if len(details) != len(names):
            raise ValueError(f"{len(names)} column names but {len(details)} column details")
        collation = doc.get("collation")
        return cls(
            names,
            [str(k) for k in doc["pk"]],
            details,
            None if collation is None else int(collation),
        )


class Collations:
    """Collation ids by name and each character set's default collation, from
    ``information_schema.COLLATIONS`` (read once)."""

    def __init__(self, rows: list[tuple[str, str, int, str]]) -> None:
        # MariaDB 10.10+ also lists collations that apply to several character sets, without
        # an id or character set of their own.
        rows = [r for r in rows if r[1] is not None and r[2] is not None]
        self._ids = {str(name).lower(): int(i) for name, _, i, _ in rows}
        self._defaults = {
            str(cs).lower(): int(i) for _, cs, i, default in rows if str(default).lower() == "yes"
        }

    @classmethod
    def load(cls, conn: Any) -> Collations:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COLLATION_NAME, CHARACTER_SET_NAME, ID, IS_DEFAULT "
                "FROM information_schema.COLLATIONS"
            )
            return cls([tuple(r) for r in cur.fetchall()])

    def id_of(self, name: str) -> int | None:
        return self._ids.get(name.lower())

    def default_of(self, charset: str) -> int | None:
        """The default collation of ``charset`` (``utf8`` is ``utf8mb3`` on newer servers)."""
        cs = charset.lower()
        if cs == "binary":
            return 63
        found = self._defaults.get(cs)
        if found is None and cs == "utf8":
            found = self._defaults.get("utf8mb3")
        return found


def database_collations(conn: Any) -> dict[str, int | None]:
    """Each database's default collation id (for tables created without one)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT s.SCHEMA_NAME, co.ID FROM information_schema.SCHEMATA s LEFT JOIN "
            "information_schema.COLLATIONS co ON co.COLLATION_NAME = s.DEFAULT_COLLATION_NAME"
        )
        return {str(db): None if i is None else int(i) for db, i in cur.fetchall()}


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
            "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, co.ID FROM information_schema.TABLES t "
            "JOIN information_schema.COLLATIONS co ON co.COLLATION_NAME = t.TABLE_COLLATION "
            f"WHERE {where.replace('c.', 't.')}",
            (arg,),
        )
        for schema, table, collation in cur.fetchall():
            entry = out.get((str(schema), str(table)))
            if entry is not None:
                entry.collation = int(collation)
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
