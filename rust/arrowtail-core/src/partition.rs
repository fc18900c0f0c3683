//! Kafka's key partitioning: the murmur2 hash of the Java client's default partitioner and the
//! rule that maps a key to a partition.
//!
//! The Java producer (`org.apache.kafka.common.utils.Utils.murmur2` and
//! `BuiltInPartitioner.partitionForKey`) computes `toPositive(murmur2(key)) % numPartitions`, with
//! `toPositive(x) = x & 0x7fffffff`. librdkafka's `murmur2_random` partitioner matches it; its
//! default (`consistent_random`, CRC32) does not, which is why arrowtail computes the partition
//! itself and passes it to the producer explicitly: consumers written against the Java rule
//! (Kafka Streams, Connect sinks joining on keys) then see every key where they expect it.

/// Seed of Kafka's murmur2 variant.
const SEED: u32 = 0x9747_b28c;
/// Multiplier of MurmurHash2.
const M: u32 = 0x5bd1_e995;
/// Shift of MurmurHash2.
const R: u32 = 24;

/// Kafka's murmur2 hash of `data`, as the signed 32-bit value the Java client returns.
///
/// MurmurHash2 with seed `0x9747b28c`: `h = seed ^ len`, little-endian 4-byte blocks, a 1–3 byte
/// tail mixed in with fall-through, then the final avalanche `h ^= h >>> 13; h *= m; h ^= h >>> 15`.
pub fn murmur2(data: &[u8]) -> i32 {
    // Java hashes `int length`; keys beyond 2^31 bytes cannot exist in Kafka, truncation matches
    // the Java int arithmetic anyway.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    // The Java `switch (length % 4)` falls through from case 3 to case 1.
    if let Some(&b) = tail.get(2) {
        h ^= u32::from(b) << 16;
    }
    if let Some(&b) = tail.get(1) {
        h ^= u32::from(b) << 8;
    }
    if let Some(&b) = tail.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java producer's default partitioner picks for `key` among `partitions`
/// partitions: `(murmur2(key) & 0x7fffffff) % partitions`. Returns `None` when `partitions` is not
/// positive.
pub fn partition_for_key(key: &[u8], partitions: i32) -> Option<i32> {
    if partitions <= 0 {
        return None;
    }
    Some((murmur2(key) & 0x7fff_ffff) % partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors of Kafka's own `UtilsTest.testMurmur2` (signed int32).
    #[test]
    fn java_client_vectors() {
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key.as_bytes()), want, "murmur2({key:?})");
        }
    }

    /// Vectors of librdkafka's `unittest_murmur2` (unsigned hex), including every tail length and
    /// the empty key.
    #[test]
    fn librdkafka_vectors() {
        let cases: [(&str, u32); 7] = [
            ("kafka", 0xd067_cf64),
            ("giberish123456789", 0x8f55_2b0c),
            ("1234", 0x9fc9_7b14),
            ("234", 0xe7c0_09ca),
            ("34", 0x8739_30da),
            ("4", 0x5a4b_5ca1),
            ("", 0x106e_08d9),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key.as_bytes()) as u32, want, "murmur2({key:?})");
        }
    }

    #[test]
    fn partition_is_the_positive_hash_modulo_count() {
        // murmur2("21") = -973932308; & 0x7fffffff = 1173551340; % 6 = 0; % 7 = 2.
        assert_eq!(partition_for_key(b"21", 6), Some(1_173_551_340 % 6));
        assert_eq!(partition_for_key(b"21", 7), Some(1_173_551_340 % 7));
        // murmur2("abc") is positive: 479470107 % 10 = 7.
        assert_eq!(partition_for_key(b"abc", 10), Some(7));
        assert_eq!(partition_for_key(b"abc", 1), Some(0));
        assert_eq!(partition_for_key(b"abc", 0), None);
        assert_eq!(partition_for_key(b"abc", -3), None);
    }
}
