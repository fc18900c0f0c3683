"""Follows DDL statements from binlog QUERY events on a table's column list, for binlogs written
with ``binlog_row_metadata = MINIMAL``.

Such TABLE_MAP events carry types but no names (see ``mysql_schema``). ``information_schema``
describes a table as it is *now*; when the source reads a backlog that holds several DDL
statements for one table, the rows between them need the columns as they were *then*. This module
applies the statement itself to the column list known before it: ``CREATE TABLE`` (column
definitions and key), ``ALTER TABLE`` (ADD/DROP/CHANGE/MODIFY/RENAME COLUMN with FIRST/AFTER and
MariaDB's IF [NOT] EXISTS, ADD/DROP PRIMARY KEY, CONVERT TO CHARACTER SET, table renames; index,
constraint, partition and table options leave the columns alone), ``RENAME TABLE``, ``DROP
TABLE``, ``DROP DATABASE``.

A statement it cannot follow raises :class:`UnfollowedDdl` naming the tables it touches; the
source then reads those from ``information_schema`` (exact while it is caught up). Grammar: MySQL
8.0 / MariaDB 11 reference manual, "CREATE TABLE Statement", "ALTER TABLE Statement".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from arrowtail.sources.mysql.schema import Collations, TableInfo

TableKey = tuple[str, str]

_TOKEN = re.compile(
    r"""(?P<skip>\s+|--[^\n]*|\#[^\n]*|/\*!\d*|/\*M!\d*|\*/|/\*.*?\*/)
    |`(?P<quoted>(?:[^`]|``)*)`
    |'(?P<str>(?:[^'\\]|\\.|'')*)'
    |"(?P<dstr>(?:[^"\\]|\\.|"")*)"
    |(?P<word>[A-Za-z0-9_$@]+)
    |(?P<punct>.)""",
    re.S | re.X,
)

#: Types whose values are text in a character set (collation matters when decoding them).
_CHARACTER_TYPES = frozenset(
    {"CHAR", "VARCHAR", "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET", "NCHAR"}
    | {"NVARCHAR", "CHARACTER", "NATIONAL", "VARCHARACTER", "LONG", "JSON"}
)
#: First words of CREATE TABLE entries and ALTER specifications that leave the columns alone.
_NOT_COLUMNS = frozenset(
    {"KEY", "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL", "FOREIGN", "CHECK", "PERIOD", "SYSTEM"}
    | {"VECTOR"}
)
_TABLE_OPTIONS = frozenset(
    {"ENGINE", "COMMENT", "AUTO_INCREMENT", "ROW_FORMAT", "ALGORITHM", "LOCK", "FORCE"}
    | {"KEY_BLOCK_SIZE", "AVG_ROW_LENGTH", "CHECKSUM", "MAX_ROWS", "MIN_ROWS", "PACK_KEYS"}
    | {"STATS_AUTO_RECALC", "STATS_PERSISTENT", "STATS_SAMPLE_PAGES", "PAGE_CHECKSUM"}
    | {
        "TRANSACTIONAL",
        "ENCRYPTED",
        "ENCRYPTION_KEY_ID",
        "PAGE_COMPRESSED",
        "DATA",
        "INSERT_METHOD",
    }
    | {"ORDER", "ENABLE", "DISABLE", "DISCARD", "IMPORT", "PARTITION", "REMOVE", "COALESCE"}
    | {"REORGANIZE", "EXCHANGE", "ANALYZE", "OPTIMIZE", "REBUILD", "REPAIR", "TRUNCATE"}
    | {"WITH", "WITHOUT", "UNION", "DELAY_KEY_WRITE", "CONNECTION", "TABLESPACE", "STORAGE"}
    | {"SEQUENCE", "IETF_QUOTES", "COMPRESSION", "SECONDARY_ENGINE", "WAIT", "NOWAIT", "INDEX"}
)


class UnfollowedDdl(Exception):
    """A DDL statement this module cannot apply; ``tables`` are those it touches."""

    def __init__(self, tables: list[TableKey], reason: str) -> None:
        super().__init__(reason)
        self.tables = tables


class _Tokens:
    """A cursor over the tokens of one statement: ``(kind, text)`` with kind ``word``
    (unquoted), ``name`` (backquoted), ``str`` or ``punct``."""

    def __init__(self, sql: str) -> None:
        self.items: list[tuple[str, str]] = []
        for m in _TOKEN.finditer(sql):
            kind = m.lastgroup or "skip"
            if kind == "skip":
                continue
            text = m.group(kind)
            if kind == "quoted":
                kind, text = "name", text.replace("``", "`")
            elif kind in ("str", "dstr"):
                kind, text = "str", _unescape(text, "'" if kind == "str" else '"')
            self.items.append((kind, text))
        self.at = 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        i = self.at + ahead
        return self.items[i] if i < len(self.items) else ("end", "")

    def word(self, ahead: int = 0) -> str:
        kind, text = self.peek(ahead)
        return text.upper() if kind == "word" else ""

    def accept(self, *words: str) -> bool:
        """Consumes the keywords ``words`` if they come next."""
        if all(self.word(i) == w for i, w in enumerate(words)):
            self.at += len(words)
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.peek() == ("punct", char):
            self.at += 1
            return True
        return False

    def name(self) -> str:
        kind, text = self.peek()
        if kind not in ("word", "name"):
            raise ValueError(f"expected a name, found {text!r}")
        self.at += 1
        return text

    def table(self, default_db: str) -> TableKey:
        first = self.name()
        if self.punct("."):
            return first, self.name()
        return default_db, first

    def group(self) -> list[tuple[str, str]]:
        """The tokens up to the next top-level ``,`` or the ``)`` closing the current group
        (neither consumed)."""
        depth, start = 0, self.at
        while self.at < len(self.items):
            tok = self.items[self.at]
            if tok == ("punct", "("):
                depth += 1
            elif tok == ("punct", ")"):
                if depth == 0:
                    break
                depth -= 1
            elif tok == ("punct", ",") and depth == 0:
                break
            self.at += 1
        return self.items[start : self.at]


