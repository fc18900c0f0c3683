"""Checks and set-up on the PostgreSQL side of a CDC source: server settings, privileges, the
publication and the replication slot. Every refusal says exactly what to change.

Least privilege: the role needs LOGIN and REPLICATION, SELECT on the published tables (for
snapshots), and either ownership of those tables or superuser to create the publication itself —
or a DBA creates the publication once and arrowtail only uses it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from arrowtail._core import format_lsn, parse_lsn
from arrowtail.exceptions import (
    RESERVED_COLUMNS,
    ConfigError,
    ReservedColumnError,
    SourceError,
)
from arrowtail.sources.postgres import errors as pg_errors
from arrowtail.sources.postgres.replication import pinned_dsn
from arrowtail.tables import TableSpec

log = logging.getLogger("arrowtail.postgres")

#: Types whose binary send format the decoder reads (and their arrays); anything else in a
#: published table makes the source ask for text tuples instead.
BINARY_SAFE_OIDS = frozenset(
    {16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 700, 701, 1042, 1043, 1082, 1083, 1114, 1184}
    | {1186, 1266, 1700, 2950, 3802}
    | {1000, 1001, 1002, 1003, 1016, 1005, 1007, 1009, 1028, 199, 1021, 1022, 1014, 1015}
    | {1182, 1183, 1115, 1185, 1187, 1270, 1231, 2951, 3807}
)


def has_binary_decoder(base_oid: int, typtype: str, elem_typtype: str | None) -> bool:
    """Whether the decoder reads a column type's binary form: one of :data:`BINARY_SAFE_OIDS`
    (for a domain, its base type's OID), an enum (its label) or an array of an enum (read as
    ``text[]``, :func:`enum_array_types`). Any other type travels, and is stored, as its text."""
    return base_oid in BINARY_SAFE_OIDS or typtype == "e" or elem_typtype == "e"


@dataclass
class SlotInfo:
    name: str
    plugin: str
    confirmed_flush_lsn: int
    restart_lsn: int
    active: bool


def connect(dsn: str, **kw: Any) -> psycopg.Connection:
    """An ordinary connection; connection errors become :class:`SourceError` without secrets.
    Its client encoding is UTF-8, as the decoders of its COPY data read text, and its session
    settings are the stream's (:data:`~arrowtail.sources.postgres.replication.PINNED_SETTINGS`):
    the columns a COPY reads as text (ranges, composites, ...) come in the form the stream
    sends them, whatever the database's or role's ``DateStyle``, ``TimeZone``,
    ``IntervalStyle`` or ``extra_float_digits``."""
    kw.setdefault("autocommit", True)
    kw["client_encoding"] = "UTF8"
    kw.setdefault("connect_timeout", 10)
    try:
        return psycopg.connect(pinned_dsn(dsn), **kw)
    except psycopg.OperationalError as exc:
        raise pg_errors.error(f"cannot connect to PostgreSQL: {str(exc).strip()}", exc) from None


def connect_replication(dsn: str, settings: dict[str, str] | None = None) -> psycopg.Connection:
    try:
        return psycopg.connect(pinned_dsn(dsn, settings), replication="database", autocommit=True)
    except psycopg.OperationalError as exc:
        raise pg_errors.error(
            f"cannot open a replication connection: {str(exc).strip()} "
            "(the role needs the REPLICATION attribute, and pg_hba.conf must let it connect to "
            "this database)",
            exc,
        ) from None


def check_server(conn: psycopg.Connection) -> int:
    """Returns ``server_version_num`` after checking ``wal_level`` and the role's privileges."""
    row = conn.execute(
        "SELECT current_setting('server_version_num')::int, current_setting('wal_level'), "
        "r.rolreplication, r.rolsuper, quote_ident(current_user) "
        "FROM pg_roles r WHERE r.rolname = current_user"
    ).fetchone()
    assert row is not None
    version, wal_level, can_replicate, is_super, role = row
    if version < 120000:
        raise SourceError(f"PostgreSQL {version // 10000} is too old: arrowtail needs 12 or newer")
    if wal_level != "logical":
        raise SourceError(
            f"wal_level is {wal_level!r}, logical decoding needs 'logical': run ALTER SYSTEM SET "
            "wal_level = logical; then restart PostgreSQL"
        )
    if not (can_replicate or is_super):
        raise SourceError(
            f"the role {role} has no REPLICATION attribute: as a superuser run: ALTER ROLE "
            f"{role} WITH REPLICATION"
        )
    return int(version)


