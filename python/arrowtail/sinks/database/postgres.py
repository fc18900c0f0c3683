"""Applies change batches to a PostgreSQL target database.

Each net action of a batch is one statement: rows are COPYed into a temporary staging table (one
per column set, kept for the session, ``ON COMMIT DELETE ROWS``, with the target's column types),
then one ``INSERT ... SELECT ... ON CONFLICT (pk) DO UPDATE`` per set of sent columns, or one
``DELETE ... USING`` for the deleted keys. ``TRUNCATE`` is transactional in PostgreSQL, so it
joins the same transaction as the rest. Columns a primary-key change carries from the old row are
copied into an ``ON COMMIT DROP`` temporary table before the deletes and set after the upserts.

An ALTER TABLE (a column added, widened, a new primary key) needs the table to itself, and while
it waits for a reader's lock every later reader of the table waits behind it. So each attempt
waits at most :data:`ALTER_LOCK_WAIT`, inside a savepoint, and a refused one is tried again a
moment later, :data:`ALTER_ATTEMPTS` times, before the run stops naming the sessions that hold
the table.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from typing import Any

import pyarrow as pa

from arrowtail.exceptions import SinkError
from arrowtail.sinks.database import sqltypes
from arrowtail.sinks.database.postgres_copy import csv_payload
from arrowtail.sinks.database.target import STATE_TABLE, PositionJSON, TargetSink, TargetTable

log = logging.getLogger("arrowtail.sinks.database.target")

#: How long one attempt of an ALTER TABLE waits for the table's lock.
ALTER_LOCK_WAIT = "2s"
#: Attempts of an ALTER TABLE, a second apart, before the run stops.
ALTER_ATTEMPTS = 15


class PostgresTargetSink(TargetSink):
    """A sink that applies changes to the PostgreSQL database at ``dsn`` (libpq URL or key=value
    string); see :class:`arrowtail.sinks.database.target.TargetSink` for the keyword arguments."""

    engine = sqltypes.POSTGRES

    def __init__(self, dsn: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.dsn = dsn
        self._conn: Any = None
        self._stage_ids = itertools.count()
        # Staging tables live for the session (ON COMMIT DELETE ROWS) so a long run does not
        # create and drop a catalog entry per statement; those created in the open transaction
        # disappear with a rollback and are forgotten then.
        self._stages: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._stages_new: list[tuple[str, tuple[str, ...]]] = []
        #: Whether the session runs as a replica (foreign keys and ordinary triggers off).
        self._replica = False
        #: Source types (``arrowtail.pg_type``) looked up in the target database: known or not.
        self._known_types: dict[str, bool] = {}

    # -- connection and state ----------------------------------------------------------------

    def _connect(self) -> None:
        import psycopg

        # UTF-8 whatever PGCLIENTENCODING says: the COPY rows carry text as UTF-8 bytes.
        self._conn = psycopg.connect(self.dsn, autocommit=False, client_encoding="UTF8")
        try:
            with self._conn.cursor() as cur:
                cur.execute("SET session_replication_role = replica")
            self._replica = True
        except psycopg.Error as exc:  # not allowed (or a server without the setting)
            self._conn.rollback()
            self._replica = False
            log.info(
                "postgres target: cannot set session_replication_role (%s), so the target's"
                " foreign keys are checked and its triggers fire as changes are applied (see"
                " examples/migration.md)",
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
        with self._conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        self._conn.commit()

    def _hint(self, exc: Exception) -> str:
        import psycopg

        if not isinstance(exc, psycopg.errors.ForeignKeyViolation) or self._replica:
            return ""
        role = self._conn.info.user if self._conn is not None else "the role"
        return (
            "\n(changes are applied table by table, so they can meet the target's foreign keys"
            " out of order; let the target role set session_replication_role, as PostgreSQL's"
            " own subscriber does: on PostgreSQL 15 and later"
            f" GRANT SET ON PARAMETER session_replication_role TO {role}, before 15 only a"
            " superuser may; or drop the target's foreign keys while arrowtail applies changes)"
        )

    def _disconnect(self) -> None:
        self._stages.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _rollback(self) -> None:
        for key in self._stages_new:
            self._stages.pop(key, None)
        self._stages_new.clear()
        if self._conn is not None:
            self._conn.rollback()

    def _commit_txn(self) -> None:
        self._conn.commit()
        self._stages_new.clear()

    def _ensure_state_table(self) -> None:
        with self._conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (sink_name text PRIMARY KEY,"
                " position jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
            )

    def _write_state(self, position: PositionJSON) -> None:
        with self._conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {STATE_TABLE} (sink_name, position, updated_at)"
                " VALUES (%s, %s::jsonb, now()) ON CONFLICT (sink_name) DO UPDATE"
                " SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at",
                (self.sink_name, json.dumps(position)),
            )

    # -- tables ------------------------------------------------------------------------------

    def _default_schema(self) -> str:
        return "public"

    def _sql_name(self, schema: str, name: str) -> Any:
        from psycopg import sql

        return sql.Identifier(schema, name)

    def _describe(self, schema: str, name: str) -> tuple[dict[str, str] | None, tuple[str, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT a.attname, CASE WHEN t.typcategory = 'A' THEN 'array'"
                " ELSE format_type(a.atttypid, NULL) END"
                " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
                " WHERE a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
                " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (schema, name),
            )
            rows = cur.fetchall()
            if not rows:
                return None, ()
            cur.execute(
                "SELECT a.attname FROM pg_index i"
                " JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n) ON true"
                " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
                " WHERE i.indrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
                " AND i.indisprimary ORDER BY k.n",
                (schema, name),
            )
            pk = tuple(r[0] for r in cur.fetchall())
        return {r[0]: r[1] for r in rows}, pk

    def _column_type(self, field: pa.Field, where: str, key: bool = False) -> str:
        """The source's own type for a column a PostgreSQL source carries as text (``inet``,
        ranges, enums, ...) when the target database knows it (an enum or extension type must be
        created there first); else the type the Arrow type maps to (``text``)."""
        mapped = sqltypes.sql_type(field, self.engine, key)
        source = sqltypes.source_pg_type(field)
        if source is None or source == mapped:
            return mapped
        known = self._known_types.get(source)
        if known is None:
            with self._conn.cursor() as cur:
                cur.execute("SELECT to_regtype(%s) IS NOT NULL", (source,))
                row = cur.fetchone()
            known = self._known_types[source] = bool(row and row[0])
        if known:
            return source
        log.warning(
            "target table %s, column %s: type %s is not in the target database, so the column"
            " is created as %s (create the type there first to keep it)",
            where,
            field.name,
            source,
            mapped,
        )
        return mapped

    def _create(self, schema: str, name: str, defs: list[tuple[str, str]], pk: tuple) -> None:
        from psycopg import sql

        cols = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in defs]
        cols.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, pk))))
        with self._conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            cur.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                    self._sql_name(schema, name), sql.SQL(", ").join(cols)
                )
            )

    def _each_column(
        self,
        statement: str,
        schema: str,
        name: str,
        clause: str,
        pairs: list[tuple[str, str]],
        *,
        literal: bool = False,
    ) -> Any:
        """``statement`` (``ALTER TABLE {} {}``, ``UPDATE {} SET {}``) on the table with one
        ``clause`` (a column, then SQL text or, with ``literal``, a value) per pair, joined."""
        from psycopg import sql

        clauses = [
            sql.SQL(clause).format(sql.Identifier(c), sql.Literal(v) if literal else sql.SQL(v))
            for c, v in pairs
        ]
        return sql.SQL(statement).format(self._sql_name(schema, name), sql.SQL(", ").join(clauses))

    def _alter(self, schema: str, name: str, statement: Any) -> None:
        """Runs an ALTER TABLE of a target table in the open transaction without queueing the
        table's readers for long (see the module's description)."""
        from psycopg import errors

        with self._conn.cursor() as cur:
            cur.execute("SELECT current_setting('lock_timeout')")
            (before,) = cur.fetchone() or ("0",)
            for attempt in range(1, ALTER_ATTEMPTS + 1):
                cur.execute("SAVEPOINT arrowtail_alter")
                cur.execute("SELECT set_config('lock_timeout', %s, true)", (ALTER_LOCK_WAIT,))
                try:
                    cur.execute(statement)
                except errors.LockNotAvailable:
                    # Also takes lock_timeout back to what it was.
                    cur.execute("ROLLBACK TO SAVEPOINT arrowtail_alter")
                    if attempt == 1:
                        log.info(
                            "target table %s.%s: waiting for other sessions' locks to alter it",
                            schema,
                            name,
                        )
                    if attempt < ALTER_ATTEMPTS:
                        time.sleep(1.0)
                    continue
                cur.execute("RELEASE SAVEPOINT arrowtail_alter")
                cur.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
                return
            cur.execute(
                "SELECT string_agg(format('pid %%s (%%s since %%s)', a.pid, a.state,"
                " date_trunc('second', a.xact_start)), ', ' ORDER BY a.pid)"
                " FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND a.pid IN"
                " (SELECT l.pid FROM pg_locks l WHERE l.granted AND l.relation ="
                " to_regclass(format('%%I.%%I', %s::text, %s::text)))",
                (schema, name),
            )
            (holders,) = cur.fetchone() or (None,)
        raise SinkError(
            f"target table {schema}.{name}: cannot alter it, other sessions kept it locked"
            f" through {ALTER_ATTEMPTS} attempts ({holders or 'sessions gone since'}); end"
            " them or wait for them, then start the run again"
        )

    def _add_columns(self, schema: str, name: str, defs: list[tuple[str, str]]) -> None:
        statement = self._each_column("ALTER TABLE {} {}", schema, name, "ADD COLUMN {} {}", defs)
        self._alter(schema, name, statement)

    def _key_has_nulls(self, schema: str, name: str, key: tuple[str, ...]) -> bool:
        from psycopg import sql

        nulls = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(c)) for c in key)
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {})")
        with self._conn.cursor() as cur:
            cur.execute(query.format(self._sql_name(schema, name), nulls))
            row = cur.fetchone()
        return bool(row and row[0])

    def _rekey(self, schema: str, name: str, key: list[tuple[str, str]], left: list[str]) -> None:
        from psycopg import sql

        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT conname FROM pg_constraint WHERE contype = 'p'"
                " AND conrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))",
                (schema, name),
            )
            row = cur.fetchone()
        drop = sql.SQL("DROP CONSTRAINT {}, ").format(sql.Identifier(row[0])) if row else None
        nullable = [
            sql.SQL("ALTER COLUMN {} DROP NOT NULL, ").format(sql.Identifier(c)) for c in left
        ]
        # ADD PRIMARY KEY makes the key's columns NOT NULL.
        statement = sql.SQL("ALTER TABLE {} {}{}ADD PRIMARY KEY ({})").format(
            self._sql_name(schema, name),
            drop or sql.SQL(""),
            sql.SQL("").join(nullable),
            sql.SQL(", ").join(sql.Identifier(c) for c, _ in key),
        )
        self._alter(schema, name, statement)

    def _set_all(self, schema: str, name: str, values: list[tuple[str, str]]) -> None:
        # The text is PostgreSQL's output of the value: the column's type reads it back.
        statement = self._each_column(
            "UPDATE {} SET {}", schema, name, "{} = {}", values, literal=True
        )
        with self._conn.cursor() as cur:
            cur.execute(statement)

    def _widen_columns(self, schema: str, name: str, defs: list[tuple[str, str]]) -> None:
        from psycopg import sql

        alter = "ALTER COLUMN {} TYPE {}"
        self._alter(schema, name, self._each_column("ALTER TABLE {} {}", schema, name, alter, defs))
        # Staging tables copied the old column types: new ones are made as needed.
        with self._conn.cursor() as cur:
            for stage in self._stages.values():
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
        self._stages.clear()
        self._stages_new.clear()

    # -- applying ----------------------------------------------------------------------------

    def _stash(self, target: TargetTable, columns: list[str], pairs: pa.Table) -> tuple[list, Any]:
        from psycopg import sql

        pk = target.pk
        keys = sql.Identifier(f"arrowtail_keys_{next(self._stage_ids)}")
        stash = sql.Identifier(f"arrowtail_carry_{next(self._stage_ids)}")
        key_cols = [sql.SQL("{0} AS {0}").format(sql.Identifier(k)) for k in pk]
        key_cols += [
            sql.SQL("{} AS {}").format(sql.Identifier(k), sql.Identifier(f"__from_{k}")) for k in pk
        ]
        match = sql.SQL(" AND ").join(
            sql.SQL("t.{} = m.{}").format(sql.Identifier(k), sql.Identifier(f"__from_{k}"))
            for k in pk
        )
        picked = [sql.SQL("m.{}").format(sql.Identifier(k)) for k in pk]
        picked += [sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns]
        names = sql.SQL(", ").join(map(sql.Identifier, pairs.column_names))
        with self._conn.cursor() as cur:
            # Both tables vanish at commit or rollback (ON COMMIT DROP).
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
                ).format(keys, sql.SQL(", ").join(key_cols), target.sql_name)
            )
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(keys, names)) as copy:
                for row in sqltypes.rows_for(pairs, self.engine, self._pair_types(target, pairs)):
                    copy.write_row(row)
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DROP AS"
                    " SELECT {} FROM {} AS t JOIN {} AS m ON {}"
                ).format(stash, sql.SQL(", ").join(picked), target.sql_name, keys, match)
            )
        return columns, stash

    def _unstash(self, target: TargetTable, columns: list[str], stash: Any) -> None:
        from psycopg import sql

        sets = sql.SQL(", ").join(sql.SQL("{0} = s.{0}").format(sql.Identifier(c)) for c in columns)
        match = sql.SQL(" AND ").join(
            sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k)) for k in target.pk
        )
        with self._conn.cursor() as cur:
            cur.execute(
                sql.SQL("UPDATE {} AS t SET {} FROM {} AS s WHERE {}").format(
                    target.sql_name, sets, stash, match
                )
            )

    def _stage(self, target: TargetTable, rows: pa.Table) -> Any:
        """COPYs ``rows`` into the (empty) staging table for these columns and returns its name;
        :meth:`_unstage` empties it again."""
        from psycopg import sql

        cols = sql.SQL(", ").join(map(sql.Identifier, rows.column_names))
        sqltypes.check_table(rows, self.engine)
        payload = csv_payload(rows, target.columns)
        key = (target.name, tuple(rows.column_names))
        stage = self._stages.get(key)
        with self._conn.cursor() as cur:
            if stage is None:
                stage = sql.Identifier(f"arrowtail_stage_{next(self._stage_ids)}")
                cur.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE {} ON COMMIT DELETE ROWS AS SELECT {} FROM {}"
                        " WITH NO DATA"
                    ).format(stage, cols, target.sql_name)
                )
                self._stages[key] = stage
                self._stages_new.append(key)
            if payload is not None:
                statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(stage, cols)
                with cur.copy(statement) as copy:
                    copy.write(payload)
            else:
                # Lists, intervals, structs: psycopg adapts the values row by row.
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
                    for row in self._values(target, rows):
                        copy.write_row(row)
        return stage

    def _unstage(self, cur: Any, stage: Any) -> None:
        from psycopg import sql

        cur.execute(sql.SQL("TRUNCATE {}").format(stage))

    def _truncate(self, target: TargetTable) -> None:
        from psycopg import sql

        with self._conn.cursor() as cur:
            # TRUNCATE refuses a table another table's foreign key references, whatever the
            # session's role, even when that table is emptied next by the same truncate.
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f'"
                " AND confrelid = %s::regclass AND conrelid <> confrelid)",
                (target.sql_name.as_string(cur),),
            )
            row = cur.fetchone()
            verb = "DELETE FROM {}" if row and row[0] else "TRUNCATE {}"
            cur.execute(sql.SQL(verb).format(target.sql_name))

    def _delete(self, target: TargetTable, keys: pa.Table) -> None:
        from psycopg import sql

        stage = self._stage(target, keys)
        match = sql.SQL(" AND ").join(
            sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k)) for k in keys.column_names
        )
        with self._conn.cursor() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {} AS t USING {} AS s WHERE {}").format(
                    target.sql_name, stage, match
                )
            )
            self._unstage(cur, stage)

    def _other_unique(self, schema: str, name: str) -> bool:
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = %s::regclass"
                " AND indisunique AND NOT indisprimary) OR EXISTS (SELECT 1 FROM pg_constraint"
                " WHERE conrelid = %s::regclass AND contype = 'x')",
                (self._sql_name(schema, name).as_string(cur),) * 2,
            )
            row = cur.fetchone()
        return bool(row and row[0])

    def _refused_by_unique(self, exc: Exception) -> bool:
        import psycopg

        return isinstance(exc, (psycopg.errors.UniqueViolation, psycopg.errors.ExclusionViolation))

    def _savepoint(self) -> Any:
        return super()._savepoint(), len(self._stages_new)

    def _rollback_to(self, mark: Any) -> None:
        name, stages = mark
        super()._rollback_to(name)
        # Staging tables made since the savepoint are gone with it.
        for key in self._stages_new[stages:]:
            self._stages.pop(key, None)
        del self._stages_new[stages:]

    def _release(self, mark: Any) -> None:
        super()._release(mark[0])

    def _upsert(self, target: TargetTable, columns: list[str], rows: pa.Table) -> None:
        # ON CONFLICT names the primary key, so another unique key's duplicate is an error.
        from psycopg import sql

        stage = self._stage(target, rows)
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        keys = sql.SQL(", ").join(map(sql.Identifier, target.pk))
        updates = [c for c in columns if c not in target.pk]
        action: sql.Composable
        if updates:
            action = sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updates
                )
            )
        else:
            action = sql.SQL("DO NOTHING")
        with self._conn.cursor() as cur:
            cur.execute(
                # The source's values, an identity column's too (GENERATED ALWAYS refuses them
                # without the clause; a table without one ignores it).
                sql.SQL(
                    "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}"
                    " ON CONFLICT ({}) {}"
                ).format(target.sql_name, cols, cols, stage, keys, action)
            )
            self._unstage(cur, stage)