#: MySQL's backslash escapes in string literals (reference manual, "String Literals"): ``\%``
#: and ``\_`` keep their backslash, and any other escaped character stands for itself.
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_ESCAPES |= {"%": "\\%", "_": "\\_"}


def _unescape(text: str, quote: str) -> str:
    text = text.replace(quote * 2, quote)
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), text, flags=re.S)


def _words(tokens: list[tuple[str, str]]) -> list[str]:
    return [t.upper() if k == "word" else "" for k, t in tokens]


class _Column:
    """One column definition: name, and its decoder details from the type and attributes."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        if len(tokens) < 2 or tokens[0][0] not in ("word", "name"):
            raise ValueError("a column definition needs a name and a type")
        self.name = tokens[0][1]
        words = _words(tokens)
        self.type = words[1]
        self.unsigned = "UNSIGNED" in words or "SERIAL" in words
        self.primary = "PRIMARY" in words
        self.labels: list[str] | None = None
        if self.type in ("ENUM", "SET"):
            # Labels end where the type's parenthesis closes.
            close = tokens.index(("punct", ")")) if ("punct", ")") in tokens else len(tokens)
            self.labels = [t for k, t in tokens[2:close] if k == "str"]
        self.charset = _option_after(tokens, words, ("CHARACTER", "SET"), ("CHARSET",))
        self.collate = _option_after(tokens, words, ("COLLATE",))
        self._tokens = tokens

    def existing_value(self) -> tuple[str | None, str]:
        """What the rows already in a table hold in this column when ``ALTER TABLE ... ADD``
        makes it: ``(text, "")`` for a value, ``(None, "")`` for NULL, ``(None, why)`` when the
        definition does not tell it in a form read here. MySQL and MariaDB give those rows the
        column's default, or the type's implicit default for a NOT NULL column without one (0,
        the empty string, an ENUM's first label), and log no row change for them (reference
        manuals, "Data Type Default Values")."""
        tokens, words = self._tokens, _words(self._tokens)
        kind = self.type
        if kind in ("CHARACTER", "NATIONAL", "NCHAR"):
            kind = "VARCHAR" if {"VARYING", "VARCHAR"} & set(words) else "CHAR"
        if kind == "SERIAL" or "AUTO_INCREMENT" in words:
            return None, "AUTO_INCREMENT numbers them"
        if "AS" in words or "GENERATED" in words:
            return None, "a generated column computes them"
        if "DEFAULT" not in words:
            pairs = zip(words, words[1:], strict=False)
            if ("NOT", "NULL") not in pairs and "PRIMARY" not in words:
                return None, ""
            if kind in _INTEGER_TYPES - {"YEAR"} or kind in _DECIMAL_TYPES | _FLOAT_TYPES:
                return "0", ""
            if kind in _TEXT_TYPES:
                return "", ""
            if kind == "ENUM" and self.labels:
                return self.labels[0], ""
            return None, f"the implicit default of a NOT NULL {kind} column is not read here"
        literal = _literal(tokens, words.index("DEFAULT") + 1)
        if literal is None:
            return None, "the default is an expression"
        quoted, text = literal
        if text is None:
            return None, ""
        value = _typed_literal(kind, quoted, text, self.labels, _precision(tokens))
        if value is None:
            return None, f"the default {text!r} of a {kind} column is not read here"
        return value, ""

    def collation(self, default: int | None, collations: Collations) -> int | None:
        if self.type not in _CHARACTER_TYPES:
            return None
        if self.type == "JSON":
            return collations.id_of("utf8mb4_bin")
        if self.collate:
            return collations.id_of(self.collate)
        if self.charset:
            return collations.default_of(self.charset)
        return default


_INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "MEDIUMINT", "MIDDLEINT", "INT", "INTEGER", "BIGINT", "YEAR"}
    | {"INT1", "INT2", "INT3", "INT4", "INT8", "BOOL", "BOOLEAN"}
)
_DECIMAL_TYPES = frozenset({"DECIMAL", "DEC", "NUMERIC", "FIXED", "NUMBER"})
_FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8"})
_TEXT_TYPES = _CHARACTER_TYPES - {"ENUM", "SET", "JSON"}
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_NUMBER_PREFIX = re.compile(r"[-+]?\d*\.?\d*([eE][-+]?\d*)?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T]\d{2}:\d{2}:\d{2}(?:\.(\d{1,6}))?")
_TIME = re.compile(r"-?\d{1,3}:\d{2}:\d{2}")


def _literal(tokens: list[tuple[str, str]], at: int) -> tuple[bool, str | None] | None:
    """The literal at ``tokens[at]``: ``(quoted, text)`` for a string or a number, text None for
    NULL; None for anything else (an expression, a function, a hex or bit literal)."""
    kind, text = tokens[at] if at < len(tokens) else ("end", "")
    upper = text.upper() if kind == "word" else ""
    if upper == "NULL":
        return False, None
    if upper in ("TRUE", "FALSE"):
        return False, "1" if upper == "TRUE" else "0"
    if kind == "word" and (upper == "N" or upper.startswith("_")):
        # N'...' and charset introducers such as _utf8mb4'...'
        at += 1
        kind, text = tokens[at] if at < len(tokens) else ("end", "")
    if kind == "str":
        following = tokens[at + 1] if at + 1 < len(tokens) else ("end", "")
        return None if following[0] == "str" else (True, text)
    number = ""
    for kind, text in tokens[at:]:
        if kind not in ("word", "punct") or not _NUMBER_PREFIX.fullmatch(number + text):
            break
        number += text
    return (False, number) if _NUMBER.fullmatch(number) else None


def _precision(tokens: list[tuple[str, str]]) -> int:
    """The ``(n)`` after a column's type (0 without one)."""
    if len(tokens) > 3 and tokens[2] == ("punct", "(") and tokens[3][1].isdigit():
        return int(tokens[3][1])
    return 0