def check_tables(conn: psycopg.Connection, publication: str, tables: list[str]) -> None:
    """Refuses a table list (``--tables``) naming a table that does not exist, or one an
    existing ``publication`` does not publish: such a run would capture nothing of it. Checked
    before a publication or slot is created."""
    if not tables:
        return
    missing: list[str] = []
    found: dict[str, tuple[str, str]] = {}
    for table in tables:
        name = sql.Identifier(*table.split(".", 1)).as_string(conn)
        row = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
            (name,),
        ).fetchone()
        if row is None:
            missing.append(table)
        else:
            found[table] = (str(row[0]), str(row[1]))
    if missing:
        raise ConfigError(
            f"--tables names {', '.join(missing)}, which does not exist in this database "
            "(names are schema.table, case-sensitive); nothing was created"
        )
    if not conn.execute(
        "SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)
    ).fetchone():
        return
    published = set(published_tables(conn, publication))
    # A partitioned table published as its partitions (not through its root) is published.
    parents = {
        tuple(a.split(".", 1))
        for above in ancestors(conn, [f"{s}.{t}" for s, t in published]).values()
        for a in above
    }
    absent = [t for t in tables if found[t] not in published | parents]
    if absent:
        names = ", ".join(sql.Identifier(*found[t]).as_string(conn) for t in absent)
        raise ConfigError(
            f"publication {publication!r} does not publish {', '.join(absent)}: leave it out of "
            f"--tables, or add it: ALTER PUBLICATION {sql.Identifier(publication).as_string(conn)} "
            f"ADD TABLE {names}"
        )


#: The operations a publication may publish, in ``pg_publication``'s column order.
_PUBLISH_OPS = ("insert", "update", "delete", "truncate")


def ensure_publication(
    conn: psycopg.Connection, name: str, tables: list[str] | list[TableSpec]
) -> None:
    """Creates the publication when it does not exist (all tables, or the listed ones, each with
    its column list and row filter); an existing one must publish the listed column lists and
    filters (:func:`check_filters`). Either way, no published column may have a reserved name
    (:func:`check_reserved_columns`)."""
    specs = [t if isinstance(t, TableSpec) else TableSpec(t) for t in tables]
    flags = conn.execute(
        "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication"
        " WHERE pubname = %s",
        (name,),
    ).fetchone()
    if flags is not None:
        check_filters(conn, name, specs)
        check_reserved_columns(conn, name, [s.name for s in specs])
        left_out = [op for op, on in zip(_PUBLISH_OPS, flags, strict=True) if not on]
        if left_out:
            log.warning(
                "publication %s does not publish %s: such changes of its tables are not"
                " captured, and a copy made from the stream drifts from the source"
                " (ALTER PUBLICATION %s SET (publish = 'insert, update, delete, truncate'))",
                name,
                ", ".join(left_out),
                sql.Identifier(name).as_string(conn),
            )
        return
    if specs:
        stmt = sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
            sql.Identifier(name), sql.SQL(", ").join(_publish_entry(s) for s in specs)
        )
    else:
        stmt = sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(sql.Identifier(name))
    if any(s.filtered for s in specs) and conn.info.server_version < 150000:
        raise ConfigError(
            "source.tables: column lists and WHERE filters need PostgreSQL 15 or newer (this "
            f"server is {conn.info.server_version // 10000}); name the tables alone and choose "
            "columns with transform.include_columns / transform.drop_columns"
        )
    try:
        with conn.transaction():
            conn.execute(stmt)
            if any(s.filtered for s in specs):
                # Rolled back with the publication when it would make the application's own
                # UPDATEs and DELETEs fail.
                check_identity_coverage(conn, name)
            # Likewise when a published column could not be told from a metadata column.
            check_reserved_columns(conn, name, [s.name for s in specs])
    except psycopg.errors.InsufficientPrivilege:
        raise SourceError(
            f"publication {name!r} does not exist and this role may not create it; as a "
            f"superuser run: {stmt.as_string(conn)}"
        ) from None
    except psycopg.errors.UndefinedTable as exc:
        raise SourceError(f"cannot publish the listed tables: {exc}".strip()) from None
    except (
        psycopg.errors.SyntaxError,
        psycopg.errors.UndefinedColumn,
        psycopg.errors.FeatureNotSupported,
        psycopg.errors.InvalidColumnReference,
    ) as exc:
        # A column list or row filter the server does not accept (a typo, a function it does
        # not allow in filters, a replica identity column left out of a column list).
        raise ConfigError(
            f"source.tables: PostgreSQL refused {stmt.as_string(conn)}: {str(exc).strip()}"
        ) from None
    log.info("created publication %s", name)


