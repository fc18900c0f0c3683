"""Applies change batches to a MySQL or MariaDB target (the source's schema is the database).

Each net action of a batch is a few multi-row statements of at most 1 MiB: ``INSERT ... VALUES
(...), (...) ON DUPLICATE KEY UPDATE c = VALUES(c)`` and ``DELETE ... WHERE (pk) IN ((...), ...)``,
their value lists rendered column-wise by :mod:`arrowtail.sinks.database.mysql_values` (or escaped
by PyMySQL for the few types that has no rendering for). A truncate is ``DELETE FROM`` because
``TRUNCATE`` commits implicitly (MySQL manual, "Statements That Cause an Implicit Commit") and
would break the one-transaction-per-commit rule; table DDL runs on a second, autocommit connection
for the same reason. Columns a primary-key change carries from the old row go through a
``TEMPORARY`` table (no implicit commit). The session runs in strict mode so a value that does not
fit is an error, never a silent truncation.

An ALTER TABLE waits for the metadata lock of every open transaction that wrote the table, this
sink's own included; so when a schema change meets a table the open transaction already wrote
(a backlog holding rows from before and after an ``ADD COLUMN``), the sink rolls that transaction
back, alters the table, and writes the transaction's batches again, which it keeps until the
commit (up to :data:`KEEP_BYTES`). Past that size it commits the rows written so far without
the position instead, with a warning: a crash before the next commit then applies them again
on the restart, in order, which leaves the same rows.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pyarrow as pa

from arrowtail.exceptions import SinkError
from arrowtail.sinks.database import sqltypes
from arrowtail.sinks.database.mysql_values import row_literals, statements
from arrowtail.sinks.database.target import (
    PSEUDO_TABLES,
    STATE_TABLE,
    PositionJSON,
    TargetSink,
    TargetTable,
)

log = logging.getLogger("arrowtail.sinks.database.target")

#: Keys per DELETE statement.
DELETE_CHUNK = 1000
#: Seconds one attempt of a CREATE/ALTER TABLE waits for a metadata lock, and attempts in all
#: (a second apart).
DDL_LOCK_WAIT = 2
DDL_ATTEMPTS = 15
#: Bytes of the open transaction's batches kept to write them again after a schema change.
KEEP_BYTES = 64 * 1024 * 1024
#: Strict, in UTC, and without foreign key checks: the source checked them, and changes applied
#: table by table can meet the target's foreign keys out of order.
_SESSION = (
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION',"
    " time_zone = '+00:00', foreign_key_checks = 0"
)


def quote(name: str) -> str:
    """A MySQL identifier in backquotes."""
    return "`" + name.replace("`", "``") + "`"


class MySqlTargetSink(TargetSink):
    """A sink that applies changes to a MySQL/MariaDB server; ``database`` holds the state table
    and is the default database of unqualified table names."""

    engine = sqltypes.MYSQL

    def __init__(
        self, host: str, port: int, user: str, password: str, database: str, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.params = {"host": host, "port": int(port), "user": user, "password": password}
        self.database = database
        self._conn: Any = None
        self._carry_ids = 0
        #: What the open transaction did, to do again after an ALTER TABLE (None once its
        #: batches pass keep_bytes): batches written, and the values set in added columns
        #: (table None); and the target tables it wrote.
        self.keep_bytes = KEEP_BYTES
        self._kept: list[tuple[Any, Any, Any]] | None = []
        self._kept_bytes = 0
        self._written: set[str] = set()

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        super().write(table, schema_version, batch)
        if table.rsplit(".", 1)[-1] in PSEUDO_TABLES or not batch.num_rows:
            return
        self._written.add(self._sql_name(*self.target_name(table)))
        if self._kept is not None:
            self._kept.append((table, schema_version, batch))
            self._kept_bytes += batch.get_total_buffer_size()
            if self._kept_bytes > self.keep_bytes:
                self._kept, self._kept_bytes = None, 0

    def _forget_written(self) -> None:
        self._kept, self._kept_bytes = [], 0
        self._written.clear()

    def _alter(self, schema: str, name: str, statement: str) -> None:
        """Runs an ALTER TABLE of a target table, first moving this sink's open transaction out
        of its way if that wrote the table (see the module's description)."""
        if self._sql_name(schema, name) not in self._written or not self._in_txn:
            self._ddl([statement])
            return
        kept = self._kept
        if kept is None:
            log.warning(
                "target table %s.%s: committing the rows written so far before altering it"
                " (the open transaction passed %d bytes); a crash before the next commit applies"
                " them again",
                schema,
                name,
                self.keep_bytes,
            )
            self._commit_txn()
            self._in_txn = False
            self._ddl([statement])
            self._begin()
            return
        self._abort()
        self._ddl([statement])
        self._begin()
        applied = self.rows_applied
        for table, first, second in kept:
            if table is None:
                self._set_all(first[0], first[1], second)
            else:
                self.write(table, first, second)
        self.rows_applied = applied

    def _open_connection(self, autocommit: bool) -> Any:
        try:
            import pymysql
        except ImportError as exc:
            raise SinkError("the MySQL/MariaDB target needs PyMySQL: pip install pymysql") from exc

        conn = pymysql.connect(
            **self.params,
            database=self.database,
            autocommit=autocommit,
            charset="utf8mb4",
            connect_timeout=10,
        )
        with conn.cursor() as cur:
            cur.execute(_SESSION)
        return conn

    def _ddl(self, statements: list[str]) -> None:
        conn = self._open_connection(autocommit=True)
        try:
            with conn.cursor() as cur:
                # Another session's open transaction on the table holds a metadata lock that
                # the ALTER would wait for as long as it lasts, while every later reader of
                # the table waits behind the ALTER: wait briefly, and try again.
                cur.execute(f"SET SESSION lock_wait_timeout = {DDL_LOCK_WAIT}")
                for statement in statements:
                    self._ddl_statement(cur, statement)
        finally:
            conn.close()

    @staticmethod
    def _ddl_statement(cur: Any, statement: str) -> None:
        what = statement.split("(")[0].strip()
        for attempt in range(1, DDL_ATTEMPTS + 1):
            try:
                cur.execute(statement)
                return
            except Exception as exc:
                if not (exc.args and exc.args[0] == 1205):  # ER_LOCK_WAIT_TIMEOUT
                    raise SinkError(f"{what}: {exc}") from exc
                if attempt == DDL_ATTEMPTS:
                    raise SinkError(
                        f"{what}: {exc}, {DDL_ATTEMPTS} times (another session holds the"
                        " table's metadata lock: an open transaction that used the table;"
                        " SHOW PROCESSLIST names it)"
                    ) from exc
                if attempt == 1:
                    log.info("%s: waiting for other sessions' locks", what)
                time.sleep(1.0)

    # -- connection and state ----------------------------------------------------------------

    def _connect(self) -> None:
        self._conn = self._open_connection(autocommit=False)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _rollback(self) -> None:
        self._forget_written()
        if self._conn is not None:
            self._conn.rollback()

    def _commit_txn(self) -> None:
        self._conn.commit()
        self._forget_written()

    def _ensure_state_table(self) -> None:
        self._ddl(
            [
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (sink_name VARCHAR(255) PRIMARY KEY,"
                " position JSON NOT NULL, updated_at TIMESTAMP(6) NOT NULL"
                " DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB"
            ]
        )

    def _write_state(self, position: PositionJSON) -> None:
        with self._conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {STATE_TABLE} (sink_name, position, updated_at)"
                " VALUES (%s, %s, CURRENT_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE"
                " position = VALUES(position), updated_at = VALUES(updated_at)",
                (self.sink_name, json.dumps(position)),
            )

    # -- tables ------------------------------------------------------------------------------

    def _default_schema(self) -> str:
        return self.database

    def _sql_name(self, schema: str, name: str) -> Any:
        return f"{quote(schema)}.{quote(name)}"

    def _describe(self, schema: str, name: str) -> tuple[dict[str, str] | None, tuple[str, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, data_type, column_key FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (schema, name),
            )
            rows = cur.fetchall()
            if not rows:
                return None, ()
            cur.execute(
                "SELECT column_name FROM information_schema.statistics WHERE table_schema = %s"
                " AND table_name = %s AND index_name = 'PRIMARY' ORDER BY seq_in_index",
                (schema, name),
            )
            pk = tuple(r[0] for r in cur.fetchall())
        return {r[0]: r[1] for r in rows}, pk

    def _create(self, schema: str, name: str, defs: list[tuple[str, str]], pk: tuple) -> None:
        cols = [f"{quote(c)} {t}" for c, t in defs]
        cols.append("PRIMARY KEY (" + ", ".join(map(quote, pk)) + ")")
        self._ddl(
            [
                f"CREATE DATABASE IF NOT EXISTS {quote(schema)}",
                f"CREATE TABLE IF NOT EXISTS {self._sql_name(schema, name)} ("
                + ", ".join(cols)
                + ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            ]
        )

    def _add_columns(self, schema: str, name: str, defs: list[tuple[str, str]]) -> None:
        adds = ", ".join(f"ADD COLUMN {quote(c)} {t}" for c, t in defs)
        self._alter(schema, name, f"ALTER TABLE {self._sql_name(schema, name)} {adds}")

    def _key_has_nulls(self, schema: str, name: str, key: tuple[str, ...]) -> bool:
        nulls = " OR ".join(f"{quote(c)} IS NULL" for c in key)
        table = self._sql_name(schema, name)
        with self._conn.cursor() as cur:
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {nulls})")
            row = cur.fetchone()
        # The read holds the table's metadata lock until the transaction ends, as a write does.
        self._written.add(table)
        return bool(row and row[0])

    def _rekey(self, schema: str, name: str, key: list[tuple[str, str]], left: list[str]) -> None:
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, data_type, column_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s",
                (schema, name),
            )
            # Column names compare without case on MySQL/MariaDB.
            declared = {str(c).lower(): (str(d).lower(), str(t)) for c, d, t in cur.fetchall()}
        # TEXT and BLOB columns cannot be in a key without a prefix length: they take the
        # types a key column is created with (VARCHAR(255), VARBINARY(255)).
        unkeyable = {"tinytext", "text", "mediumtext", "longtext", "json"}
        unkeyable |= {"tinyblob", "blob", "mediumblob", "longblob"}
        specs = [
            f"MODIFY COLUMN {quote(c)} {t} NOT NULL"
            for c, t in key
            if declared.get(c.lower(), ("", ""))[0] in unkeyable
        ]
        specs += [f"MODIFY COLUMN {quote(c)} {declared[c.lower()][1]} NULL" for c in left]
        specs += ["DROP PRIMARY KEY", f"ADD PRIMARY KEY ({', '.join(quote(c) for c, _ in key)})"]
        self._alter(schema, name, f"ALTER TABLE {self._sql_name(schema, name)} {', '.join(specs)}")

    def _set_all(self, schema: str, name: str, values: list[tuple[str, str]]) -> None:
        self._written.add(self._sql_name(schema, name))
        if self._kept is not None:
            self._kept.append((None, (schema, name), values))
        # PostgreSQL's text of the value, read by MySQL's own conversion (numbers, text, dates
        # and times without a zone); a value it refuses stops the run with the server's error.
        sets = ", ".join(f"{quote(c)} = %s" for c, _ in values)
        with self._conn.cursor() as cur:
            cur.execute(f"UPDATE {self._sql_name(schema, name)} SET {sets}", [v for _, v in values])

    def _widen_columns(self, schema: str, name: str, defs: list[tuple[str, str]]) -> None:
        # MODIFY replaces the whole definition: keep NOT NULL, the default and AUTO_INCREMENT.
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, is_nullable, column_default, extra"
                " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                (schema, name),
            )
            # Column names compare without case on MySQL/MariaDB.
            declared = {str(r[0]).lower(): r[1:] for r in cur.fetchall()}
        modifies = []
        for column, sql_type in defs:
            nullable, default, extra = declared.get(column.lower(), ("YES", None, ""))
            text = f"MODIFY COLUMN {quote(column)} {sql_type}"
            if nullable == "NO":
                text += " NOT NULL"
            if default is not None and str(default).upper() != "NULL":
                text += f" DEFAULT {default}"
            if "auto_increment" in str(extra).lower():
                text += " AUTO_INCREMENT"
            modifies.append(text)
        self._alter(
            schema, name, f"ALTER TABLE {self._sql_name(schema, name)} {', '.join(modifies)}"
        )

    # -- applying ----------------------------------------------------------------------------

    def _truncate(self, target: TargetTable) -> None:
        with self._conn.cursor() as cur:
            cur.execute(f"DELETE FROM {target.sql_name}")

    def _delete(self, target: TargetTable, keys: pa.Table) -> None:
        sqltypes.check_table(keys, self.engine)
        lhs = "(" + ", ".join(map(quote, keys.column_names)) + ")"
        prefix = f"DELETE FROM {target.sql_name} WHERE {lhs} IN ("
        literals = row_literals(keys)
        with self._conn.cursor() as cur:
            if literals is not None:
                for statement in statements(prefix, literals, ")"):
                    cur.execute(statement)
                return
            values = self._values(target, keys)
            one = "(" + ", ".join(["%s"] * len(keys.column_names)) + ")"
            for start in range(0, len(values), DELETE_CHUNK):
                chunk = values[start : start + DELETE_CHUNK]
                params = [v for row in chunk for v in row]
                cur.execute(prefix + ", ".join([one] * len(chunk)) + ")", params)

    def _upsert(self, target: TargetTable, columns: list[str], rows: pa.Table) -> None:
        updates = [c for c in columns if c not in target.pk] or list(target.pk[:1])
        sets = [f"{quote(c)} = VALUES({quote(c)})" for c in updates]
        if target.other_unique:
            # ON DUPLICATE KEY UPDATE also fires on another unique key's duplicate, and would
            # then overwrite that other row: a NULL key makes that an error (1048) instead.
            first = quote(target.pk[0])
            same = " AND ".join(f"{quote(k)} <=> VALUES({quote(k)})" for k in target.pk)
            sets.insert(0, f"{first} = IF({same}, {first}, NULL)")
        self._insert(
            target.sql_name, rows, target.columns, " ON DUPLICATE KEY UPDATE " + ", ".join(sets)
        )

    def _other_unique(self, schema: str, name: str) -> bool:
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s"
                " AND TABLE_NAME = %s AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'",
                (schema, name),
            )
            row = cur.fetchone()
        return bool(row and row[0])

    def _refused_by_unique(self, exc: Exception) -> bool:
        # Duplicate entry (1062, 1586), or the guard of an upsert into such a table (1048).
        return bool(exc.args) and exc.args[0] in (1048, 1062, 1586)

    def _hint(self, exc: Exception) -> str:
        if exc.args and exc.args[0] == 1048:
            return (
                " (if the column is the table's key: another unique key of the target holds one"
                " of the row's values in another row, which the source does not have)"
            )
        return ""

    def _insert(self, sql_name: str, rows: pa.Table, types: dict[str, str], tail: str = "") -> None:
        """Multi-row ``INSERT INTO sql_name (columns of rows) VALUES ...`` + ``tail``."""
        sqltypes.check_table(rows, self.engine)
        columns = rows.column_names
        head = f"INSERT INTO {sql_name} ({', '.join(map(quote, columns))}) VALUES "
        literals = row_literals(rows)
        with self._conn.cursor() as cur:
            if literals is not None:
                for statement in statements(head, literals, tail):
                    cur.execute(statement)
                return
            # Lists, intervals, structs: PyMySQL escapes the values, and packs the rows into
            # multi-row statements itself.
            one = "(" + ", ".join(["%s"] * len(columns)) + ")"
            cur.executemany(head + one + tail, sqltypes.rows_for(rows, self.engine, types))

    def _stash(self, target: TargetTable, columns: list[str], pairs: pa.Table) -> tuple[list, Any]:
        # Temporary tables neither commit implicitly nor show up in the binlog's transaction
        # (MySQL manual, "Statements That Cause an Implicit Commit": TEMPORARY is exempt).
        self._carry_ids += 1
        keys = quote(f"arrowtail_keys_{self._carry_ids}")
        stash = quote(f"arrowtail_carry_{self._carry_ids}")
        pk = target.pk
        key_cols = ", ".join(f"{quote(k)}, {quote(k)} AS {quote('__from_' + k)}" for k in pk)
        match = " AND ".join(f"t.{quote(k)} = m.{quote('__from_' + k)}" for k in pk)
        picked = ", ".join([f"m.{quote(k)}" for k in pk] + [f"t.{quote(c)}" for c in columns])
        with self._conn.cursor() as cur:
            cur.execute(f"DROP TEMPORARY TABLE IF EXISTS {keys}, {stash}")
            cur.execute(
                f"CREATE TEMPORARY TABLE {keys} ENGINE=InnoDB"
                f" SELECT {key_cols} FROM {target.sql_name} LIMIT 0"
            )
        self._insert(keys, pairs, self._pair_types(target, pairs))
        with self._conn.cursor() as cur:
            cur.execute(
                f"CREATE TEMPORARY TABLE {stash} ENGINE=InnoDB SELECT {picked}"
                f" FROM {target.sql_name} AS t JOIN {keys} AS m ON {match}"
            )
            cur.execute(f"DROP TEMPORARY TABLE {keys}")
        return columns, stash

    def _unstash(self, target: TargetTable, columns: list[str], stash: Any) -> None:
        sets = ", ".join(f"t.{quote(c)} = s.{quote(c)}" for c in columns)
        match = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in target.pk)
        with self._conn.cursor() as cur:
            cur.execute(f"UPDATE {target.sql_name} AS t JOIN {stash} AS s ON {match} SET {sets}")
            cur.execute(f"DROP TEMPORARY TABLE {stash}")