def _typed_literal(
    kind: str, quoted: bool, text: str, labels: list[str] | None, precision: int
) -> str | None:
    """A default literal as the value a column of type ``kind`` holds, in text that both
    database targets read back as that value; None when it is not read here."""
    if kind in _INTEGER_TYPES:
        number = Decimal(text.strip()) if _NUMBER.fullmatch(text.strip()) else None
        if number is None or number != number.to_integral_value():
            return None  # MySQL rounds it
        if kind == "YEAR" and not 1901 <= number <= 2155:
            return None
        return str(int(number))
    if kind in _DECIMAL_TYPES:
        text = text.strip()
        return text.lstrip("+") if _NUMBER.fullmatch(text) and "e" not in text.lower() else None
    if kind in _FLOAT_TYPES:
        text = text.strip()
        return text.lstrip("+") if _NUMBER.fullmatch(text) else None
    if kind in _TEXT_TYPES:
        # CHAR values come back without their trailing spaces.
        return text.rstrip(" ") if kind == "CHAR" else text
    if kind == "ENUM" and quoted and labels:
        same = [label for label in labels if label.lower() == text.rstrip(" ").lower()]
        return same[0] if same else None
    if kind == "DATE" and (m := _DATE.fullmatch(text)):
        return text if "00" not in (m[2], m[3]) and m[1] != "0000" else None
    if kind == "DATETIME" and (m := _DATETIME.fullmatch(text)):
        fraction = m[4] or ""
        if "00" in (m[2], m[3]) or m[1] == "0000" or fraction.rstrip("0")[precision:]:
            return None  # a zero date, or a fraction the column rounds
        return text.replace("T", " ")
    if kind == "TIME" and _TIME.fullmatch(text):
        return text
    return None


