"""Type stubs of the Rust extension module ``arrowtail._core``."""

import pyarrow as pa

__version__: str

def _raise_core_error(kind: str, message: str) -> None: ...
def murmur2(key: bytes) -> int:
    """Kafka's murmur2 hash of ``key`` (signed 32-bit, as the Java client returns it)."""

def partitions(keys: list[bytes] | pa.Array, n: int) -> pa.Int32Array:
    """``(murmur2(key) & 0x7fffffff) % n`` per key (Kafka's Java rule); null keys give 0."""

def debezium_serialize(
    batch: pa.RecordBatch,
    *,
    topic_prefix: str = "arrowtail",
    database: str = "",
    decimals: str = "string",
    unavailable: str = "placeholder",
    tombstones: bool = True,
    schemas: bool = False,
    binlog_basename: str = "mysql-bin",
    server_id: int = 0,
    ts_ms: int | None = None,
    partitions: int | None = None,
) -> tuple[pa.BinaryArray, pa.BinaryArray, pa.UInt32Array, pa.Int32Array | None]:
    """Debezium JSON ``(keys, values, rows, partitions)`` of a change batch (see the sinks docs)."""
