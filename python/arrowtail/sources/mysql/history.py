"""The schema history of a MySQL/MariaDB source whose binlog has ``binlog_row_metadata =
MINIMAL``: the column list of every captured table as of the last decoded position.

It travels inside the checkpoint position (key ``schemas``), so it is stored by the sink in the
same atomic write as the position it belongs to, and a restart from an older checkpoint decodes
the backlog with the columns in force then, not with today's ``information_schema``. Only one
version per table is kept: the one in force at the position; versions before it are never needed
again, later ones are rebuilt from the DDL statements the stream replays (``mysql_ddl``).

After each DDL statement of the stream, the statement is applied to the history; when the result
has the same column names as ``information_schema`` (the source is caught up), the exact
``information_schema`` details are taken. A statement that cannot be followed falls back to
``information_schema`` for the tables it touches, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from arrowtail.exceptions import ConfigError
from arrowtail.sources.mysql.ddl import DdlFollower, TableKey, UnfollowedDdl
from arrowtail.sources.mysql.schema import Collations, TableInfo, database_collations, load_schemas

log = logging.getLogger("arrowtail.mysql")

#: Position key holding the history: ``[[database, table, TableInfo.to_json()], ...]``.
POSITION_KEY = "schemas"


class SchemaHistory:
    """Column lists per captured table, handed to the binlog decoder.

    ``connect`` opens a query connection, ``database`` limits ``information_schema`` reads (empty:
    every non-system database), ``wanted("db.t")`` tells the captured tables."""

    def __init__(
        self,
        connect: Callable[[], Any],
        database: str,
        wanted: Callable[[str], bool],
    ) -> None:
        self._connect = connect
        self._database = database
        self._wanted = wanted
        self.tables: dict[TableKey, TableInfo] = {}
        self._follower: DdlFollower | None = None

    # -- checkpoint form ---------------------------------------------------------------------

    def restore(self, position: dict[str, Any]) -> None:
        """Takes the history stored in a checkpoint position (none: nothing to restore)."""
        stored = position.get(POSITION_KEY)
        if not stored:
            return
        try:
            self.tables = {(str(d), str(t)): TableInfo.from_json(info) for d, t, info in stored}
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"the checkpoint's schema history is invalid ({exc}); move the checkpoint away "
                "to start from scratch"
            ) from None
        log.info("schema history of %d tables restored from the checkpoint", len(self.tables))

    def as_position(self) -> list[list[Any]]:
        """The history in the form :meth:`restore` takes."""
        return [[d, t, info.to_json()] for (d, t), info in sorted(self.tables.items())]

    # -- keeping it current ------------------------------------------------------------------

    def load(self, decoder: Any) -> None:
        """Fills tables the history does not know yet from ``information_schema`` (tables the
        history knows keep their stored columns) and hands every table to ``decoder``."""
        conn = self._connect()
        try:
            current = load_schemas(conn, self._database)
            if self._follower is None:
                defaults = database_collations(conn)
                self._follower = DdlFollower(Collations.load(conn), defaults.get)
        finally:
            conn.close()
        for key, info in current.items():
            if key not in self.tables and self._in_scope(key):
                self.tables[key] = info
        for key, info in self.tables.items():
            _push(decoder, key, info)

    def follow(self, decoder: Any, statements: Iterable[tuple[str, str]]) -> None:
        """Applies DDL ``(default database, statement)`` pairs in stream order and hands the
        changed tables to ``decoder`` before any later TABLE_MAP is decoded."""
        assert self._follower is not None, "load() first"
        touched: set[TableKey] = set()
        unfollowed: set[TableKey] = set()
        for database, statement in statements:
            try:
                touched |= self._follower.apply(self.tables, statement, database)
            except UnfollowedDdl as exc:
                log.warning(
                    "cannot follow the DDL %r (%s): the columns of %s come from "
                    "information_schema, exact only if no later DDL changed them",
                    statement[:200],
                    exc,
                    ", ".join(f"{d}.{t}" for d, t in exc.tables),
                )
                unfollowed |= set(exc.tables)
        changed = {k for k in touched | unfollowed if self._in_scope(k)}
        for key in (touched | unfollowed) - changed:
            self.tables.pop(key, None)
        if not changed:
            return
        conn = self._connect()
        try:
            current = load_schemas(conn, self._database)
        finally:
            conn.close()
        for key in sorted(changed):
            now = current.get(key)
            info = self.tables.get(key)
            if key in unfollowed:
                info = now
            elif info is not None and now is not None and now.names == info.names:
                info = now  # caught up: take information_schema's exact details
            if info is None:
                self.tables.pop(key, None)
                continue
            self.tables[key] = info
            log.info("columns of %s.%s are now %s", key[0], key[1], ", ".join(info.names))
            _push(decoder, key, info)

    def _in_scope(self, key: TableKey) -> bool:
        return self._wanted(f"{key[0]}.{key[1]}")


def _push(decoder: Any, key: TableKey, info: TableInfo) -> None:
    decoder.set_table_schema(key[0], key[1], info.names, info.primary_key)
    decoder.set_column_details(key[0], key[1], info.details)
