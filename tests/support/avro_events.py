"""Avro events compared with the JSON path: decode a Confluent-framed Avro message with a schema,
and turn decoded values into the forms Debezium JSON gives the same value (bytes and decimals as
base64, NaN and infinities as strings), so one event can be compared with the other as a whole."""

from __future__ import annotations

import base64
import decimal
import io
import json
import math
import struct
from typing import Any

import fastavro


def framed_id(message: bytes) -> int:
    """The schema id of a Confluent wire-format message (magic byte 0, 4-byte big-endian id)."""
    assert message[0] == 0, f"magic byte {message[0]}"
    return int(struct.unpack(">I", message[1:5])[0])


def decode(message: bytes, schema: str) -> Any:
    """The datum of a framed message, read with ``schema`` (fastavro, logical types applied)."""
    parsed = fastavro.parse_schema(json.loads(schema))
    return fastavro.schemaless_reader(io.BytesIO(message[5:]), parsed, parsed)


def _unscaled_bytes(d: decimal.Decimal) -> bytes:
    sign, digits, exponent = d.as_tuple()
    unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    length = max(1, (unscaled + (unscaled < 0)).bit_length() // 8 + 1)
    return unscaled.to_bytes(length, "big", signed=True)


def as_json(value: Any) -> Any:
    """``value`` (decoded from Avro) in the form Debezium JSON with precise decimals gives it."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal):
        return base64.b64encode(_unscaled_bytes(value)).decode()
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def comparable(event: dict[str, Any] | None) -> dict[str, Any] | None:
    """An envelope without what differs between two runs over the same changes: the processing
    timestamps and ``source.name`` (each run's topic prefix)."""
    if event is None:
        return None
    out = {k: v for k, v in event.items() if k not in ("ts_ms", "ts_us", "ts_ns")}
    out["source"] = {k: v for k, v in event["source"].items() if k != "name"}
    return out
