"""Table filters and column masking, configured per table and applied in Rust over whole batches.

Column rules name columns as ``schema.table.column``; the table part may use shell wildcards
(``public.*.email``, ``*.*.ssn``). Hashing is HMAC-SHA256 with a key from the environment (never
from a file in the repository or a command-line flag), written as 64 hex characters, so equal
values still join after masking.

``include_columns`` and ``drop_columns`` are Debezium's ``column.include.list`` and
``column.exclude.list``: a table named by an include rule keeps only its listed columns. Key
columns are never removed: the key of every change needs them, so naming one to be dropped (or
leaving it out of an include list) is refused. ``key_columns`` is Debezium's
``message.key.columns``: ``table:column,column`` entries (the table part may use wildcards; on the
command line, entries are separated by ``;``) replace a table's key, for tables without a primary
key or to key by other columns.

Example::

    [transform]
    include_tables = ["public.*"]
    exclude_tables = ["public.audit_log"]
    drop_columns = ["public.users.password_hash"]
    include_columns = ["public.orders.id", "public.orders.status"]   # only these of the table
    key_columns = ["public.events:device_id,seq"]   # the key of a table without a primary key
    redact_columns = ["*.*.ssn"]
    hash_columns = ["public.users.email"]
    hash_key_env = "ARROWTAIL_MASK_KEY"
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import pyarrow as pa

from arrowtail import _core
from arrowtail.exceptions import ConfigError
from arrowtail.redact import register_secret


@dataclass
class TransformConfig:
    include_tables: list[str] = field(default_factory=list)
    exclude_tables: list[str] = field(default_factory=list)
    drop_columns: list[str] = field(default_factory=list)
    include_columns: list[str] = field(default_factory=list)
    key_columns: list[str] = field(default_factory=list)
    redact_columns: list[str] = field(default_factory=list)
    hash_columns: list[str] = field(default_factory=list)
    hash_key_env: str | None = None


def _split(spec: str, key: str) -> tuple[str, str]:
    table, dot, column = spec.rpartition(".")
    if not dot or not table or not column:
        raise ConfigError(f"transform.{key}: {spec!r} must look like schema.table.column")
    return table, column


def _columns_for(table: str, specs: Iterable[tuple[str, str]]) -> list[str]:
    return [col for pattern, col in specs if fnmatchcase(table, pattern)]


class TableTransform:
    """A callable ``(table, batch) -> batch | None`` for the pipeline: ``None`` drops the batch."""

    def __init__(self, config: TransformConfig, environ: dict[str, str] | None = None) -> None:
        self.config = config
        self._drop = [_split(s, "drop_columns") for s in config.drop_columns]
        self._include = [_split(s, "include_columns") for s in config.include_columns]
        self._keys = [split_key_spec(s) for s in config.key_columns]
        self._redact = [_split(s, "redact_columns") for s in config.redact_columns]
        self._hash = [_split(s, "hash_columns") for s in config.hash_columns]
        self._key = b""
        if self._hash:
            env = os.environ if environ is None else environ
            if not config.hash_key_env:
                raise ConfigError(
                    "transform.hash_columns is set but transform.hash_key_env is not: name the "
                    "environment variable that holds the masking key"
                )
            key = env.get(config.hash_key_env)
            if not key:
                raise ConfigError(
                    f"transform.hash_key_env names {config.hash_key_env}, which is not set or empty"
                )
            register_secret(key)
            self._key = key.encode()
        self._rules: dict[
            tuple[str, tuple[str, ...]], tuple[list[str], list[str], list[str], str | None]
        ] = {}

    @property
    def changes_nothing(self) -> bool:
        """True without any table filter or column rule: every batch passes as it is."""
        c = self.config
        return not (
            c.include_tables
            or c.exclude_tables
            or self._drop
            or self._include
            or self._keys
            or self._redact
            or self._hash
        )

    def wants(self, table: str) -> bool:
        """Whether changes of ``table`` pass the include/exclude filters."""
        c = self.config
        if c.include_tables and not any(fnmatchcase(table, p) for p in c.include_tables):
            return False
        return not any(fnmatchcase(table, p) for p in c.exclude_tables)

    def __call__(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        if not self.wants(table):
            return None
        layout = tuple(batch.schema.names)
        rules = self._rules.get((table, layout))
        if rules is None:
            rules = self._rules_for(table, batch.schema)
            self._rules[(table, layout)] = rules
        drop, redact, hashed, key = rules
        if key is not None:
            meta = dict(batch.schema.metadata or {})
            meta[b"arrowtail.primary_key"] = key.encode()
            meta.pop(b"arrowtail.primary_key_from", None)
            meta[b"arrowtail.key_from"] = b"key_columns"
            batch = batch.replace_schema_metadata(meta)
        if not (drop or redact or hashed):
            return batch
        return _core.mask_batch(batch, drop=drop, redact=redact, hash=hashed, key=self._key)

    def _rules_for(
        self, table: str, schema: pa.Schema
    ) -> tuple[list[str], list[str], list[str], str | None]:
        user = [n for n in schema.names if not n.startswith("_")]
        drop = _columns_for(table, self._drop)
        included = _columns_for(table, self._include)
        if included:
            unknown = sorted(set(included) - set(user))
            if unknown:
                raise ConfigError(
                    f"transform.include_columns names {', '.join(unknown)}, which {table} does "
                    f"not have (its columns: {', '.join(user)})"
                )
            drop = drop + [c for c in user if c not in included]
        key = None
        columns = key_columns_for(self._keys, table)
        if columns is not None:
            missing = [c for c in columns if c not in user]
            if missing:
                raise ConfigError(
                    f"transform.key_columns names {', '.join(missing)} as key of {table}, "
                    f"which has no such column (its columns: {', '.join(user)})"
                )
            key = ",".join(columns)
        meta = schema.metadata or {}
        keys = (key or meta.get(b"arrowtail.primary_key", b"").decode()).split(",")
        dropped_keys = sorted(set(drop) & (set(keys) - {""}))
        if dropped_keys:
            raise ConfigError(
                f"transform: {', '.join(dropped_keys)} of {table} is a key column, which every "
                "change's key needs; keep it (drop_columns / include_columns), or key the table "
                "by other columns (key_columns)"
            )
        return (
            sorted(set(drop)),
            _columns_for(table, self._redact),
            _columns_for(table, self._hash),
            key,
        )


def key_columns_for(keys: list[tuple[str, list[str]]], table: str) -> list[str] | None:
    """The key columns the first of ``keys`` (:func:`split_key_spec` entries) whose table
    pattern matches ``table`` names; ``None`` if none matches."""
    return next((columns for pattern, columns in keys if fnmatchcase(table, pattern)), None)


def split_key_spec(spec: str) -> tuple[str, list[str]]:
    """One ``schema.table:col,col`` entry of ``key_columns`` (the table part may be a pattern)."""
    table, colon, columns = spec.partition(":")
    names = [c.strip() for c in columns.split(",") if c.strip()]
    if not colon or not table.strip() or not names:
        raise ConfigError(
            f"transform.key_columns: {spec!r} must look like schema.table:column[,column...]"
        )
    return table.strip(), names
