"""Debezium's transaction metadata (``transaction_metadata=true``, Debezium's
``provide.transaction.metadata``) for the Kafka sink's JSON and Avro formats.

Each streamed event carries a ``transaction`` block (written by the core's serializer, which this
module hands the table's carry and whose per-transaction counts it keeps), and the transaction
topic (``<topic_prefix>.transaction`` unless ``transaction_topic`` names another) gets a ``BEGIN``
and an ``END`` event per transaction, both produced when the pipeline commits past it, in commit
order. Their forms are Debezium 3.5's PostgreSQL, MySQL and MariaDB connectors':

- key ``{"id": ...}``;
- ``BEGIN``: ``{"status":"BEGIN","id":..,"event_count":null,"data_collections":null,"ts_ms":..}``;
- ``END``: ``{"status":"END","id":..,"event_count":N,"data_collections":[{"data_collection":
  "schema.table","event_count":n},..],"ts_ms":..}``;
- ``ts_ms`` the commit time;
- PostgreSQL ids are ``<xid>:<lsn>``: the ``BEGIN``'s LSN is the WAL position of the
  transaction's first event, the ``END``'s the end of its commit record, and each event's its
  own. The end is the next transaction's ``_last_commit_lsn``, or for the last transaction of a
  commit the position's ``end_lsn`` (the commit's own LSN, ``_pos``, when neither is known);
- MySQL/MariaDB ids are the transaction's GTID (``_gtid``), or without one
  ``file=<binlog file>,pos=<offset>`` of its commit event, the same in every event.

In Avro the events are the records Kafka Connect's Avro mapping makes of those Connect schemas
(:data:`AVRO_KEY`, :data:`AVRO_VALUE`), registered under the transaction topic's subjects.

Snapshot reads carry no block and have no transaction events, as in Debezium.
"""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arrowtail.sinks.base import PositionJSON
from arrowtail.sources.positions import read_position

KEY_SCHEMA: dict[str, Any] = {
    "type": "struct",
    "fields": [{"type": "string", "optional": False, "field": "id"}],
    "optional": False,
    "name": "io.debezium.connector.common.TransactionMetadataKey",
    "version": 1,
}
VALUE_SCHEMA: dict[str, Any] = {
    "type": "struct",
    "fields": [
        {"type": "string", "optional": False, "field": "status"},
        {"type": "string", "optional": False, "field": "id"},
        {"type": "int64", "optional": True, "field": "event_count"},
        {
            "type": "array",
            "items": {
                "type": "struct",
                "fields": [
                    {"type": "string", "optional": False, "field": "data_collection"},
                    {"type": "int64", "optional": False, "field": "event_count"},
                ],
                "optional": True,
                "name": "event.collection",
                "version": 1,
            },
            "optional": True,
            "field": "data_collections",
        },
        {"type": "int64", "optional": False, "field": "ts_ms"},
    ],
    "optional": False,
    "name": "io.debezium.connector.common.TransactionMetadataValue",
    "version": 1,
}


_COMMON = "io.debezium.connector.common"
#: The Avro schemas of the transaction topic's keys and values.
AVRO_KEY: dict[str, Any] = {
    "type": "record",
    "name": "TransactionMetadataKey",
    "namespace": _COMMON,
    "fields": [{"name": "id", "type": "string"}],
    "connect.version": 1,
    "connect.name": f"{_COMMON}.TransactionMetadataKey",
}
AVRO_VALUE: dict[str, Any] = {
    "type": "record",
    "name": "TransactionMetadataValue",
    "namespace": _COMMON,
    "fields": [
        {"name": "status", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "event_count", "type": ["null", "long"], "default": None},
        {
            "name": "data_collections",
            "type": [
                "null",
                {
                    "type": "array",
                    "items": [
                        "null",
                        {
                            "type": "record",
                            "name": "collection",
                            "namespace": "event",
                            "fields": [
                                {"name": "data_collection", "type": "string"},
                                {"name": "event_count", "type": "long"},
                            ],
                            "connect.version": 1,
                            "connect.name": "event.collection",
                        },
                    ],
                },
            ],
            "default": None,
        },
        {"name": "ts_ms", "type": "long"},
    ],
    "connect.version": 1,
    "connect.name": f"{_COMMON}.TransactionMetadataValue",
}

#: Registers a transaction topic schema (``(schema, key)``) and gives its registry id.
Register = Callable[[dict[str, Any], bool], int]


@dataclass
class _Transaction:
    xid: int
    commit_ts_us: int
    first_lsn: int
    #: ``_last_commit_lsn`` of its first event: the end of the transaction committed before.
    last_commit: int
    #: A MySQL/MariaDB transaction's id (PostgreSQL's are made of the LSNs).
    tx_id: str | None
    #: Events per table (``schema.table``), in the order the tables were first written.
    events: dict[str, int] = field(default_factory=dict)