def _option_after(
    tokens: list[tuple[str, str]], words: list[str], *keys: tuple[str, ...]
) -> str | None:
    for key in keys:
        for i in range(len(words) - len(key)):
            if tuple(words[i : i + len(key)]) == key:
                j = i + len(key)
                if tokens[j] == ("punct", "="):
                    j += 1
                if j < len(tokens):
                    return tokens[j][1]
    return None


def _key_columns(toks: _Tokens) -> list[str]:
    """``(a, b(10) DESC, ...)`` after PRIMARY KEY [USING ...]: the column names."""
    while not toks.punct("("):
        if toks.peek()[0] == "end":
            raise ValueError("PRIMARY KEY without a column list")
        toks.at += 1
    names = []
    while True:
        part = toks.group()
        if part:
            names.append(part[0][1])
        if not toks.punct(","):
            toks.punct(")")
            return names


class DdlFollower:
    """Applies DDL statements to a table history (``{(db, table): TableInfo}``, changed in
    place). ``collations`` resolves collation names; ``database_collation(db)`` gives a
    database's default collation id for tables created without one."""

    def __init__(
        self, collations: Collations, database_collation: Callable[[str], int | None]
    ) -> None:
        self.collations = collations
        self.database_collation = database_collation

    def apply(
        self, tables: dict[TableKey, TableInfo], statement: str, database: str
    ) -> set[TableKey]:
        """Applies ``statement`` (run with default database ``database``); returns the tables
        whose column list it created, changed, renamed or dropped."""
        try:
            return self._apply(tables, statement, database)
        except (ValueError, IndexError) as exc:
            raise UnfollowedDdl([], f"cannot parse the statement: {exc}") from None

    def _apply(
        self, tables: dict[TableKey, TableInfo], statement: str, database: str
    ) -> set[TableKey]:
        toks = _Tokens(statement)
        if toks.accept("CREATE"):
            toks.accept("OR", "REPLACE")
            if toks.accept("TEMPORARY") or not toks.accept("TABLE"):
                return set()
            if_not_exists = toks.accept("IF", "NOT", "EXISTS")
            key = toks.table(database)
            if if_not_exists and key in tables:
                return set()  # the server left the existing table alone
            return self._create(tables, toks, key)
        if toks.accept("ALTER"):
            if not _accept_table(toks):
                return set()
            return self._alter(tables, toks, toks.table(database))
        if toks.accept("RENAME", "TABLE") or toks.accept("RENAME", "TABLES"):
            return self._rename(tables, toks, database)
        if toks.accept("DROP"):
            if toks.accept("DATABASE") or toks.accept("SCHEMA"):
                toks.accept("IF", "EXISTS")
                db = toks.name()
                gone = {k for k in tables if k[0] == db}
                for key in gone:
                    del tables[key]
                return gone
            if toks.accept("TEMPORARY") or not toks.accept("TABLE"):
                return set()
            toks.accept("IF", "EXISTS")
            dropped = set()
            while True:
                key = toks.table(database)
                tables.pop(key, None)
                dropped.add(key)
                toks.accept("WAIT")
                if not toks.punct(","):
                    return dropped
        return set()

    def _create(
        self, tables: dict[TableKey, TableInfo], toks: _Tokens, key: TableKey
    ) -> set[TableKey]:
        parenthesised = toks.punct("(")
        if toks.accept("LIKE"):
            source = toks.table(key[0])
            if source not in tables:
                raise UnfollowedDdl([key], f"CREATE TABLE ... LIKE an unknown table {source}")
            tables[key] = copy.deepcopy(tables[source])
            return {key}
        if not parenthesised:
            raise UnfollowedDdl([key], "CREATE TABLE without column definitions")
        columns: list[_Column] = []
        primary: list[str] = []
        try:
            while True:
                first = toks.word()
                if first == "PRIMARY" or (
                    first == "CONSTRAINT" and "PRIMARY" in _words(toks.items[toks.at : toks.at + 3])
                ):
                    primary = _key_columns(toks)
                elif first in _NOT_COLUMNS or first == "CONSTRAINT":
                    toks.group()
                else:
                    columns.append(_Column(toks.group()))
                if not toks.punct(","):
                    break
            if not toks.punct(")"):
                raise ValueError("unbalanced column definitions")
        except ValueError as exc:
            raise UnfollowedDdl([key], str(exc)) from None
        rest = toks.items[toks.at :]
        words = _words(rest)
        if "SELECT" in words:
            raise UnfollowedDdl([key], "CREATE TABLE ... SELECT")
        default = self._table_collation(rest, words, key[0])
        primary = primary or [c.name for c in columns if c.primary]
        info = TableInfo(collation=default)
        for col in columns:
            info.names.append(col.name)
            info.details.append((col.unsigned, col.collation(default, self.collations), col.labels))
        info.primary_key = primary
        tables[key] = info
        return {key}

    def _table_collation(
        self, tokens: list[tuple[str, str]], words: list[str], database: str
    ) -> int | None:
        collate = _option_after(tokens, words, ("COLLATE",))
        if collate:
            return self.collations.id_of(collate)
        charset = _option_after(tokens, words, ("CHARACTER", "SET"), ("CHARSET",))
        if charset:
            return self.collations.default_of(charset)
        return self.database_collation(database)

    def _alter(
        self, tables: dict[TableKey, TableInfo], toks: _Tokens, key: TableKey
    ) -> set[TableKey]:
        if key not in tables:
            raise UnfollowedDdl(
                [key], f"ALTER TABLE of {key[0]}.{key[1]}, whose columns are unknown"
            )
        info = copy.deepcopy(tables[key])
        renamed_to: TableKey | None = None
        try:
            while toks.peek()[0] != "end":
                target = self._alter_spec(info, toks, key)
                renamed_to = target or renamed_to
                if not toks.punct(","):
                    break
        except (ValueError, IndexError) as exc:
            raise UnfollowedDdl([key], f"cannot follow ALTER TABLE: {exc}") from None
        if toks.peek()[0] != "end" and toks.word() not in ("PARTITION",):
            raise UnfollowedDdl([key], f"cannot follow ALTER TABLE at {toks.peek()[1]!r}")
        del tables[key]
        tables[renamed_to or key] = info
        return {key, renamed_to or key}

    def _alter_spec(self, info: TableInfo, toks: _Tokens, key: TableKey) -> TableKey | None:
        """Applies one ALTER TABLE specification; returns the new name of a renamed table."""
        start = toks.at
        if toks.accept("ADD"):
            if toks.accept("CONSTRAINT"):
                if toks.word() != "PRIMARY" and toks.word(1) == "PRIMARY":
                    toks.at += 1  # the constraint's symbol
                if toks.word() != "PRIMARY":
                    toks.group()
                    return None
            if toks.word() == "PRIMARY":
                info.primary_key = _key_columns(toks)
                toks.group()
            elif toks.word() in _NOT_COLUMNS or toks.word() == "PARTITION":
                toks.group()
            else:
                toks.accept("COLUMN")
                # MariaDB: a column that exists already is left as it is (a note, no error).
                only_new = toks.accept("IF", "NOT", "EXISTS")
                if toks.punct("("):
                    while True:
                        column = _Column(toks.group())
                        if not (only_new and _has(info, column.name)):
                            self._place(info, column, None)
                        if not toks.punct(","):
                            break
                    toks.punct(")")
                elif only_new and _has(info, toks.peek()[1]):
                    toks.group()
                else:
                    self._column_with_place(info, toks, None)
            return None
        if toks.accept("DROP"):
            if toks.accept("PRIMARY", "KEY"):
                info.primary_key = []
            elif toks.word() in _NOT_COLUMNS | {"CONSTRAINT", "PARTITION"}:
                toks.group()
            else:
                toks.accept("COLUMN")
                # MariaDB's IF EXISTS: a column that is not there is no change (a note).
                if_exists = toks.accept("IF", "EXISTS")
                name = toks.name()
                if not (if_exists and not _has(info, name)):
                    self._remove(info, name)
                toks.group()  # RESTRICT / CASCADE
            return None
        if toks.accept("CHANGE"):
            toks.accept("COLUMN")
            if toks.accept("IF", "EXISTS") and not _has(info, toks.peek()[1]):
                toks.group()
                return None
            self._column_with_place(info, toks, toks.name())
            return None
        if toks.accept("MODIFY"):
            toks.accept("COLUMN")
            if toks.accept("IF", "EXISTS") and not _has(info, toks.peek()[1]):
                toks.group()
                return None
            self._column_with_place(info, toks, toks.peek()[1])
            return None
        if toks.accept("RENAME"):
            if toks.accept("COLUMN"):
                if_exists = toks.accept("IF", "EXISTS")
                old = toks.name()
                if not toks.accept("TO"):
                    raise ValueError("RENAME COLUMN without TO")
                new = toks.name()
                if if_exists and not _has(info, old):
                    return None
                i = _index(info, old)
                info.names[i] = new
                info.primary_key = [new if k == old else k for k in info.primary_key]
                return None
            if toks.word() in ("INDEX", "KEY"):
                toks.group()
                return None
            if not toks.accept("TO"):
                toks.accept("AS")
            return toks.table(key[0])
        if toks.accept("CONVERT", "TO"):
            if not toks.accept("CHARACTER", "SET"):
                toks.accept("CHARSET")
            charset = toks.name()
            rest = toks.group()
            collate = _option_after(rest, _words(rest), ("COLLATE",))
            coll = (
                self.collations.id_of(collate) if collate else self.collations.default_of(charset)
            )
            info.collation = coll
            info.details = [
                (u, coll if c is not None and c != 63 else c, lab) for u, c, lab in info.details
            ]
            return None
        if toks.accept("ALTER"):
            toks.group()
            return None
        toks.accept("DEFAULT")
        if toks.word() in ("CHARACTER", "CHARSET", "COLLATE"):
            rest = toks.group()
            info.collation = self._table_collation(rest, _words(rest), key[0])
            return None
        if toks.word() in _TABLE_OPTIONS:
            toks.group()
            return None
        toks.at = start
        raise ValueError(f"unknown specification {toks.peek()[1]!r}")

    def _column_with_place(self, info: TableInfo, toks: _Tokens, replaces: str | None) -> None:
        tokens, place = _placed(toks.group())
        column = _Column(tokens)
        at = None
        if replaces is not None:
            at = _index(info, replaces)
            del info.names[at], info.details[at]
            info.primary_key = [column.name if k == replaces else k for k in info.primary_key]
        if place is not None:
            at = 0 if place == "" else _index(info, place) + 1
        self._place(info, column, at)

    def _place(self, info: TableInfo, column: _Column, at: int | None) -> None:
        at = len(info.names) if at is None else at
        info.names.insert(at, column.name)
        detail = (column.unsigned, column.collation(info.collation, self.collations), column.labels)
        info.details.insert(at, detail)
        if column.primary:
            info.primary_key = [column.name]

    @staticmethod
    def _remove(info: TableInfo, name: str) -> None:
        i = _index(info, name)
        del info.names[i], info.details[i]
        info.primary_key = [k for k in info.primary_key if k.lower() != name.lower()]

    def _rename(
        self, tables: dict[TableKey, TableInfo], toks: _Tokens, database: str
    ) -> set[TableKey]:
        touched: set[TableKey] = set()
        # Renames apply in order (``RENAME TABLE a TO tmp, b TO a, tmp TO b`` swaps).
        for old, new in _renames(toks, database):
            info = tables.pop(old, None)
            if info is not None:
                tables[new] = info
            touched |= {old, new}
        return touched


