//! One transaction whose text column carries more than 2 GiB, at the real byte limit: Arrow's
//! 32-bit offsets cannot hold that in one array, so the decoder must cut the batch instead of
//! panicking ("byte array offset overflow"), and every value must come out whole and in order.
//!
//! Nine rows of 256 MiB each (2.25 GiB) go through the pgoutput decoder as one transaction: about
//! 20 s in a debug build and 3 GB of memory. `ARROWTAIL_BIG_COLUMN_ROWS` sets another row count
//! (a soak, see docs/reliability.md; memory grows by 256 MiB a row).

use arrow_array::cast::AsArray;
use arrowtail_core::arrow::BYTE_LIMIT;
use arrowtail_core::pgoutput::Decoder;

const VALUE: usize = 256 << 20;

fn rows() -> usize {
    std::env::var("ARROWTAIL_BIG_COLUMN_ROWS")
        .ok()
        .map_or(9, |v| {
            v.parse().expect("ARROWTAIL_BIG_COLUMN_ROWS: a row count")
        })
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.as_bytes());
    out.push(0);
}

#[test]
fn a_column_of_more_than_2_gib_in_one_transaction_is_cut_not_a_panic() {
    let rows = rows();
    let lsn = 0x1_0000_0000u64;
    let mut d = Decoder::new();

    // Relation 16384 public.big (id int4 key, body text).
    let mut rel = vec![b'R'];
    rel.extend(16384u32.to_be_bytes());
    cstr(&mut rel, "public");
    cstr(&mut rel, "big");
    rel.push(b'd');
    rel.extend(2i16.to_be_bytes());
    for (flags, name, oid) in [(1u8, "id", 23u32), (0, "body", 25)] {
        rel.push(flags);
        cstr(&mut rel, name);
        rel.extend(oid.to_be_bytes());
        rel.extend((-1i32).to_be_bytes());
    }
    let mut begin = vec![b'B'];
    begin.extend((lsn + 100).to_be_bytes());
    begin.extend(0i64.to_be_bytes());
    begin.extend(777u32.to_be_bytes());
    d.feed_message(&begin, lsn).unwrap();
    d.feed_message(&rel, lsn).unwrap();

    // One Insert message, reused: the id's digits and the value's first byte change per row.
    let mut insert = vec![b'I'];
    insert.extend(16384u32.to_be_bytes());
    insert.push(b'N');
    insert.extend(2i16.to_be_bytes());
    insert.push(b't');
    insert.extend(4i32.to_be_bytes());
    let id_at = insert.len();
    insert.extend(b"0000");
    insert.push(b't');
    insert.extend((VALUE as i32).to_be_bytes());
    let body_at = insert.len();
    // `repeat` copies in doubling blocks: filling 256 MiB byte by byte is slow in a debug build.
    insert.extend(b"x".repeat(VALUE));
    let first = |i: usize| b'a' + (i % 26) as u8;
    for i in 0..rows {
        insert[id_at..id_at + 4].copy_from_slice(format!("{i:04}").as_bytes());
        insert[body_at] = first(i);
        d.feed_message(&insert, lsn + 1 + i as u64).unwrap();
    }
    drop(insert);
    let mut commit = vec![b'C', 0];
    commit.extend((lsn + 100).to_be_bytes());
    commit.extend((lsn + 200).to_be_bytes());
    commit.extend(0i64.to_be_bytes());
    d.feed_message(&commit, lsn + 100).unwrap();

    let batches = d.flush().unwrap();
    // The fourth row of a batch reaches the limit (4 x 256 MiB >= BYTE_LIMIT): 9 rows are cut
    // into 4, 4 and 1.
    let per = BYTE_LIMIT.div_ceil(VALUE);
    assert_eq!(per, 4);
    let sizes: Vec<usize> = batches.iter().map(|b| b.batch.num_rows()).collect();
    let expected: Vec<usize> = (0..rows).step_by(per).map(|s| per.min(rows - s)).collect();
    assert_eq!(sizes, expected);
    let rest = b"x".repeat(VALUE - 1);
    let mut next = 0;
    let mut total = 0usize;
    for b in &batches {
        assert_eq!(b.table, "public.big");
        assert_eq!(b.schema_version, batches[0].schema_version);
        let ids = b
            .batch
            .column(0)
            .as_primitive::<arrow_array::types::Int32Type>();
        let body = b.batch.column(1).as_string::<i32>();
        for r in 0..b.batch.num_rows() {
            assert_eq!(ids.value(r), next as i32);
            let v = body.value(r).as_bytes();
            assert_eq!(v.len(), VALUE);
            assert_eq!(v[0], first(next));
            assert!(v[1..] == rest[..]);
            total += v.len();
            next += 1;
        }
    }
    assert_eq!(next, rows);
    assert_eq!(total, rows * VALUE);
    assert!(rows < 9 || total > 2 << 30, "{total} bytes");
}
