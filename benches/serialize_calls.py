"""The Kafka sink's Debezium serialization per call: µs per batch of the whole per-batch path of
``KafkaSink.write`` (serializer call, size check, conversion, down to the arguments handed to
``producer.produce``), of the serializer call the sink makes (``DebeziumSerializer.messages`` up
to ``SMALL_ROWS`` rows, else ``.serialize``) and of a new serializer per call (``.serialize`` of a
``DebeziumSerializer`` made for the call: options parsed and the batch's schema taken every time),
for a 1-row batch of the latency bench's table, a 1-row batch of a mixed-type table and a
10,000-row batch; then the same for Avro (the sink's ``AvroSerializer`` against a new one per call,
``schemas`` + ``serialize``, schema ids known, no registry).

    python -m benches.serialize_calls [--seconds S] [--rounds N]

No broker: the sink's producer is replaced by one whose ``produce`` and ``poll`` do nothing, and
the topic's partition count and size limit are set as if read from the broker. Batches come from
the pgoutput decoder (hand-built messages for ``bench.lat``: ``id bigint`` key, ``kind text``,
``v integer``, each change's own LSN as the Kafka sink asks for) and from the test helpers (the
mixed-type table). Each figure is the fastest over ``--rounds`` rounds of the mean per call in a
round of about ``--seconds`` (on a shared machine the fastest round is the one least disturbed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from arrowtail import _core
from arrowtail.sinks.kafka.sink import SMALL_ROWS, KafkaSink, _Group
from tests.support.batches import change_batch

TABLE = "bench.lat"
PARTITIONS = 12
REL = 16400


def _cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def _lat_messages(rows: int, first_id: int) -> list[tuple[int, bytes]]:
    """One transaction of ``rows`` single-row inserts into ``bench.lat`` (id int8 key, kind
    text, v int4), as pgoutput messages with their LSNs."""
    cols = [(1, "id", 20, -1), (0, "kind", 25, -1), (0, "v", 23, -1)]
    rel = b"R" + struct.pack(">I", REL) + _cstr("bench") + _cstr("lat") + b"d"
    rel += struct.pack(">h", len(cols))
    for flags, name, oid, typmod in cols:
        rel += bytes([flags]) + _cstr(name) + struct.pack(">Ii", oid, typmod)
    end = 0x1000 + rows * 0x40
    out = [(0x1000, rel), (0x1000, b"B" + struct.pack(">QqI", end, 1_000_000, 7))]
    for i in range(rows):
        values = [str(first_id + i).encode(), b"load", str(i % 1000).encode()]
        data = struct.pack(">h", len(values))
        for v in values:
            data += b"t" + struct.pack(">i", len(v)) + v
        out.append((0x1000 + i * 0x40, b"I" + struct.pack(">I", REL) + b"N" + data))
    out.append((end, b"C" + struct.pack(">BQQq", 0, end, end + 8, 1_000_000)))
    return out


def lat_batch(rows: int) -> pa.RecordBatch:
    """A committed transaction of ``bench.lat`` as the PostgreSQL source hands it to the sink
    (the catalog facts in its metadata)."""
    decoder = _core.PgOutputDecoder(row_lsn=True)
    for lsn, message in _lat_messages(rows, 1):
        decoder.feed(message, lsn=lsn)
    batches = decoder.flush()
    assert len(batches) == 1, len(batches)
    _, _, batch = batches[0]
    meta = dict(batch.schema.metadata or {})
    meta[b"arrowtail.not_null"] = b"id"
    meta[b"arrowtail.database"] = b"bench"
    return batch.replace_schema_metadata(meta)


MIXED_COLUMNS = [
    pa.field("id", pa.int64()),
    pa.field("flag", pa.bool_()),
    pa.field("small", pa.int16()),
    pa.field("real", pa.float64()),
    pa.field("num", pa.decimal128(12, 2)),
    pa.field("txt", pa.string()),
    pa.field("raw", pa.binary()),
    pa.field("uid", pa.uuid()),
    pa.field("day", pa.date32()),
    pa.field("tstz", pa.timestamp("us", tz="UTC")),
    pa.field("arr", pa.list_(pa.int32())),
    pa.field("doc", pa.json_()),
]


def mixed_batch() -> pa.RecordBatch:
    """One updated row of a table with a column of each common type family, old image sent."""
    row = {
        "id": 1,
        "flag": True,
        "small": -3,
        "real": 0.25,
        "num": decimal.Decimal("1234.50"),
        "txt": "a customer's note",
        "raw": b"\x00\xff\x10",
        "uid": uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").bytes,
        "day": dt.date(2024, 2, 29),
        "tstz": dt.datetime(2024, 2, 29, 12, 0, 0, 500000, tzinfo=dt.timezone.utc),
        "arr": [1, 2, 3],
        "doc": '{"k": [1, 2]}',
    }
    change = {**row, "_op": "u", "_pos": 9, "_before": {**row, "small": 4}}
    return change_batch(MIXED_COLUMNS, [change], table="bench.mixed")


class _NullProducer:
    """Takes ``produce`` arguments and drops them: the sink's own cost, without librdkafka."""

    def produce(self, *args: Any, **kw: Any) -> None:
        pass

    def poll(self, timeout: float = 0) -> int:
        return 0


