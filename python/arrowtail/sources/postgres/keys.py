"""Catalog facts the replication stream does not carry, added to every batch's schema metadata.

pgoutput's relation message flags the replica identity columns, not the primary key: under
REPLICA IDENTITY FULL every column is flagged, under USING INDEX the index's columns. Consumers
that key by the primary key (the Kafka sink, as Debezium does whatever the replica identity) need
the real one, and a sink creating tables needs the NOT NULL columns, which pgoutput never sends.
They are read from ``pg_index`` and ``pg_attribute`` when the source opens and again whenever a
table or schema version not seen before arrives.

Metadata set: ``arrowtail.primary_key`` (the catalog's primary key, when the table has one; under
REPLICA IDENTITY USING INDEX of an index without every primary key column, the index's columns,
with ``arrowtail.replica_identity = i``, on the snapshot's batches too: a delete carries nothing
else, and every change of a row keeps one key), ``arrowtail.not_null`` (comma-separated NOT
NULL columns), ``arrowtail.database`` (``current_database()``), and, for a table without a
primary key whose batches name replica identity columns as key,
``arrowtail.primary_key_from = replica_identity`` so that consumers can tell the two apart (the
Kafka sink then writes no key).

Field metadata set, for the serializers' Debezium forms (the change batch carries these columns
as text): ``arrowtail.logical_type = money`` with ``arrowtail.scale = 2`` (Debezium's default
``money.fraction.digits``), ``numeric`` on a ``numeric`` without precision, ``enum`` with
``arrowtail.allowed`` (the labels from ``pg_enum``, comma-separated, in their sort order),
``bit`` on ``bit`` and ``bit varying`` (with ``arrowtail.length``, the declared length, where
there is one), the type's own name on ``hstore``, ``point``, ``ltree``, ``xml`` and
``tsvector``, and on an array its elements' logical type: ``json`` for ``json`` and ``jsonb``,
``text`` for ``text`` and ``varchar``, ``numeric`` for a ``numeric`` without precision;
``arrowtail.precision``, the fraction digits a ``timestamp(n)``, ``timestamptz(n)`` or
``time(n)`` declares; and
``arrowtail.pg_type``, the source type of a column carried as text that is not text itself
(:data:`_SOURCE_TYPES`), for PostgreSQL targets that create tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
import pyarrow as pa

from arrowtail.sources.base import ADDED_SINCE_START, MISSING_VALUE, TableBatch
from arrowtail.sources.layouts import Layouts, retyped
from arrowtail.sources.postgres import admin as pg_admin

_FACTS = """
SELECT n.nspname, c.relname,
       coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                 FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisprimary), ''),
       coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                 FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisreplident AND c.relreplident = 'i'), ''),
       coalesce((SELECT string_agg(a.attname, ',' ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attnotnull), ''),
       current_database(),
       coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND (a.atthasdef OR a.attidentity <> '') AND NOT a.atthasmissing),
                '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid IN (SELECT relid FROM pg_get_publication_tables(%(publication)s))
  AND (%(tables)s::text[] IS NULL OR n.nspname || '.' || c.relname = ANY (%(tables)s))
"""


#: The published tables' columns, each with its type (``t``) and an array's element type
#: (``el``), for the column queries below.
_PUBLISHED_COLUMNS = """
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type el ON t.typcategory = 'A' AND el.oid = t.typelem
WHERE c.oid IN (SELECT relid FROM pg_get_publication_tables(%(publication)s))
  AND (%(tables)s::text[] IS NULL OR n.nspname || '.' || c.relname = ANY (%(tables)s))
  AND a.attnum > 0 AND NOT a.attisdropped
"""

_COLUMN_FACTS = (
    """
SELECT n.nspname, c.relname, a.attname, t.typtype, t.typname,
       coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                 FROM pg_enum e WHERE e.enumtypid = t.oid), ''),
       a.atttypmod, coalesce(el.typname, '')"""
    + _PUBLISHED_COLUMNS
    + """  AND (t.typtype = 'e' OR a.atttypid = 'money'::regtype
       OR (coalesce(el.oid, a.atttypid)
               IN ('timestamp'::regtype, 'timestamptz'::regtype, 'time'::regtype)
           AND a.atttypmod >= 0)
       OR (a.atttypid = 'numeric'::regtype AND a.atttypmod < 0)
       OR (t.typtype = 'b' AND t.typname = ANY (%(named)s))
       OR (t.typtype = 'b' AND el.typname = ANY (%(elements)s)))