def _renames(toks: _Tokens, database: str) -> list[tuple[TableKey, TableKey]]:
    """The ``old TO new`` pairs after ``RENAME TABLE``, in order."""
    moved: list[tuple[TableKey, TableKey]] = []
    while True:
        old = toks.table(database)
        if not toks.accept("TO"):
            raise UnfollowedDdl([old], "RENAME TABLE without TO")
        moved.append((old, toks.table(database)))
        if not toks.punct(","):
            return moved


def _accept_table(toks: _Tokens) -> bool:
    """After ``ALTER``: consumes ``[ONLINE] [IGNORE] TABLE [IF EXISTS]``; False when the
    statement alters something else than a table."""
    toks.accept("ONLINE")
    toks.accept("IGNORE")
    if not toks.accept("TABLE"):
        return False
    toks.accept("IF", "EXISTS")
    return True


def _placed(tokens: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], str | None]:
    """A column definition without its trailing ``FIRST`` or ``AFTER col``, and its place: ""
    for FIRST, the column named after AFTER, None for neither."""
    words = _words(tokens)
    if words and words[-1] == "FIRST":
        return tokens[:-1], ""
    if len(words) >= 2 and words[-2] == "AFTER":
        return tokens[:-2], tokens[-1][1]
    return tokens, None