def _publish_entry(spec: TableSpec) -> sql.Composable:
    """``schema.table [(col, ...)] [WHERE (...)]`` for CREATE PUBLICATION."""
    parts: list[sql.Composable] = [sql.Identifier(*spec.name.split(".", 1))]
    if spec.columns is not None:
        parts.append(
            sql.SQL("({})").format(sql.SQL(", ").join(sql.Identifier(c) for c in spec.columns))
        )
    if spec.where is not None:
        # The filter is the operator's own SQL, as in a publication they would write by hand.
        parts.append(sql.SQL("WHERE {}").format(sql.SQL(spec.where)))  # type: ignore[arg-type]
    return sql.SQL(" ").join(parts)


def check_identity_coverage(conn: psycopg.Connection, publication: str) -> None:
    """Refuses column lists that leave out a replica identity column, and row filters that read
    a column outside the replica identity: PostgreSQL accepts such a publication, then fails
    every UPDATE and DELETE of the table."""
    rows = conn.execute(
        """
        SELECT format('%%I.%%I', n.nspname, c.relname), c.relreplident,
               coalesce((SELECT array_agg(k.attnum::int) FROM pg_index i,
                                unnest(i.indkey) AS k(attnum)
                         WHERE i.indrelid = c.oid
                           AND ((c.relreplident = 'd' AND i.indisprimary)
                                OR (c.relreplident = 'i' AND i.indisreplident))), '{}'),
               pr.prattrs::int2[]::int[], pr.prqual::text,
               (SELECT array_agg(a.attnum::int) FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  AND a.attgenerated = '')
        FROM pg_publication_rel pr
        JOIN pg_publication p ON p.oid = pr.prpubid
        JOIN pg_class c ON c.oid = pr.prrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE p.pubname = %s
        """,
        (publication,),
    ).fetchall()
    for table, identity_kind, identity, listed, qual, every in rows:
        # Under REPLICA IDENTITY FULL the identity is every column: filters may read any, and
        # a column list must name them all.
        covered = set(every) if identity_kind == "f" else set(identity)
        if listed is not None and not covered <= set(listed):
            raise ConfigError(
                f"source.tables: the column list of {table} leaves out replica identity "
                f"column(s) {_attnames(conn, table, covered - set(listed))}; PostgreSQL would then "
                "refuse every UPDATE and DELETE of the table: list them too"
            )
        used = {int(n) for n in re.findall(r":varattno (\d+)", qual or "")}
        if used - covered:
            raise ConfigError(
                f"source.tables: the row filter of {table} reads column(s) "
                f"{_attnames(conn, table, used - covered)} outside its replica identity; "
                "PostgreSQL would then refuse every UPDATE and DELETE of the table: filter on key "
                f"columns only, or ALTER TABLE {table} REPLICA IDENTITY FULL"
            )


def check_reserved_columns(
    conn: psycopg.Connection, publication: str, tables: list[str] | None = None
) -> None:
    """Refuses a publication that publishes, of ``tables`` (all when empty), a column named like
    one of the columns arrowtail adds to every change
    (:data:`~arrowtail.exceptions.RESERVED_COLUMNS`), before a slot is made: the source would
    stop at the table's first change (:class:`ReservedColumnError`), and a slot decodes its WAL
    with the publication as it stood then, so only a new slot would get past such changes."""
    if conn.info.server_version >= 150000:
        # The view lists the published columns: the column list's, or every column, generated
        # ones too (which pgoutput leaves out before PostgreSQL 18, and the snapshot always).
        query = (
            "SELECT p.schemaname || '.' || p.tablename, c.name FROM pg_publication_tables p "
            "CROSS JOIN LATERAL unnest(p.attnames) AS c(name) JOIN pg_attribute a "
            "ON a.attrelid = format('%%I.%%I', p.schemaname, p.tablename)::regclass "
            "AND a.attname = c.name WHERE p.pubname = %s AND a.attgenerated = '' "
            "AND c.name = ANY(%s) ORDER BY 1, 2"
        )
    else:
        query = (
            "SELECT n.nspname || '.' || r.relname, a.attname FROM pg_attribute a "
            "JOIN pg_class r ON r.oid = a.attrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
            "WHERE a.attrelid IN (SELECT relid FROM pg_get_publication_tables(%s)) "
            "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
            "AND a.attname = ANY(%s) ORDER BY 1, 2"
        )
    rows = conn.execute(query, (publication, list(RESERVED_COLUMNS))).fetchall()
    found = [(str(t), str(c)) for t, c in rows if not tables or str(t) in tables]
    if found:
        raise ReservedColumnError.found(found)


