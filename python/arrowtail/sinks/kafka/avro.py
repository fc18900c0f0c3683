"""The Kafka sink's Avro format: Debezium events as Avro in the Confluent wire format, their
schemas registered in a schema registry.

For each batch the core gives the Avro schemas of its table
(:class:`arrowtail._core.AvroSerializer`, made once per format, which keeps the schemas of the last
batch's layout: the key record ``<prefix>.<schema>.<table>.Key`` and the envelope ``...Envelope``,
whose ``before`` and ``after`` are the record ``...Value``). They are registered under their
subjects (``subject_strategy``: ``topic`` gives ``<topic>-key`` and ``<topic>-value``, ``record``
the record names, ``topic_record`` ``<topic>-<record name>``) the first time they are seen, so on
first use and after every schema change (a new relation version, a MySQL DDL); the ids are
cached. Then the core writes every message of the batch (as Arrow arrays, or as Python lists for a
small batch): magic byte 0, the 4-byte big-endian id, the Avro datum.

When the registry refuses a schema as incompatible with the subject's compatibility level,
nothing of the batch is written and :class:`SchemaRefused` says which table, which columns
changed and what the registry answered; the sink stops the run there
(``on_incompatible=stop``) or sends the batch to the dead-letter topic as Debezium JSON
(``on_incompatible=dead_letter``, :meth:`AvroFormat.dead_letters`, through a
:class:`~arrowtail._core.DebeziumSerializer` made once per format).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import pyarrow as pa

from arrowtail import _core
from arrowtail.exceptions import ConfigError, SinkError
from arrowtail.sinks.kafka.registry import (
    SUBJECT_STRATEGIES,
    RegistryRefused,
    SchemaRegistry,
    subject_name,
)

#: What to do with a batch whose schema the registry refuses.
ON_INCOMPATIBLE = ("stop", "dead_letter")


class SchemaRefused(SinkError):
    """The registry refused a batch's schema; the message names the table, the changed columns,
    the registry's reason and the remedies."""

    def __init__(self, message: str, *, table: str, subject: str, reason: str) -> None:
        super().__init__(message)
        self.table = table
        self.subject = subject
        self.reason = reason


class Encoded(NamedTuple):
    """A batch's Avro messages, as :meth:`arrowtail._core.AvroSerializer.serialize` returns
    them."""

    keys: pa.Array
    values: pa.Array
    rows: pa.Array
    partitions: pa.Array