def _has(info: TableInfo, name: str) -> bool:
    """Whether the table has a column of that name (case-insensitively, as MySQL compares)."""
    return any(known.lower() == name.lower() for known in info.names)


def _index(info: TableInfo, name: str) -> int:
    """Position of a column; MySQL column names compare case-insensitively."""
    lowered = name.lower()
    for i, known in enumerate(info.names):
        if known.lower() == lowered:
            return i
    raise ValueError(f"no column {name!r}")


def truncated_table(statement: str, database: str) -> TableKey | None:
    """The table a ``TRUNCATE [TABLE] name`` statement empties (run with default database
    ``database``); None for any other statement. MySQL and MariaDB truncate one table per
    statement (reference manuals, "TRUNCATE TABLE Statement")."""
    toks = _Tokens(statement)
    if not toks.accept("TRUNCATE"):
        return None
    toks.accept("TABLE")
    try:
        return toks.table(database)
    except ValueError:
        return None


def renamed_tables(statement: str, database: str) -> list[tuple[TableKey, TableKey]]:
    """The ``(old, new)`` names of the tables a ``RENAME TABLE`` or an ``ALTER TABLE ... RENAME
    [TO|AS]`` statement (run with default database ``database``) renames, in order; empty for
    any other statement, and for one that cannot be read."""
    toks = _Tokens(statement)
    try:
        if toks.accept("RENAME", "TABLE") or toks.accept("RENAME", "TABLES"):
            return _renames(toks, database)
        if toks.accept("ALTER") and _accept_table(toks):
            key = toks.table(database)
            start = toks.at
            try:
                tables = {key: TableInfo()}
                DdlFollower(Collations([]), lambda _db: None)._alter(tables, toks, key)
                (new,) = tables
            except (UnfollowedDdl, ValueError, IndexError):
                # A clause about columns not known here (the table's columns are not given):
                # the RENAME clause alone tells the new name.
                toks.at = start
                new = _rename_clause(toks, key) or key
            return [(key, new)] if new != key else []
    except (UnfollowedDdl, ValueError, IndexError):
        pass
    return []