def _attnames(conn: psycopg.Connection, table: str, attnums: set[int]) -> str:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum = ANY(%s) "
        "ORDER BY attnum",
        (table, sorted(attnums)),
    ).fetchall()
    return ", ".join(str(r[0]) for r in rows)


@dataclass(frozen=True)
class PublishedTable:
    """What a publication publishes of one table (PostgreSQL 15+ knows column lists and row
    filters; older servers publish every column and every row)."""

    columns: tuple[str, ...] | None
    row_filter: str | None


def publication_filters(conn: psycopg.Connection, publication: str) -> dict[str, PublishedTable]:
    """``schema.table`` → the published columns (``None``: all) and row filter (``None``: none)
    of every table in ``publication``, as the server stores them."""
    if conn.info.server_version < 150000:
        return {}
    rows = conn.execute(
        """
        SELECT p.schemaname, p.tablename, p.attnames, p.rowfilter,
               (SELECT count(*) FROM pg_attribute a
                WHERE a.attrelid = format('%%I.%%I', p.schemaname, p.tablename)::regclass
                  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
        FROM pg_publication_tables p WHERE p.pubname = %s
        """,
        (publication,),
    ).fetchall()
    out = {}
    for schema, table, attnames, rowfilter, ncols in rows:
        names = tuple(attnames or ())
        # Without a column list the view lists every column: that is "all", not a list.
        columns = names if names and len(names) < ncols else None
        out[f"{schema}.{table}"] = PublishedTable(columns, rowfilter)
    return out


def check_filters(conn: psycopg.Connection, publication: str, specs: list[TableSpec]) -> None:
    """Refuses column lists or row filters in ``specs`` that the existing ``publication`` does
    not publish: arrowtail creates publications but never alters one. Column lists compare as
    sets; a filter only by presence (the server rewrites its text)."""
    wanted = [s for s in specs if s.filtered]
    if not wanted:
        return
    published = publication_filters(conn, publication)
    for spec in wanted:
        have = published.get(spec.name, PublishedTable(None, None))
        same_columns = spec.columns is None or set(spec.columns) == set(have.columns or ())
        same_filter = (spec.where is None) == (have.row_filter is None)
        if not (same_columns and same_filter):
            shown = []
            if have.columns is not None:
                shown.append("(" + ", ".join(have.columns) + ")")
            if have.row_filter is not None:
                shown.append(f"WHERE {have.row_filter}")
            raise ConfigError(
                f"source.tables asks for {spec} but publication {publication!r} publishes "
                f"{spec.name} {' '.join(shown) or 'with every column and row'}; arrowtail does "
                "not alter an existing publication: change it (ALTER PUBLICATION ... SET TABLE "
                "...) or drop it so it is created as listed"
            )


def check_select(conn: psycopg.Connection, publication: str) -> None:
    """Refuses a snapshot of ``publication`` when the role may not read every table in it
    (the snapshot's COPY would fail half way, after the slot was created), naming the tables and
    the GRANT that fixes it."""
    rows = conn.execute(
        "SELECT format('%%I.%%I', schemaname, tablename), quote_ident(current_user) "
        "FROM pg_publication_tables WHERE pubname = %s "
        "AND NOT has_table_privilege(format('%%I.%%I', schemaname, tablename), 'SELECT') "
        "ORDER BY 1",
        (publication,),
    ).fetchall()
    if rows:
        tables = ", ".join(r[0] for r in rows)
        raise SourceError(
            f"the role {rows[0][1]} has no SELECT on published table(s) {tables}, which the "
            f"snapshot reads: as the owner or a superuser run: GRANT SELECT ON {tables} TO "
            f"{rows[0][1]}"
        )