"""
)

#: Types whose columns the change batch carries as text and Debezium names or shapes otherwise
#: (its PostgreSQL connector's types): ``bit`` and ``bit varying`` as a boolean (one bit) or
#: ``io.debezium.data.Bits``, ``hstore`` as JSON text, ``point`` as a ``Point`` struct, and
#: ``ltree``, ``xml`` and ``tsvector`` as strings of their own names. ``hstore`` and ``ltree``
#: are extension types, known by their names.
NAMED_TYPES = ("bit", "varbit", "hstore", "point", "ltree", "xml", "tsvector")
#: Element types of arrays whose elements Debezium names or reads: ``json[]`` and ``jsonb[]``
#: (elements ``io.debezium.data.Json``), ``text[]`` and ``varchar[]`` (the arrays whose unchanged
#: TOAST value Debezium writes as a list of its placeholder), and ``numeric[]`` without precision
#: (elements ``io.debezium.data.VariableScaleDecimal``). Arrays of extension types (``hstore[]``,
#: ``ltree[]``) reach the batch as their text, not as lists, so their elements are not named.
NAMED_ELEMENTS = ("json", "jsonb", "text", "varchar", "numeric")

#: The source type of each column the change batch carries as text although the type is not text
#: (``inet``, ranges, enums, ``money``, ``timetz``, ``numeric`` beyond 38 digits, ...; arrays of
#: them), as ``format_type`` names it, for a PostgreSQL target that creates the table
#: (``--create-tables``). No type modifier except a ``bit`` string's length (a plain ``bit`` is
#: ``bit(1)``): ``numeric(50,2)`` becomes ``numeric``, so that a later widening at the source
#: still fits. Types carried natively or as text of their own kind (``text``, ``varchar``,
#: ``char``, ``name``) are left out, and so are domains over them: the target gets the types the
#: Arrow types map to. A domain over another type is named by its own name.
_SOURCE_TYPES = (
    """
SELECT n.nspname, c.relname, a.attname,
       format_type(a.atttypid,
                   CASE WHEN coalesce(el.oid, t.oid) = 'bit'::regtype THEN a.atttypmod END)"""
    + _PUBLISHED_COLUMNS
    + """  AND coalesce(el.oid, nullif(t.typbasetype, 0), t.oid) NOT IN (
      'bool'::regtype, 'int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'oid'::regtype,
      'float4'::regtype, 'float8'::regtype, 'bytea'::regtype, 'date'::regtype,
      'timestamp'::regtype, 'timestamptz'::regtype, 'time'::regtype, 'interval'::regtype,
      'uuid'::regtype, 'json'::regtype, 'jsonb'::regtype, 'text'::regtype,
      'varchar'::regtype, 'bpchar'::regtype, 'name'::regtype, '"char"'::regtype)
  AND NOT (coalesce(el.oid, t.oid) = 'numeric'::regtype AND a.atttypmod >= 0
           AND ((a.atttypmod - 4) >> 16) & 65535 <= 38
           AND (a.atttypmod - 4) & 65535 <= ((a.atttypmod - 4) >> 16) & 65535)
"""
)

#: The value rows written before a column was added hold in it (``ADD COLUMN ... DEFAULT``):
#: PostgreSQL keeps it as the column's "missing value" rather than write it into every row, and
#: sends no change for those rows. As text, PostgreSQL's own output of the value.
_MISSING_VALUES = """
SELECT n.nspname, c.relname, a.attname, (a.attmissingval::text::text[])[1]
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid IN (SELECT relid FROM pg_get_publication_tables(%(publication)s))
  AND (%(tables)s::text[] IS NULL OR n.nspname || '.' || c.relname = ANY (%(tables)s))
  AND a.attnum > 0 AND NOT a.attisdropped AND a.atthasmissing