class AvroFormat:
    """Schemas, registration and serialization of the Avro format (module documentation)."""

    def __init__(
        self,
        registry: str | SchemaRegistry,
        *,
        subject_strategy: str = "topic",
        on_incompatible: str = "stop",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """``options``: the serializer's (those of :class:`arrowtail._core.AvroSerializer`)."""
        if subject_strategy not in SUBJECT_STRATEGIES:
            raise ConfigError(
                f"subject_strategy must be one of {', '.join(SUBJECT_STRATEGIES)}, "
                f"not {subject_strategy!r}"
            )
        if on_incompatible not in ON_INCOMPATIBLE:
            raise ConfigError(
                f"on_incompatible must be one of {', '.join(ON_INCOMPATIBLE)}, "
                f"not {on_incompatible!r}"
            )
        self.registry = (
            registry if isinstance(registry, SchemaRegistry) else SchemaRegistry(registry)
        )
        self.subject_strategy = subject_strategy
        self.on_incompatible = on_incompatible
        # Refusals already met, so a refused shape is not offered again for every batch.
        self._refused: dict[tuple[str, str], SchemaRefused] = {}
        self._serializer = _core.AvroSerializer(**(options or {}))
        #: The dead letters' Debezium JSON, with its schema (``on_incompatible=dead_letter``).
        self._letters: _core.DebeziumSerializer | None = None
        if on_incompatible == "dead_letter":
            json_options = {k: v for k, v in (options or {}).items() if k != "schemas"}
            self._letters = _core.DebeziumSerializer(schemas=True, **json_options)

    def encode(
        self,
        table: str,
        topic: str,
        batch: pa.RecordBatch,
        partitions: int,
        transactions: tuple[int, int] | None = None,
    ) -> Encoded:
        """The batch's messages; raises :class:`SchemaRefused` before writing any of them when
        the registry refuses the key or value schema. ``transactions``: the table's carry, as
        :meth:`arrowtail._core.AvroSerializer.serialize` takes it."""
        key_id, value_id = self._schema_ids(table, topic, batch)
        keys, values, rows, parts = self._serializer.serialize(
            batch,
            key_schema_id=key_id,
            value_schema_id=value_id,
            partitions=partitions,
            transactions=transactions,
        )
        if parts is None:  # cannot happen: partitions was given
            raise SinkError("serializer returned no partitions")
        return Encoded(keys, values, rows, parts)

    def messages(
        self,
        table: str,
        topic: str,
        batch: pa.RecordBatch,
        partitions: int,
        transactions: tuple[int, int] | None = None,
    ) -> tuple[list[bytes | None], list[bytes | None], list[int], int]:
        """The batch's messages as lists, with the largest one's size
        (:meth:`arrowtail._core.AvroSerializer.messages`); refusals as :meth:`encode`."""
        key_id, value_id = self._schema_ids(table, topic, batch)
        return self._serializer.messages(
            batch,
            key_schema_id=key_id,
            value_schema_id=value_id,
            partitions=partitions,
            transactions=transactions,
        )

    def take_transactions(self) -> list[tuple[int, int, int, int, int, int, str | None]]:
        """The transactions of the last batch serialized with ``transactions``
        (:meth:`arrowtail._core.AvroSerializer.take_transactions`)."""
        return self._serializer.take_transactions()

    def register_schema(self, topic: str, schema: dict[str, Any], *, key: bool) -> int:
        """Registers a schema of a topic of no table (the transaction topic) under its subject
        (once: the registry client keeps the ids); its registry id."""
        text = json.dumps(schema, separators=(",", ":"))
        record = f"{schema['namespace']}.{schema['name']}"
        subject = subject_name(self.subject_strategy, topic, record, key=key)
        return self.registry.register(subject, text)

    def _schema_ids(self, table: str, topic: str, batch: pa.RecordBatch) -> tuple[int | None, int]:
        """The registry ids of the batch's key (None without a key) and value schemas."""
        key_schema, value_schema, key_name, value_name = self._serializer.schemas(batch)
        key_id = None
        if key_schema is not None:
            key_id = self._register(table, topic, key_schema, key_name, key=True)
        return key_id, self._register(table, topic, value_schema, value_name, key=False)

    def _register(self, table: str, topic: str, schema: str, record: str, *, key: bool) -> int:
        subject = subject_name(self.subject_strategy, topic, record, key=key)
        refused = self._refused.get((subject, schema))
        if refused is not None:
            raise refused
        try:
            return self.registry.register(subject, schema)
        except RegistryRefused as exc:
            refused = self._explain(table, subject, schema, exc.refusal.reason, key=key)
            self._refused[(subject, schema)] = refused
            raise refused from None

    def _explain(
        self, table: str, subject: str, schema: str, reason: str, *, key: bool
    ) -> SchemaRefused:
        """The refusal in words: the table, the columns that differ from the subject's latest
        schema, the compatibility level, the registry's reason and what to do."""
        latest = self.registry.latest(subject)
        level = self.registry.compatibility(subject)
        changes = column_changes(latest, schema) if latest is not None else []
        what = "key" if key else "value"
        columns = "; ".join(changes) if changes else "no column-level difference found"
        message = (
            f"the schema registry refused the new {what} schema of table {table} "
            f"(subject {subject}"
            + (f", compatibility {level}" if level else "")
            + f"): {columns}; registry: {reason}. Nothing of this shape was written and no "
            "position past it is acknowledged. To go on: let the subject accept it (e.g. set "
            "its compatibility to NONE; it may be set back once a run has registered the "
            "schema) and run again, or run with on_incompatible=dead_letter to send such "
            "batches to the dead-letter topic"
        )
        return SchemaRefused(message, table=table, subject=subject, reason=reason)

    def dead_letters(
        self, batch: pa.RecordBatch, topic: str, table: str, refused: SchemaRefused
    ) -> list[tuple[bytes | None, bytes | None, list[tuple[str, str | bytes | None]]]]:
        """The batch as dead letters: each message as Debezium JSON with its schema (Kafka
        Connect JSON converter form, readable without the registry), headers
        ``arrowtail.reason`` (the refusal), ``arrowtail.topic``, ``arrowtail.table``,
        ``arrowtail.subject``, ``arrowtail.pos``, ``arrowtail.seq`` and ``arrowtail.format``
        (``debezium-json``)."""
        if self._letters is None:
            raise SinkError("dead letters are written with on_incompatible=dead_letter only")
        keys, values, rows, _ = self._letters.serialize(batch)
        pos = batch.column("_pos").take(rows).to_pylist()
        seq = batch.column("_seq").take(rows).to_pylist()
        reason = f"schema refused by the registry: {refused.reason}".encode()
        out: list[tuple[bytes | None, bytes | None, list[tuple[str, str | bytes | None]]]] = []
        for key, value, p, s in zip(keys.to_pylist(), values.to_pylist(), pos, seq, strict=True):
            headers: list[tuple[str, str | bytes | None]] = [
                ("arrowtail.reason", reason),
                ("arrowtail.topic", topic.encode()),
                ("arrowtail.table", table.encode()),
                ("arrowtail.subject", refused.subject.encode()),
                ("arrowtail.pos", str(p).encode()),
                ("arrowtail.seq", str(s).encode()),
                ("arrowtail.format", b"debezium-json"),
            ]
            out.append((key, value, headers))
        return out


def column_changes(old: str, new: str) -> list[str]:
    """The columns whose Avro types differ between two key or envelope schemas, in words
    (``column n: int -> string``, ``column x added``, ``column y removed``)."""
    try:
        before, after = _columns(json.loads(old)), _columns(json.loads(new))
    except (ValueError, TypeError, KeyError, IndexError):
        return []
    changes = []
    for name, t in after.items():
        if name not in before:
            changes.append(f"column {name} added ({_type_text(t)})")
        elif before[name] != t:
            changes.append(f"column {name}: {_type_text(before[name])} -> {_type_text(t)}")
    changes += [f"column {name} removed" for name in before if name not in after]
    return changes


def _columns(schema: dict[str, Any]) -> dict[str, Any]:
    """The row columns of a key record or of an envelope's ``Value`` record, by name."""
    fields = schema["fields"]
    if schema.get("name") == "Envelope":
        before = next(f for f in fields if f["name"] == "before")["type"]
        record = next(t for t in before if isinstance(t, dict))
        fields = record["fields"]
    return {f["name"]: _strip_null(f["type"]) for f in fields}


def _strip_null(t: Any) -> Any:
    """A field's type without its null branch and its default (``connect.default``, which a
    column's missing value sets), so only a change of type counts."""
    if isinstance(t, list):
        rest = [b for b in t if b != "null"]
        t = rest[0] if len(rest) == 1 else rest
    if isinstance(t, dict) and "connect.default" in t:
        t = {k: v for k, v in t.items() if k != "connect.default"}
        if list(t) == ["type"]:
            t = t["type"]
    return t


def _type_text(t: Any) -> str:
    if isinstance(t, dict):
        name = t.get("connect.name")
        base = t.get("type")
        if t.get("logicalType") == "decimal":
            return f"decimal({t.get('precision')},{t.get('scale')})"
        if base == "array":
            return f"array<{_type_text(_strip_null(t.get('items')))}>"
        return f"{base} ({name})" if name else str(base)
    return str(t)
