"""Table selections as ``--tables`` and ``[source] tables`` write them.

Each entry is ``schema.table``, optionally followed by a column list and a row filter in
PostgreSQL's publication syntax (PostgreSQL 15 and newer, applied when arrowtail creates the
publication, and by snapshots and ``verify`` in any case)::

    public.orders
    public.orders (id, status, total)
    public.orders WHERE (status <> 'draft')
    public.orders (id, status, total) WHERE (status <> 'draft' AND total > 0)

Entries are separated by commas outside parentheses and quotes, so a column list or a filter may
hold commas of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
