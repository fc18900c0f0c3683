"""murmur2 and the Java partition rule as exposed by arrowtail._core."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from arrowtail import _core
from arrowtail.exceptions import ConfigError
from tests.support.kafka_reference import java_murmur2, java_partition

# Kafka's own UtilsTest vectors (signed) and librdkafka's (unsigned).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}
LIBRDKAFKA_VECTORS = {
    b"kafka": 0xD067CF64,
    b"giberish123456789": 0x8F552B0C,
    b"1234": 0x9FC97B14,
    b"234": 0xE7C009CA,
    b"34": 0x873930DA,
    b"4": 0x5A4B5CA1,
    b"": 0x106E08D9,
}


@pytest.mark.parametrize(("key", "want"), JAVA_VECTORS.items())
def test_murmur2_matches_the_java_client(key: bytes, want: int) -> None:
    assert _core.murmur2(key) == want
    assert java_murmur2(key) == want


@pytest.mark.parametrize(("key", "want"), LIBRDKAFKA_VECTORS.items())
def test_murmur2_matches_librdkafka(key: bytes, want: int) -> None:
    assert _core.murmur2(key) & 0xFFFFFFFF == want
    assert java_murmur2(key) & 0xFFFFFFFF == want


def test_partitions_of_a_list_and_of_arrow_arrays_follow_the_java_rule() -> None:
    rng = random.Random(7)
    keys = [rng.randbytes(rng.randrange(0, 40)) for _ in range(500)]
    want = [java_partition(k, 12) for k in keys]
    assert _core.partitions(keys, 12).to_pylist() == want
    assert _core.partitions(pa.array(keys, pa.binary()), 12).to_pylist() == want
    assert _core.partitions(pa.array(keys, pa.large_binary()), 12).to_pylist() == want
    sliced = pa.array(keys, pa.binary()).slice(100, 50)
    assert _core.partitions(sliced, 12).to_pylist() == want[100:150]


def test_null_keys_go_to_partition_zero_and_bad_counts_are_refused() -> None:
    got = _core.partitions(pa.array([None, b"21"], pa.binary()), 7)
    assert got.type == pa.int32()
    assert got.to_pylist() == [0, java_partition(b"21", 7)]
    with pytest.raises(ConfigError, match="positive"):
        _core.partitions([b"a"], 0)
    with pytest.raises(ConfigError, match="binary or string"):
        _core.partitions(pa.array([1, 2]), 3)
