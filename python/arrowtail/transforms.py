"""Table filters and column masking, configured per table and applied in Rust over whole batches.

Column rules name columns as ``schema.table.column``; the table part may use shell wildcards
(``public.*.email``, ``*.*.ssn``). Hashing is HMAC-SHA256 with a key from the environment (never
from a file in the repository or a command-line flag), written as 64 hex characters, so equal
values still join after masking.

Example::

    [transform]
    include_tables = ["public.*"]
    exclude_tables = ["public.audit_log"]
    drop_columns = ["public.users.password_hash"]
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
        self._rules: dict[str, tuple[list[str], list[str], list[str]]] = {}

    def wants(self, table: str) -> bool:
        """Whether changes of ``table`` pass the include/exclude filters."""
        c = self.config
        if c.include_tables and not any(fnmatchcase(table, p) for p in c.include_tables):
            return False
        return not any(fnmatchcase(table, p) for p in c.exclude_tables)

    def __call__(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        if not self.wants(table):
            return None
        rules = self._rules.get(table)
        if rules is None:
            rules = (
                _columns_for(table, self._drop),
                _columns_for(table, self._redact),
                _columns_for(table, self._hash),
            )
            self._rules[table] = rules
        drop, redact, hashed = rules
        if not (drop or redact or hashed):
            return batch
        return _core.mask_batch(batch, drop=drop, redact=redact, hash=hashed, key=self._key)
