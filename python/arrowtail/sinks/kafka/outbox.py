"""Outbox routing for the Kafka sink (the transactional outbox pattern).

An application writes its business rows and, in the same transaction, an event row into an outbox
table; usually it deletes that row right away. The Kafka sink turns each *insert* into that table
into one Kafka message:

- topic: the ``topic`` template with ``{prefix}`` (the sink's topic prefix) and
  ``{aggregatetype}`` (the row's ``aggregatetype`` column) filled in, by default
  ``{prefix}.{aggregatetype}``;
- key: the ``aggregateid`` column as text, partitioned by Kafka's Java rule over those bytes, so
  every event of one aggregate stays in order on one partition;
- value: the ``payload`` column passed through as is (json/jsonb/text as their UTF-8 text,
  bytea as its bytes; a null payload is a null value);
- headers: ``id`` and ``type`` from those columns when the table has them (names configurable,
  empty to leave one out), plus ``arrowtail.pos`` and ``arrowtail.seq`` so consumers can drop
  duplicates after a restart.

Updates, deletes (the app's clean-up right after the insert), truncates and snapshot reads of the
outbox table are not events and produce nothing; the outbox table gets no table topic of its own.
An insert whose ``aggregatetype`` is null has no topic and goes to the dead-letter topic, as does
one whose topic Kafka cannot name (the sink decides that, with the payload kept).

Everything up to the produce call is computed on the whole batch with Arrow kernels.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.exceptions import ConfigError

_PLACEHOLDER = "{aggregatetype}"


@dataclass(frozen=True)
class OutboxRoute:
    """How rows of one outbox table become messages (column names of that table)."""

    table: str
    topic: str = "{prefix}." + _PLACEHOLDER
    aggregatetype: str = "aggregatetype"
    aggregateid: str = "aggregateid"
    payload: str = "payload"
    type: str = "type"
    id: str = "id"

    def __post_init__(self) -> None:
        if "." not in self.table:
            raise ConfigError(f"outbox table must be schema.table, not {self.table!r}")
        if self.topic.count(_PLACEHOLDER) != 1:
            raise ConfigError(
                f"outbox topic template {self.topic!r} must contain {_PLACEHOLDER} once"
            )
        for name in ("aggregatetype", "aggregateid", "payload"):
            if not getattr(self, name):
                raise ConfigError(f"outbox column {name} cannot be empty")


def outbox_routes(spec: Mapping[str, Any] | None) -> dict[str, OutboxRoute]:
    """Routes from the ``[sink.outbox]`` settings (or the ``outbox.*`` URL options):
    ``table`` (one ``schema.table`` or a comma-separated list or TOML list) and optional
    ``topic``, ``aggregatetype``, ``aggregateid``, ``payload``, ``type``, ``id``."""
    if not spec:
        return {}
    options = dict(spec)
    tables = options.pop("table", None)
    if isinstance(tables, str):
        tables = [t.strip() for t in tables.split(",") if t.strip()]
    if not tables:
        raise ConfigError("sink outbox settings need table = 'schema.table'")
    known = {"topic", "aggregatetype", "aggregateid", "payload", "type", "id"}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(
            f"unknown outbox setting {sorted(unknown)[0]!r} "
            f"(known: table, {', '.join(sorted(known))})"
        )
    return {t: OutboxRoute(t, **{k: str(v) for k, v in options.items()}) for t in tables}


@dataclass
class OutboxMessages:
    """The messages of one batch of outbox rows, in row order (Arrow arrays of equal length)."""

    topics: pa.Array  # string; null: no aggregatetype (dead letter)
    keys: pa.Array  # binary; null: no aggregateid
    values: pa.Array  # binary; null payload
    pos: pa.Array
    seq: pa.Array
    headers: list[tuple[str, pa.Array]]  # (header name, binary array)

    def __len__(self) -> int:
        return len(self.topics)

    def rows(self) -> Iterator[tuple[str | None, bytes | None, bytes | None, list[Any]]]:
        """``(topic, key, value, headers)`` per message, for the produce loop."""
        names = [name for name, _ in self.headers]
        columns = [a.to_pylist() for _, a in self.headers]
        pos, seq = self.pos.to_pylist(), self.seq.to_pylist()
        for i, (topic, key, value) in enumerate(
            zip(
                self.topics.to_pylist(), self.keys.to_pylist(), self.values.to_pylist(), strict=True
            )
        ):
            headers: list[Any] = [
                (n, c[i]) for n, c in zip(names, columns, strict=True) if c[i] is not None
            ]
            headers.append(("arrowtail.pos", str(pos[i]).encode()))
            headers.append(("arrowtail.seq", str(seq[i]).encode()))
            yield topic, key, value, headers


def _storage(array: pa.Array) -> pa.Array:
    return array.storage if isinstance(array, pa.ExtensionArray) else array


def _op_column(batch: pa.RecordBatch) -> pa.Array:
    op = batch.column("_op")
    if pa.types.is_dictionary(op.type):
        op = op.cast(pa.string())
    return op


def as_bytes(array: pa.Array) -> pa.Array:
    """A column as the bytes of its text (strings, numbers), its own bytes (binary) or the
    canonical text of a uuid (16-byte fixed-size binary)."""
    array = _storage(array)
    t = array.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return array.cast(pa.binary())
    if pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
        return _uuid_text(array)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        array = array.cast(pa.string())
    return array.cast(pa.binary())


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Where the 32 hex digits of a uuid go in its 36-character 8-4-4-4-12 text.
_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def _uuid_text(array: pa.Array) -> pa.Array:
    """16-byte uuids as their canonical text (as PostgreSQL prints them), on the whole array."""
    n = len(array)
    if array.offset:
        array = array.take(pa.array(np.arange(n)))  # a copy that starts at offset 0
    validity, data = array.buffers()[0], array.buffers()[1]
    raw = np.frombuffer(data, dtype=np.uint8, count=16 * n).reshape(n, 16)
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 15]
    text[:, _DIGITS] = digits
    out = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(36), n, [validity, pa.py_buffer(text.tobytes())]
    )
    return out.cast(pa.binary())


def route_batch(batch: pa.RecordBatch, route: OutboxRoute, prefix: str) -> OutboxMessages:
    """The messages of the inserts of a batch of the outbox table."""
    inserts = batch.filter(pc.equal(_op_column(batch), "c"))
    names = inserts.schema.names
    for name in (route.aggregatetype, route.aggregateid, route.payload):
        if name not in names:
            raise ConfigError(
                f"outbox table {route.table} has no column {name!r} (columns: {', '.join(names)})"
            )
    head, tail = route.topic.replace("{prefix}", prefix).split(_PLACEHOLDER)
    kind = as_bytes(inserts.column(route.aggregatetype)).cast(pa.string())
    topics = pc.binary_join_element_wise(head, kind, tail, "")
    headers = [
        (header, as_bytes(inserts.column(header)))
        for header in (route.id, route.type)
        if header and header in names
    ]
    return OutboxMessages(
        topics=topics,
        keys=as_bytes(inserts.column(route.aggregateid)),
        values=as_bytes(inserts.column(route.payload)),
        pos=inserts.column("_pos"),
        seq=inserts.column("_seq"),
        headers=headers,
    )


def topic_groups(topics: pa.Array) -> Iterator[tuple[str, np.ndarray]]:
    """Each distinct non-null topic with the indices of its messages (few topics per batch)."""
    encoded = topics.dictionary_encode()
    indices = pc.fill_null(encoded.indices, -1).to_numpy()
    for code, topic in enumerate(encoded.dictionary.to_pylist()):
        yield topic, np.flatnonzero(indices == code)
