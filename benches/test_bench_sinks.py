"""Throughput of the sink hot paths: Debezium serialization (JSON and Avro, side by side in the
``kafka-encode`` group) and partitioning of a 100k-row batch, and the Parquet sink's write +
commit. Run with ``pytest benches --benchmark-only``."""

from __future__ import annotations

import decimal
import json
from pathlib import Path

import pyarrow as pa
import pytest

from arrowtail import _core
from arrowtail.sinks.parquet import ParquetSink
from tests.support.batches import change_schema  # tests/ is on pytest's pythonpath (pyproject.toml)
from tests.support.kafka_reference import java_partition

ROWS = 100_000


@pytest.fixture(scope="module")
def batch() -> pa.RecordBatch:
    columns = [
        pa.field("id", pa.int64()),
        pa.field("name", pa.string()),
        pa.field("amount", pa.decimal128(12, 2)),
        pa.field("updated", pa.timestamp("us", tz="UTC")),
    ]
    schema = change_schema(columns)
    n = ROWS
    arrays = [
        pa.array(range(n), pa.int64()),
        pa.array([f"customer number {i}" for i in range(n)]),
        pa.array([decimal.Decimal(i * 7).scaleb(-2) for i in range(n)], pa.decimal128(12, 2)),
        pa.array([1_700_000_000_000_000 + i for i in range(n)], pa.timestamp("us", tz="UTC")),
        pa.array(["u"] * n),
        pa.array([1000 + i // 10 for i in range(n)], pa.uint64()),
        pa.array([i % 10 for i in range(n)], pa.uint32()),
        pa.array([i // 10 for i in range(n)], pa.uint64()),
        pa.array([1_700_000_000_000_000 + i for i in range(n)], pa.timestamp("us", tz="UTC")),
        pa.nulls(n, schema.field("_before").type),
        pa.nulls(n, pa.list_(pa.string())),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


@pytest.mark.benchmark(group="kafka-encode")
def test_debezium_serialize(benchmark, batch: pa.RecordBatch) -> None:  # type: ignore[no-untyped-def]
    serializer = _core.DebeziumSerializer(ts_ms=0)
    keys, values, _, parts = benchmark(serializer.serialize, batch, partitions=12)
    assert len(values) == ROWS and len(parts) == ROWS


@pytest.mark.benchmark(group="kafka-encode")
def test_debezium_serialize_precise(benchmark, batch: pa.RecordBatch) -> None:  # type: ignore[no-untyped-def]
    """The JSON path with the decimals the Avro format uses by default, for a like-for-like
    comparison with :func:`test_avro_serialize`."""
    serializer = _core.DebeziumSerializer(ts_ms=0, decimals="precise")
    out = benchmark(serializer.serialize, batch, partitions=12)
    assert len(out[1]) == ROWS


@pytest.mark.benchmark(group="kafka-encode")
def test_avro_serialize(benchmark, batch: pa.RecordBatch) -> None:  # type: ignore[no-untyped-def]
    """The same events as Avro in the Confluent wire format (schema ids as a registry gives them;
    no registry is involved once they are known)."""
    serializer = _core.AvroSerializer(ts_ms=0)
    keys, values, _, parts = benchmark(
        serializer.serialize, batch, key_schema_id=1, value_schema_id=2, partitions=12
    )
    assert len(values) == ROWS and len(parts) == ROWS
    assert values[0].as_py()[:5] == b"\x00\x00\x00\x00\x02"


def test_partitions(benchmark, batch: pa.RecordBatch) -> None:  # type: ignore[no-untyped-def]
    keys = _core.DebeziumSerializer().keys(batch)
    parts = benchmark(_core.partitions, keys, 12)
    assert len(parts) == ROWS


def test_parquet_write_commit(benchmark, batch: pa.RecordBatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sink = ParquetSink(tmp_path)
    sink.open()
    counter = iter(range(1_000_000))

    def run() -> None:
        sink.write("public.t", 1, batch)
        sink.commit({"lsn": next(counter)})

    benchmark(run)
    sink.close()


def _python_envelopes(batch: pa.RecordBatch, partitions: int) -> tuple[list[bytes], list[bytes]]:
    """The peer: the same Debezium-shaped key and value per row, built in Python with ``json`` and
    a Python murmur2, the way a pure-Python pipeline would do it."""
    keys: list[bytes] = []
    values: list[bytes] = []
    for row in batch.to_pylist():
        after = {
            "id": row["id"],
            "name": row["name"],
            "amount": str(row["amount"]),
            "updated": row["updated"].isoformat(),
        }
        key = json.dumps({"id": row["id"]}, separators=(",", ":")).encode()
        value = {
            "before": None,
            "after": after,
            "source": {
                "connector": "postgresql",
                "schema": "public",
                "table": "t",
                "txId": row["_xid"],
                "lsn": row["_pos"],
                "ts_ms": row["_commit_ts"].timestamp() * 1000,
                "snapshot": "false",
            },
            "op": row["_op"],
            "ts_ms": 0,
        }
        keys.append(key)
        values.append(json.dumps(value, separators=(",", ":")).encode())
        java_partition(key, partitions)
    return keys, values


def test_python_serialize_peer(benchmark, batch: pa.RecordBatch) -> None:  # type: ignore[no-untyped-def]
    small = batch.slice(0, ROWS // 10)  # a tenth of the rows: the peer is slow; compare per row
    keys, values = benchmark(_python_envelopes, small, 12)
    assert len(values) == small.num_rows
    assert json.loads(values[0])["after"]["id"] == 0