class TransactionMetadata:
    """The counts of the transactions written since the last commit, and their events."""

    def __init__(self, schemas: bool, register: Register | None = None) -> None:
        """``schemas``: JSON with its schemas; ``register``: Avro, with the registry's ids."""
        self.schemas = schemas
        self.register = register
        #: Per table: ``(pos, events)`` of its last transaction, for the serializer's carry.
        self._carry: dict[str, tuple[int, int]] = {}
        self._open: dict[int, _Transaction] = {}

    def save(self) -> object:
        """The counts as they stand, for :meth:`restore`: the exactly-once sink saves them as a
        Kafka transaction begins and restores them before it sends that transaction again, so
        that the events sent again are counted once."""
        return copy.deepcopy((self._carry, self._open))

    def restore(self, saved: object) -> None:
        """Sets the counts back to what :meth:`save` gave (which stays usable again)."""
        self._carry, self._open = copy.deepcopy(saved)  # type: ignore[misc]

    def carry(self, table: str) -> tuple[int, int]:
        """What the serializer counts ``table``'s next events on from."""
        return self._carry.get(table, (0, 0))

    def record(
        self, table: str, runs: list[tuple[int, int, int, int, int, int, str | None]]
    ) -> None:
        """Takes the serializer's ``take_transactions()`` of a batch of ``table`` that was
        produced."""
        for pos, xid, commit_ts_us, events, first_lsn, last_commit, tx_id in runs:
            tx = self._open.get(pos)
            if tx is None:
                tx = self._open[pos] = _Transaction(
                    xid, commit_ts_us, first_lsn, last_commit, tx_id
                )
            if first_lsn < tx.first_lsn:
                tx.first_lsn, tx.last_commit = first_lsn, last_commit
            tx.events[table] = events
            self._carry[table] = (pos, events)

    def close(self, position: PositionJSON) -> list[tuple[bytes, bytes]]:
        """The ``(key, value)`` of the ``BEGIN`` and ``END`` events of every transaction the
        pipeline committed up to ``position``, in commit order; they are then forgotten."""
        upto: int | None = None
        end_lsn: int | None = None
        try:
            typed = read_position(position)
            upto = typed.order
            end_lsn = getattr(typed, "end_lsn", None)
        except ValueError:
            pass
        done = sorted(p for p in self._open if upto is None or p <= upto)
        # A transaction of messages only has no event and no BEGIN/END; it is known so that the
        # end of the one committed before it is read from its last commit.
        # Where each transaction's commit record ends: the next one's last commit, else (the last
        # of the commit) the position's end.
        ends: dict[int, int] = {}
        for pos, following in zip(done, done[1:], strict=False):
            ends[pos] = self._open[following].last_commit or pos
        if done:
            last = done[-1]
            ends[last] = end_lsn if last == upto and end_lsn is not None else last
        out: list[tuple[bytes, bytes]] = []
        for pos in done:
            tx = self._open.pop(pos)
            if not any(tx.events.values()):
                continue
            ts_ms = tx.commit_ts_us // 1000
            begin_id = tx.tx_id or f"{tx.xid}:{tx.first_lsn}"
            out.append(
                self._message(
                    begin_id,
                    {
                        "status": "BEGIN",
                        "id": begin_id,
                        "event_count": None,
                        "data_collections": None,
                        "ts_ms": ts_ms,
                    },
                )
            )
            end_id = tx.tx_id or f"{tx.xid}:{ends[pos]}"
            collections = [
                {"data_collection": table, "event_count": n}
                for table, n in tx.events.items()
                if n > 0
            ]
            out.append(
                self._message(
                    end_id,
                    {
                        "status": "END",
                        "id": end_id,
                        "event_count": sum(tx.events.values()),
                        "data_collections": collections,
                        "ts_ms": ts_ms,
                    },
                )
            )
        self._carry = {t: c for t, c in self._carry.items() if upto is not None and c[0] > upto}
        return out

    def _message(self, tx_id: str, value: dict[str, Any]) -> tuple[bytes, bytes]:
        if self.register is not None:
            return _avro_key(self.register(AVRO_KEY, True), tx_id), _avro_value(
                self.register(AVRO_VALUE, False), value
            )
        key: Any = {"id": tx_id}
        payload: Any = value
        if self.schemas:
            key = {"schema": KEY_SCHEMA, "payload": key}
            payload = {"schema": VALUE_SCHEMA, "payload": value}
        return _dumps(key), _dumps(payload)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _long(out: bytearray, v: int) -> None:
    """Avro's zig-zag variable-length ``long``."""
    z = (v << 1) ^ (v >> 63)
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)


def _string(out: bytearray, s: str) -> None:
    b = s.encode()
    _long(out, len(b))
    out += b


def _framed(schema_id: int) -> bytearray:
    """The Confluent wire format's head: magic byte 0 and the big-endian schema id."""
    return bytearray(b"\x00" + struct.pack(">I", schema_id))


def _avro_key(schema_id: int, tx_id: str) -> bytes:
    out = _framed(schema_id)
    _string(out, tx_id)
    return bytes(out)


def _avro_value(schema_id: int, value: dict[str, Any]) -> bytes:
    out = _framed(schema_id)
    _string(out, value["status"])
    _string(out, value["id"])
    if value["event_count"] is None:
        _long(out, 0)
    else:
        _long(out, 1)
        _long(out, value["event_count"])
    collections = value["data_collections"]
    if collections is None:
        _long(out, 0)
    else:
        _long(out, 1)
        if collections:
            _long(out, len(collections))
            for c in collections:
                _long(out, 1)  # the record branch of the items' union
                _string(out, c["data_collection"])
                _long(out, c["event_count"])
        _long(out, 0)
    _long(out, value["ts_ms"])
    return bytes(out)