"""

#: Field metadata key of a column's source type where the Arrow type does not say it.
LOGICAL = "arrowtail.logical_type"
#: Field metadata key of the fraction digits a ``timestamp(n)``, ``timestamptz(n)`` or ``time(n)``
#: declares, which Debezium's adaptive time precision follows (``Timestamp`` and ``Time`` in
#: milliseconds up to 3, ``n`` digits of a ``ZonedTimestamp``).
PRECISION = "arrowtail.precision"
#: The types whose declared fraction digits are named (:data:`PRECISION`).
DECLARED_DIGITS = ("timestamp", "timestamptz", "time")
#: Field metadata key of the PostgreSQL type of a column carried as text (:data:`_SOURCE_TYPES`).
PG_TYPE = "arrowtail.pg_type"


@dataclass(frozen=True)
class TableFacts:
    primary_key: str
    not_null: str
    #: Field metadata per column name (money, unconstrained numeric, enums).
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The replica identity index's columns under REPLICA IDENTITY USING INDEX of an index that
    #: leaves out a primary key column: every change of the table is keyed by them then.
    identity_key: str = ""
    #: Columns with a default (or identity) but no missing value: added to a table with rows,
    #: such a column got its values there by a rewrite of the table, which no change carries.
    filled: tuple[str, ...] = ()


def change_key(primary: Sequence[str], identity: Sequence[str]) -> tuple[str, ...]:
    """The columns a table's changes are keyed by, from its primary key and the columns of its
    REPLICA IDENTITY USING INDEX index (empty under any other identity): the index's when it
    leaves out a primary key column (a delete carries nothing else), else the primary key."""
    if primary and identity and not set(primary) <= set(identity):
        return tuple(identity)
    return tuple(primary)


def column_facts(
    typtype: str, typname: str, labels: str, typmod: int = -1, element: str = ""
) -> dict[str, str]:
    """The field metadata of a column of type ``typname`` (``pg_type.typtype``), as the query
    above selects them: an enum, a ``timestamp``, ``timestamptz`` or ``time`` with its
    declared fraction digits (``typmod``), ``money``, an unconstrained ``numeric``, one of
    :data:`NAMED_TYPES` (a bit string with its declared length, ``typmod``, when it has one), or
    an array of ``element``, one of :data:`NAMED_ELEMENTS` (an array's logical type is its
    elements')."""
    if typtype == "e":
        return {LOGICAL: "enum", "arrowtail.allowed": labels}
    if typname in DECLARED_DIGITS or element in DECLARED_DIGITS:
        return {PRECISION: str(typmod)} if typmod >= 0 else {}
    if typname == "money":
        return {LOGICAL: "money", "arrowtail.scale": "2"}
    if typname == "numeric":
        return {LOGICAL: "numeric"}
    if typname in ("bit", "varbit"):
        facts = {LOGICAL: "bit"}
        if typmod > 0:
            facts["arrowtail.length"] = str(typmod)
        return facts
    if element in ("json", "jsonb"):
        return {LOGICAL: "json"}
    if element == "numeric":
        return {LOGICAL: "numeric"} if typmod < 0 else {}
    if element:
        return {LOGICAL: "text"}
    return {LOGICAL: typname}


class CatalogKeys:
    """Primary keys and NOT NULL columns of a publication's tables, cached per table version."""

    def __init__(self, dsn: str, publication: str) -> None:
        self._dsn = dsn
        self._publication = publication
        self._facts: dict[str, TableFacts] = {}
        self._database = ""
        #: Whether this role may read pg_attribute.attmissingval (None: not asked yet).
        self._missing_readable: bool | None = None
        #: (table, schema version) pairs already looked up.
        self._seen: set[tuple[str, int]] = set()
        #: Per table, the facts last applied, the schema they were applied to and the result:
        #: a stream hands on batches of the same schema poll after poll.
        self._applied: dict[str, tuple[TableFacts, pa.Schema, pa.Schema]] = {}
        #: Pairs of :attr:`_applied` not yet taken by :meth:`take_learnt`.
        self._learnt: dict[str, tuple[pa.Schema, pa.Schema]] = {}
        #: Per table, what a new version shows a rewrite wrote into the rows already there
        #: (see :meth:`take_rewritten`), and the layouts (names and types) met so far: a
        #: stream read again after a reconnect brings the same ones again.
        self._rewritten: dict[str, list[str]] = {}
        self._layouts = Layouts()
        #: Per table, columns added with a default after the run's start position (see
        #: :meth:`mark_added_since_start`).
        self._added_since: dict[str, set[str]] = {}

    def load(self, conn: psycopg.Connection | None = None, tables: list[str] | None = None) -> None:
        """Reads the facts of every published table, or of ``tables`` only (``schema.table``
        names; the others' stay as they were), on ``conn`` or a connection of its own."""
        if conn is None:
            with pg_admin.connect(self._dsn) as own:
                self.load(own, tables)
            return
        params = {"publication": self._publication, "tables": tables}
        columns: dict[str, dict[str, dict[str, str]]] = {}
        named = {**params, "named": list(NAMED_TYPES), "elements": list(NAMED_ELEMENTS)}
        for schema, table, name, typtype, typname, labels, typmod, element in conn.execute(
            _COLUMN_FACTS, named
        ).fetchall():
            columns.setdefault(f"{schema}.{table}", {})[name] = column_facts(
                typtype, typname, labels, typmod, element
            )
        for schema, table, name, type_name in conn.execute(_SOURCE_TYPES, params).fetchall():
            facts_of = columns.setdefault(f"{schema}.{table}", {})
            facts_of[name] = {**facts_of.get(name, {}), PG_TYPE: type_name}
        if self._missing_readable is None:
            # pg_attribute.attmissingval may be kept from some roles: then nothing is added.
            (readable,) = conn.execute(
                "SELECT has_column_privilege('pg_catalog.pg_attribute', 'attmissingval', 'SELECT')"
            ).fetchone() or (False,)
            self._missing_readable = bool(readable)
        if self._missing_readable:
            for schema, table, name, value in conn.execute(_MISSING_VALUES, params).fetchall():
                if value is not None:
                    qualified = f"{schema}.{table}"
                    facts_of = columns.setdefault(qualified, {})
                    facts_of[name] = {**facts_of.get(name, {}), MISSING_VALUE: value}
                    if name in self._added_since.get(qualified, ()):
                        facts_of[name][ADDED_SINCE_START] = "1"
        facts = {} if tables is None else dict(self._facts)
        for schema, table, pk, index, not_null, database, filled in conn.execute(
            _FACTS, params
        ).fetchall():
            qualified = f"{schema}.{table}"
            primary = pk.split(",") if pk else []
            keys = change_key(primary, index.split(",") if index else [])
            by_index = ",".join(keys) if keys != tuple(primary) else ""
            facts[qualified] = TableFacts(
                pk,
                not_null,
                columns=columns.get(qualified, {}),
                identity_key=by_index,
                filled=tuple(filled),
            )
            self._database = database
        self._facts = facts

    def mark_added_since_start(self, table: str, columns: list[str]) -> None:
        """Notes that ``columns`` of ``table`` were added with a default after the position the
        run started from (its stored position): every row a target holds predates them, and
        their missing values say so (``ADDED_SINCE_START``), for the run."""
        self._added_since.setdefault(table, set()).update(columns)
        facts = self._facts.get(table)
        if facts is None:
            return
        for name in columns:
            meta = facts.columns.get(name)
            if meta is not None and MISSING_VALUE in meta:
                meta[ADDED_SINCE_START] = "1"

    def annotate(
        self, batches: list[TableBatch], *, lookup: bool = True, settled: bool = False
    ) -> list[TableBatch]:
        """``batches`` with the catalog facts in their schema metadata; with ``lookup`` false,
        only the facts already known are applied (no catalog read, so nothing can fail). With
        ``settled``, the facts already read stand for the tables they cover (the initial
        snapshot's batches: the facts were read as it began), and only others are looked up."""
        if not batches:
            return batches
        fresh = [(t, v) for t, v, _ in batches if (t, v) not in self._seen] if lookup else []
        if lookup:
            # A new primary key (ALTER TABLE ... ADD PRIMARY KEY) keeps the layout, and so the
            # version, but the Relation message flags other key columns: read the facts again.
            fresh += [(t, v) for t, v, b in batches if (t, v) in self._seen and self._rekeyed(t, b)]
        check = [(t, v) for t, v in fresh if t not in self._facts] if settled else fresh
        if any(t not in self._facts for t, _ in check) or (check and self._seen):
            # A new table, or a new version of one (its key may have changed): read its facts
            # again (those alone: a stream of many tables brings new ones poll after poll).
            self.load(tables=sorted({t for t, _ in check}))
        self._seen.update(fresh)
        return [(t, v, self._annotated(t, b)) for t, v, b in batches]

    def _rekeyed(self, table: str, batch: pa.RecordBatch) -> bool:
        """Whether the decoder flags other key columns in ``batch`` than in the batch the
        table's facts were last applied to."""
        applied = self._applied.get(table)
        if applied is None:
            return False
        _, before, after = applied
        if batch.schema.equals(after, check_metadata=True):
            return False
        key = b"arrowtail.primary_key"
        return (batch.schema.metadata or {}).get(key) != (before.metadata or {}).get(key)

    def _annotated(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        facts = self._facts.get(table)
        if facts is None:
            return batch
        last = self._layouts.changed(table, batch.schema)
        if last is not None:
            self._note_rewritten(table, facts, last, batch.schema)
        applied = self._applied.get(table)
        if applied is not None:
            old_facts, before, after = applied
            if batch.schema.equals(after, check_metadata=True):
                if old_facts is facts:
                    return batch  # annotated already
                # Annotated with the facts known before (by a decoder given the pair, see
                # take_learnt): the facts now apply to the decoder's own schema.
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=before)
            elif old_facts is facts and batch.schema.equals(before, check_metadata=True):
                return pa.RecordBatch.from_arrays(batch.columns, schema=after)
        out = self._annotate_once(facts, batch)
        self._applied[table] = (facts, batch.schema, out.schema)
        self._learnt[table] = (batch.schema, out.schema)
        return out

    def _note_rewritten(
        self, table: str, facts: TableFacts, before: pa.Schema, now: pa.Schema
    ) -> None:
        """Notes what a rewrite of the table, which no change carries, may have written into
        the rows already there, from the layout ``before`` to ``now``: columns added with a
        default or identity but no missing value (a volatile default such as ``now()``, a
        serial or identity column, a default added by an ``ALTER`` that rewrote the table
        anyway), and columns whose type changed other than by widening (``ALTER COLUMN ...
        TYPE``: a smaller scale rounds, ``timestamp`` to ``timestamptz`` reads each value in
        the session's time zone, ``USING`` computes anew)."""
        added = [c for c in now.names if c not in before.names and c in facts.filled]
        numeric = {c for c, meta in facts.columns.items() if meta.get(LOGICAL) == "numeric"}
        changed = retyped(before, now, frozenset(numeric))
        found = []
        if added:
            found.append(f"{', '.join(added)} added with a default or identity")
        if changed:
            found.append(f"{', '.join(changed)} of another type")
        if found:
            self._rewritten.setdefault(table, []).extend(found)

    def take_rewritten(self) -> list[tuple[str, list[str]]]:
        """``(table, findings)`` noted since the last call by :meth:`_note_rewritten`."""
        rewritten, self._rewritten = self._rewritten, {}
        return list(rewritten.items())

    def take_learnt(self) -> list[tuple[str, pa.Schema, pa.Schema]]:
        """``(table, before, after)`` for each table whose annotation was worked out since the
        last call: a batch of schema ``before`` is annotated as ``after``. A decoder given the
        pair (``PgOutputDecoder.use_schema``) hands such batches on annotated, and
        :meth:`annotate` takes them as they are while the facts hold."""
        learnt, self._learnt = self._learnt, {}
        return [(table, before, after) for table, (before, after) in learnt.items()]

    def _annotate_once(self, facts: TableFacts, batch: pa.RecordBatch) -> pa.RecordBatch:
        meta = dict(batch.schema.metadata or {})
        identity = set(meta.get(b"arrowtail.primary_key", b"").decode().split(",")) - {""}
        if facts.identity_key:
            # The snapshot's rows and the stream's are keyed alike, by the only columns a
            # delete carries; the batches say so as the stream's relation would.
            meta[b"arrowtail.primary_key"] = facts.identity_key.encode()
            meta[b"arrowtail.replica_identity"] = b"i"
        elif facts.primary_key and (not identity or set(facts.primary_key.split(",")) <= identity):
            # Only a key every old image carries: under USING INDEX of an index without the
            # primary key, deletes send the index columns alone, so they stay the key.
            meta[b"arrowtail.primary_key"] = facts.primary_key.encode()
        elif identity and not facts.primary_key:
            meta[b"arrowtail.primary_key_from"] = b"replica_identity"
        meta[b"arrowtail.not_null"] = facts.not_null.encode()
        if self._database:
            meta[b"arrowtail.database"] = self._database.encode()
        return _with_field_facts(batch, facts.columns).replace_schema_metadata(meta)


def _with_field_facts(batch: pa.RecordBatch, columns: dict[str, dict[str, str]]) -> pa.RecordBatch:
    """``batch`` with the columns' facts added to their field metadata."""
    if not any(name in columns for name in batch.schema.names):
        return batch
    fields = [
        f.with_metadata({**(f.metadata or {}), **columns[f.name]}) if f.name in columns else f
        for f in batch.schema
    ]
    return pa.RecordBatch.from_arrays(
        batch.columns, schema=pa.schema(fields, metadata=batch.schema.metadata)
    )