def published_tables(conn: psycopg.Connection, publication: str) -> list[tuple[str, str]]:
    return [
        (s, t)
        for s, t in conn.execute(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s "
            "ORDER BY 1, 2",
            (publication,),
        ).fetchall()
    ]


def name_arrays(tables: list[str]) -> tuple[list[str], list[str]] | None:
    """The schemas and the names of ``tables`` (``schema.table``), as two arrays for a query's
    ``unnest(%s::text[], %s::text[])``; ``None`` when there is none."""
    pairs = [t.split(".", 1) for t in tables if "." in t]
    if not pairs:
        return None
    return [p[0] for p in pairs], [p[1] for p in pairs]


def ancestors(conn: psycopg.Connection, tables: list[str]) -> dict[str, set[str]]:
    """The tables each of ``tables`` (``schema.table``) is a partition or inheritance child
    of, at any depth; tables without any are left out. A publication of a partitioned table
    (not through its root) sends its partitions' changes under their own names."""
    arrays = name_arrays(tables)
    if arrays is None:
        return {}
    rows = conn.execute(
        """
        WITH RECURSIVE up(child, parent) AS (
            SELECT i.inhrelid, i.inhparent
            FROM unnest(%s::text[], %s::text[]) AS w(nsp, rel)
            JOIN pg_namespace n ON n.nspname = w.nsp
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel
            JOIN pg_inherits i ON i.inhrelid = c.oid
          UNION
            SELECT up.child, i.inhparent FROM up JOIN pg_inherits i ON i.inhrelid = up.parent
        )
        SELECT cn.nspname || '.' || c.relname, pn.nspname || '.' || p.relname
        FROM up
        JOIN pg_class c ON c.oid = up.child JOIN pg_namespace cn ON cn.oid = c.relnamespace
        JOIN pg_class p ON p.oid = up.parent JOIN pg_namespace pn ON pn.oid = p.relnamespace
        """,
        arrays,
    ).fetchall()
    out: dict[str, set[str]] = {}
    for child, parent in rows:
        out.setdefault(child, set()).add(parent)
    return out


def table_fingerprints(conn: psycopg.Connection, tables: list[str]) -> dict[str, str]:
    """Per ``schema.table``, ``oid/relfilenode:hash:names``: the table's OID, which a table
    dropped and created again (or another renamed to the name) has anew; the file the table's
    rows are stored in, which a rewrite of the table replaces; a hash of its columns' names and
    types; and the columns whose value in older rows is a stored default (added with a constant
    default and no rewrite since), comma-separated. What two fingerprints of a table tell: see
    :func:`fingerprint_changes` and :func:`replaced` (fingerprints stored before the OID was
    part of them start with the file)."""
    arrays = name_arrays(tables)
    if arrays is None:
        return {}
    rows = conn.execute(
        """
        SELECT n.nspname || '.' || c.relname,
               c.oid::text || '/' || c.relfilenode::text || ':'
               || left(md5(string_agg(a.attname || ':' || a.atttypid || ':' || a.atttypmod, ','
                                      ORDER BY a.attnum)), 8) || ':'
               || coalesce(string_agg(a.attname, ',' ORDER BY a.attnum)
                           FILTER (WHERE a.atthasmissing), '')
        FROM unnest(%s::text[], %s::text[]) AS w(nsp, rel)
        JOIN pg_namespace n ON n.nspname = w.nsp
        JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        GROUP BY n.nspname, c.relname, c.oid, c.relfilenode
        """,
        arrays,
    ).fetchall()
    return {str(name): str(fingerprint) for name, fingerprint in rows}


def fingerprint_changes(before: str, now: str) -> tuple[bool, list[str]]:
    """What two :func:`table_fingerprints` of a table tell of values in the rows already there
    that no change carries: whether PostgreSQL rewrote the table with other columns (another
    file, though not of a partitioned table, which has none, and other columns: ``ADD COLUMN
    ... DEFAULT random()``, ``ALTER COLUMN ... TYPE``), and the columns added with a constant
    default in place since. A rewrite that kept the columns (``VACUUM FULL``, ``CLUSTER``,
    ``TRUNCATE``) or a column added without a default or dropped tells of nothing."""
    _oid, file_before, columns_before, stored_before = _fingerprint_parts(before)
    _oid, file_now, columns_now, stored_now = _fingerprint_parts(now)
    rewritten = file_now != "0" and file_now != file_before and columns_now != columns_before
    added = [c for c in stored_now.split(",") if c and c not in stored_before.split(",")]
    return rewritten, added


