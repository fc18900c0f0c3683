"""Kafka's Java key partitioning written out in plain Python, independently of the Rust core, so
tests can check the core and the sink against it."""

from __future__ import annotations

M = 0x5BD1E995
SEED = 0x9747B28C
MASK = 0xFFFFFFFF


def java_murmur2(key: bytes) -> int:
    """``org.apache.kafka.common.utils.Utils.murmur2`` (signed 32-bit result)."""
    h = (SEED ^ len(key)) & MASK
    whole = len(key) // 4 * 4
    for i in range(0, whole, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * M) & MASK
        k ^= k >> 24
        k = (k * M) & MASK
        h = ((h * M) & MASK) ^ k
    tail = key[whole:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * M) & MASK
    h ^= h >> 13
    h = (h * M) & MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, n: int) -> int:
    """The Java producer's partition for a keyed record: ``toPositive(murmur2) % n``."""
    return (java_murmur2(key) & 0x7FFFFFFF) % n