def _sink() -> KafkaSink:
    sink = KafkaSink("localhost:1", topic_prefix="bench")
    sink._producer = _NullProducer()  # type: ignore[assignment]
    sink._current = _Group(sink)
    sink._groups.append(sink._current)
    for table in (TABLE, "bench.mixed"):
        topic = sink.topic_for(table)
        sink._partitions[topic] = PARTITIONS
        sink._limits[topic] = sink.max_message_bytes
    return sink


def per_call_us(call: Callable[[], object], seconds: float, rounds: int) -> float:
    """The fastest round's mean µs per call."""
    call()  # warm: first-use caches
    n = 1
    while True:  # calls per round: about ``seconds``
        start = time.perf_counter()
        for _ in range(n):
            call()
        took = time.perf_counter() - start
        if took >= seconds / 4:
            break
        n *= 4
    n = max(1, int(n * seconds / took))
    means = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(n):
            call()
        means.append((time.perf_counter_ns() - start) / n / 1000)
    return min(means)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = [
        ("lat, 1 row", TABLE, lat_batch(1)),
        ("mixed, 1 row", "bench.mixed", mixed_batch()),
        ("lat, 10,000 rows", TABLE, lat_batch(10_000)),
    ]
    sink = _sink()
    options = sink._serialize_options
    serializer = _core.DebeziumSerializer(**options)
    print(f"{'batch':<18} {'sink.write':>11} {'serializer':>11} {'new each':>11}   (µs per call)")
    for name, table, batch in cases:

        def write(table: str = table, batch: pa.RecordBatch = batch) -> None:
            sink.write(table, 1, batch)

        def serialize(batch: pa.RecordBatch = batch) -> None:
            # What the sink calls for a slice of this size.
            if batch.num_rows <= SMALL_ROWS:
                serializer.messages(batch, partitions=PARTITIONS)
            else:
                serializer.serialize(batch, partitions=PARTITIONS)

        def new_each(batch: pa.RecordBatch = batch) -> None:
            _core.DebeziumSerializer(**options).serialize(batch, partitions=PARTITIONS)

        w, s, f = (per_call_us(c, args.seconds, args.rounds) for c in (write, serialize, new_each))
        print(f"{name:<18} {w:>11.1f} {s:>11.1f} {f:>11.1f}", flush=True)
    print("\nAvro, schema ids known (no registry): schemas + messages of one batch")
    print(f"{'batch':<18} {'serializer':>11} {'new each':>11}   (µs per call)")
    avro = _core.AvroSerializer(**options)
    for name, _, batch in cases:

        def avro_object(batch: pa.RecordBatch = batch) -> None:
            avro.schemas(batch)
            ids = {"key_schema_id": 1, "value_schema_id": 2, "partitions": PARTITIONS}
            if batch.num_rows <= SMALL_ROWS:
                avro.messages(batch, **ids)
            else:
                avro.serialize(batch, **ids)

        def avro_new_each(batch: pa.RecordBatch = batch) -> None:
            fresh = _core.AvroSerializer(**options)
            fresh.schemas(batch)
            fresh.serialize(batch, key_schema_id=1, value_schema_id=2, partitions=PARTITIONS)

        s, f = (per_call_us(c, args.seconds, args.rounds) for c in (avro_object, avro_new_each))
        print(f"{name:<18} {s:>11.1f} {f:>11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