def _fingerprint_parts(fingerprint: str) -> tuple[str, str, str, str]:
    """The OID (empty in a fingerprint stored before they named it), file, column hash and
    stored-default columns of a :func:`table_fingerprints` fingerprint."""
    head, columns, stored = (fingerprint.split(":", 2) + ["", ""])[:3]
    oid, _slash, file = head.rpartition("/")
    return oid, file, columns, stored


def table_oids(conn: psycopg.Connection, tables: list[str]) -> dict[str, int]:
    """The OID of each of ``tables`` (``schema.table``) that exists, as the catalog has it now
    (what :func:`table_fingerprints` starts with, without the columns)."""
    arrays = name_arrays(tables)
    if arrays is None:
        return {}
    rows = conn.execute(
        """
        SELECT n.nspname || '.' || c.relname, c.oid::bigint
        FROM unnest(%s::text[], %s::text[]) AS w(nsp, rel)
        JOIN pg_namespace n ON n.nspname = w.nsp
        JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel
        """,
        arrays,
    ).fetchall()
    return {name: int(oid) for name, oid in rows}


def relid(fingerprint: str) -> int | None:
    """The table OID a :func:`table_fingerprints` fingerprint names (None in one stored before
    fingerprints named it)."""
    oid = _fingerprint_parts(fingerprint)[0]
    return int(oid) if oid.isdigit() else None


def replaced(before: str, now: str) -> bool:
    """Whether two :func:`table_fingerprints` of a name are of two tables: dropped and created
    again, or another table renamed to the name. The rows of the new one are in changes only
    when it was published as they were written (a table created under ``FOR ALL TABLES``); one
    added to the publication with its rows brings them in none."""
    then, current = relid(before), relid(now)
    return then is not None and current is not None and then != current


def has_roots_sent_whole(conn: psycopg.Connection, publication: str) -> bool:
    """Whether ``publication`` publishes a partitioned table through its root
    (``publish_via_partition_root``, PostgreSQL 13 and later): then partitions attached later
    need looking for."""
    if conn.info.server_version < 130000:
        return False
    row = conn.execute(
        """
        SELECT EXISTS (
            SELECT FROM pg_publication p
            JOIN pg_publication_tables t ON t.pubname = p.pubname
            JOIN pg_namespace n ON n.nspname = t.schemaname
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename
            WHERE p.pubname = %s AND p.pubviaroot AND c.relkind = 'p')
        """,
        (publication,),
    ).fetchone()
    return bool(row and row[0])


def leaves_sent_as_root(conn: psycopg.Connection, publication: str) -> dict[str, str]:
    """Under ``publish_via_partition_root``, each partition (at any depth) of the published
    partitioned tables, with the published table whose name its changes are sent under; empty
    for other publications. A partition attached with its rows brings them in no change."""
    if conn.info.server_version < 130000:
        return {}
    rows = conn.execute(
        """
        SELECT ln.nspname || '.' || l.relname, t.schemaname || '.' || t.tablename
        FROM pg_publication p
        JOIN pg_publication_tables t ON t.pubname = p.pubname
        CROSS JOIN LATERAL pg_partition_tree(format('%%I.%%I', t.schemaname, t.tablename)::regclass)
            AS tree
        JOIN pg_class l ON l.oid = tree.relid
        JOIN pg_namespace ln ON ln.oid = l.relnamespace
        WHERE p.pubname = %s AND p.pubviaroot AND tree.level > 0
        """,
        (publication,),
    ).fetchall()
    return {str(leaf): str(root) for leaf, root in rows}


def binary_safe(conn: psycopg.Connection, publication: str) -> tuple[bool, str]:
    """Whether every column type of the published tables has a binary form the decoder reads
    (enums and domains over such types included)."""
    rows = conn.execute(
        """
        SELECT DISTINCT a.attrelid::regclass::text, a.attname,
               t.typname, t.typtype,
               CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END,
               et.typtype
        FROM pg_attribute a
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
        WHERE a.attrelid IN (SELECT relid FROM pg_get_publication_tables(%s))
          AND a.attnum > 0 AND NOT a.attisdropped
        """,
        (publication,),
    ).fetchall()
    for table, column, typname, typtype, base_oid, elem_typtype in rows:
        if has_binary_decoder(base_oid, typtype, elem_typtype):
            continue
        return False, f"{table}.{column} has type {typname}"
    return True, ""