def _rename_clause(toks: _Tokens, key: TableKey) -> TableKey | None:
    """The new name an ``ALTER TABLE``'s ``RENAME [TO|AS]`` clause gives, read from the clauses
    after the table's name without following the others; None without one."""
    while toks.peek()[0] != "end":
        if toks.word() == "RENAME" and toks.word(1) not in ("COLUMN", "INDEX", "KEY"):
            toks.accept("RENAME")
            if not toks.accept("TO"):
                toks.accept("AS")
            return toks.table(key[0])
        toks.group()
        if not toks.punct(","):
            return None
    return None


def changed_table(statement: str, database: str) -> TableKey | None:
    """The table a data change written as a statement names first (``INSERT`` / ``REPLACE
    [INTO] t``, ``UPDATE t``, ``DELETE [FROM] t``, run with default database ``database``);
    None for any other statement, and for one that cannot be read (``WITH ... UPDATE``)."""
    toks = _Tokens(statement)
    try:
        if toks.accept("INSERT") or toks.accept("REPLACE"):
            for word in ("LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"):
                toks.accept(word)
            return toks.table(database)
        if toks.accept("UPDATE"):
            toks.accept("LOW_PRIORITY")
            toks.accept("IGNORE")
            return toks.table(database)
        if toks.accept("DELETE"):
            for word in ("LOW_PRIORITY", "QUICK", "IGNORE", "FROM"):
                toks.accept(word)
            return toks.table(database)
    except (ValueError, IndexError):
        pass
    return None


def touched_tables(
    statement: str, database: str, known: Iterable[TableKey]
) -> set[TableKey] | None:
    """The tables whose columns a DDL statement may have created, changed, renamed or dropped
    (``known``: tables to consider for statements that name no table, like ``DROP DATABASE``);
    None when the statement cannot be read, so that the caller assumes every table."""
    follower = DdlFollower(Collations([]), lambda _db: None)
    try:
        return follower.apply({k: TableInfo() for k in known}, statement, database)
    except UnfollowedDdl as exc:
        return set(exc.tables) or None


