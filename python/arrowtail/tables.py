"""Table selections as ``--tables`` and ``[source] tables`` write them.

Each entry is ``schema.table``, optionally followed by a column list and a row filter in
PostgreSQL's publication syntax (PostgreSQL 15 and newer, applied when arrowtail creates the
publication, and by snapshots and ``verify`` in any case)::

    public.orders
    public.orders (id, status, total)
    public.orders WHERE (status <> 'draft')
    public.orders (id, status, total) WHERE (status <> 'draft' AND total > 0)

Entries are separated by commas outside parentheses and quotes, so a column list or a filter may
hold commas of its own. On MySQL/MariaDB a name may use shell wildcards (``shop.*``,
``shop.order_?``, ``*.audit_[0-9]*``), matched as the transforms' table patterns are: case
counts, ``*`` crosses the dot (:class:`Selection`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from arrowtail.exceptions import ConfigError

_NAME = r'(?:"(?:[^"]|"")+"|[^\s.,()"]+)'
_ENTRY = re.compile(
    rf"^\s*(?P<schema>{_NAME})\.(?P<table>{_NAME})\s*(?:\((?P<columns>[^()]*)\))?\s*"
    r"(?:(?i:WHERE)\s*(?P<where>\(.*\)))?\s*$",
    re.DOTALL,
)


@dataclass(frozen=True)
class TableSpec:
    """One entry: the table's ``schema.table`` name, the published columns (``None``: all) and
    the row filter (``None``: every row), the filter with its outer parentheses."""

    name: str
    columns: tuple[str, ...] | None = None
    where: str | None = None

    @property
    def filtered(self) -> bool:
        return self.columns is not None or self.where is not None

    def __str__(self) -> str:
        text = self.name
        if self.columns is not None:
            text += " (" + ", ".join(self.columns) + ")"
        if self.where is not None:
            text += f" WHERE {self.where}"
        return text


def _scan(text: str) -> tuple[list[int], bool]:
    """The offsets of the commas outside parentheses and quotes, and whether every parenthesis
    and quote is closed (and none closed before it opened)."""
    commas: list[int] = []
    depth = 0
    quote = ""
    balanced = True
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            balanced = balanced and depth >= 0
        elif ch == "," and depth == 0:
            commas.append(i)
    return commas, balanced and depth == 0 and not quote


def split_list(text: str) -> list[str]:
    """Splits ``text`` at commas that are outside parentheses and quotes; empty parts dropped."""
    bounds = [-1, *_scan(text)[0], len(text)]
    parts = (text[a + 1 : b].strip() for a, b in zip(bounds, bounds[1:], strict=False))
    return [p for p in parts if p]


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def parse(entry: str) -> TableSpec:
    """Parses one entry; a malformed one raises :class:`ConfigError` naming it."""
    m = _ENTRY.match(entry)
    if m is None or not _scan(entry)[1]:
        raise ConfigError(
            f"source.tables: {entry!r} is not schema.table [(col, ...)] [WHERE (condition)]"
        )
    columns = None
    if m["columns"] is not None:
        columns = tuple(_unquote(c.strip()) for c in m["columns"].split(",") if c.strip())
        if not columns:
            raise ConfigError(f"source.tables: {entry!r} has an empty column list")
    return TableSpec(f"{_unquote(m['schema'])}.{_unquote(m['table'])}", columns, m["where"])


def parse_all(entries: list[str]) -> list[TableSpec]:
    """Parses every entry, refusing a table named twice."""
    specs = [parse(e) for e in entries]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"source.tables names {spec.name} twice")
        seen.add(spec.name)
    return specs


#: Characters that make a table name a pattern (``fnmatch``'s).
WILDCARDS = frozenset("*?[")


def is_pattern(name: str) -> bool:
    return not WILDCARDS.isdisjoint(name)


def refuse_patterns(specs: list[TableSpec]) -> None:
    """Refuses wildcards where tables are published by name (PostgreSQL)."""
    patterns = [s.name for s in specs if is_pattern(s.name)]
    if patterns:
        raise ConfigError(
            f"source.tables: {', '.join(patterns)} uses wildcards, which only MySQL/MariaDB "
            "sources take; on PostgreSQL publish the tables yourself (CREATE PUBLICATION ... "
            "FOR TABLES IN SCHEMA ...) and pass --publication, or name each table"
        )


@dataclass
class Selection:
    """Which ``db.table`` names a list of names and patterns selects (an empty list: none is
    named; the caller decides what that means)."""

    entries: Iterable[str]
    exact: set[str] = field(init=False)
    patterns: list[str] = field(init=False)
    _seen: dict[str, bool] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        entries = list(self.entries)
        self.exact = {e for e in entries if not is_pattern(e)}
        self.patterns = [e for e in entries if is_pattern(e)]

    def __bool__(self) -> bool:
        return bool(self.exact or self.patterns)

    def __call__(self, name: str) -> bool:
        hit = self._seen.get(name)
        if hit is None:
            hit = name in self.exact or any(fnmatchcase(name, p) for p in self.patterns)
            self._seen[name] = hit
        return hit

    def unmatched(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """The exact names not among ``names``, and the patterns matching none of them."""
        present = set(names)
        missing = sorted(self.exact - present)
        idle = [p for p in self.patterns if not any(fnmatchcase(n, p) for n in present)]
        return missing, idle