def get_slot(conn: psycopg.Connection, slot: str) -> SlotInfo | None:
    row = conn.execute(
        "SELECT plugin, confirmed_flush_lsn::text, restart_lsn::text, active "
        "FROM pg_replication_slots WHERE slot_name = %s AND database = current_database()",
        (slot,),
    ).fetchone()
    if row is None:
        if conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ).fetchone():
            raise SourceError(f"replication slot {slot!r} belongs to another database")
        return None
    plugin, confirmed, restart, active = row
    if plugin != "pgoutput":
        raise SourceError(
            f"replication slot {slot!r} uses the {plugin!r} plugin; arrowtail needs pgoutput "
            "(choose another --slot name)"
        )
    return SlotInfo(
        slot,
        plugin,
        parse_lsn(confirmed) if confirmed else 0,
        parse_lsn(restart) if restart else 0,
        bool(active),
    )


def create_slot(repl: psycopg.Connection, slot: str, export_snapshot: bool) -> tuple[int, str]:
    """Creates a pgoutput slot; returns its consistent point and the exported snapshot name
    (empty when not exported). The snapshot stays valid while ``repl`` runs no other command."""
    mode = "EXPORT_SNAPSHOT" if export_snapshot else "NOEXPORT_SNAPSHOT"
    stmt = sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput " + mode).format(
        sql.Identifier(slot)
    )
    try:
        row = repl.execute(stmt).fetchone()
    except psycopg.Error as exc:
        raise SourceError(f"cannot create replication slot {slot!r}: {exc}".strip()) from None
    assert row is not None
    log.info("created replication slot %s at %s", slot, row[1])
    return parse_lsn(row[1]), row[2] or ""


#: ``text[]``: how an array of an enum is decoded (its elements are labels in either wire form).
TEXT_ARRAY_OID = 1009


def enum_array_types(conn: psycopg.Connection) -> dict[int, int]:
    """Each array-of-enum type of the database, mapped to ``text[]``: the stream names such a
    column only by its OID, which the decoder cannot know (the snapshot reads it the same way,
    :func:`arrowtail.sources.postgres.snapshot.table_columns`)."""
    rows = conn.execute(
        "SELECT a.oid FROM pg_type a JOIN pg_type e ON e.oid = a.typelem"
        " WHERE a.typcategory = 'A' AND e.typtype = 'e'"
    ).fetchall()
    return {int(oid): TEXT_ARRAY_OID for (oid,) in rows}


def flushed_wal_lsn(conn: psycopg.Connection) -> int:
    """The server's WAL flush position (what a walsender can have sent at most)."""
    row = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
    assert row is not None
    return parse_lsn(row[0])


def lag(conn: psycopg.Connection, slot: str) -> dict[str, int]:
    """Bytes between the server's WAL end and the slot's confirmed position, and WAL retained."""
    row = conn.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
        "FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    if row is None:
        return {}
    return {"lag_bytes": int(row[0] or 0), "retained_wal_bytes": int(row[1] or 0)}


def slot_report(conn: psycopg.Connection, slot: str) -> dict[str, Any]:
    """What ``arrowtail status`` shows of a slot: positions, whether a walsender holds it, lag
    in bytes, the WAL it retains and whether the server still keeps all of it (``wal_status``,
    PostgreSQL 13+), and the walsender's own flush lag in seconds while one is active."""
    info = get_slot(conn, slot)
    if info is None:
        raise SourceError(f"replication slot {slot!r} does not exist")
    report: dict[str, Any] = {
        "slot": slot,
        "slot_active": info.active,
        "slot_confirmed_flush_lsn": format_lsn(info.confirmed_flush_lsn),
        "slot_restart_lsn": format_lsn(info.restart_lsn),
    }
    report.update(lag(conn, slot))
    row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    if row is not None and row[0] >= 130000:
        row = conn.execute(
            "SELECT wal_status, safe_wal_size FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
        if row is not None:
            report["wal_status"] = row[0]
            if row[1] is not None:
                report["safe_wal_bytes"] = int(row[1])
    row = conn.execute(
        "SELECT extract(epoch FROM r.flush_lag)::float8 FROM pg_stat_replication r "
        "JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = %s",
        (slot,),
    ).fetchone()
    if row is not None:
        report["flush_lag_seconds"] = float(row[0] or 0.0)
    return report