@dataclass
class AlteredColumns:
    """What one ``ALTER TABLE`` does to the values of a table's columns."""

    table: TableKey
    #: Columns it adds, by lower-case name: ``(name, value, why)`` as
    #: :meth:`_Column.existing_value` gives them.
    added: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)
    #: Columns it drops or renames (lower case); a column CHANGE names anew counts as both.
    removed: set[str] = field(default_factory=set)
    #: Whether it renames the table or could not be read, so that nothing known of the
    #: table's columns before it holds after it.
    forget_all: bool = False


def altered_columns(statement: str, database: str) -> AlteredColumns | None:
    """The columns an ``ALTER TABLE`` statement (run with default database ``database``) adds,
    drops and renames; None for any other statement."""
    toks = _Tokens(statement)
    if not toks.accept("ALTER") or not _accept_table(toks):
        return None
    try:
        out = AlteredColumns(toks.table(database))
    except ValueError:
        return None
    try:
        while toks.peek()[0] != "end":
            spec = _Tokens("")
            spec.items = toks.group()
            _alter_columns(spec, out)
            if not toks.punct(","):
                break
    except (ValueError, IndexError):
        out.forget_all = True
    return out


_NOT_A_COLUMN = _NOT_COLUMNS | {"CONSTRAINT", "PRIMARY", "PARTITION"}


def _alter_columns(spec: _Tokens, out: AlteredColumns) -> None:
    if spec.accept("ADD"):
        if spec.word() in _NOT_A_COLUMN:
            return
        spec.accept("COLUMN")
        spec.accept("IF", "NOT", "EXISTS")
        if spec.punct("("):
            columns = []
            while True:
                columns.append(_Column(spec.group()))
                if not spec.punct(","):
                    break
        else:
            columns = [_Column(_placed(spec.items[spec.at :])[0])]
        for column in columns:
            out.added[column.name.lower()] = (column.name, *column.existing_value())
        return
    if spec.accept("DROP"):
        if spec.word() not in _NOT_A_COLUMN:
            spec.accept("COLUMN")
            spec.accept("IF", "EXISTS")
            out.removed.add(spec.name().lower())
        return
    if spec.accept("CHANGE") or spec.accept("RENAME", "COLUMN"):
        spec.accept("COLUMN")
        spec.accept("IF", "EXISTS")
        old = spec.name()
        spec.accept("TO")
        out.removed |= {old.lower(), spec.name().lower()}
        return
    if spec.accept("RENAME") and spec.word() not in ("INDEX", "KEY"):
        out.forget_all = True


def quote_name(name: str) -> str:
    """A MySQL identifier in backquotes."""
    return "`" + name.replace("`", "``") + "`"


_NAME = r"`(?:[^`]|``)*`"
_FOREIGN_KEY = re.compile(
    rf"^\s*CONSTRAINT ({_NAME}) FOREIGN KEY \((?:[^`)]|{_NAME})*\)"
    rf" REFERENCES ((?:{_NAME}\.)?{_NAME}) \((?:[^`)]|{_NAME})*\)(.*)$"
)
_ACTION = re.compile(r"\bON (DELETE|UPDATE) (CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION)\b")
#: Foreign key actions that change the rows of the table holding the key.
CHANGING_ACTIONS = ("CASCADE", "SET NULL", "SET DEFAULT")


def foreign_key_actions(create_table: str) -> list[tuple[str, str, list[str]]]:
    """The foreign keys of a ``SHOW CREATE TABLE`` text (one constraint a line, as the server
    writes it) whose actions change this table's rows: ``(constraint, referenced table as
    written, ["ON DELETE CASCADE", ...])``; the referenced table is ``db.table`` when it lies in
    another database."""

    def name(quoted: str) -> str:
        return ".".join(part[1:-1].replace("``", "`") for part in re.findall(_NAME, quoted))

    out = []
    for line in create_table.splitlines():
        match = _FOREIGN_KEY.match(line)
        if match is None:
            continue
        rules = [
            f"ON {event} {action}"
            for event, action in _ACTION.findall(match.group(3))
            if action in CHANGING_ACTIONS
        ]
        if rules:
            out.append((name(match.group(1)), name(match.group(2)), rules))
    return out
