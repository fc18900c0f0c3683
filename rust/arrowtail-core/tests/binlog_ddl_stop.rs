//! `BinlogDecoder::feed_until_ddl`: feeding the replication stream stops right after a QUERY event
//! holding DDL, wherever the read boundaries fall, and never at transaction control statements.

use arrowtail_core::binlog::event::{kind, HEADER_LEN};
use arrowtail_core::binlog::{BinlogDecoder, DdlQuery};

/// A QUERY event (no FORMAT_DESCRIPTION before it: 13-byte post-header, no checksum) ending at
/// `end` in its file.
fn query(db: &str, sql: &str, end: u32) -> Vec<u8> {
    let size = HEADER_LEN + 13 + db.len() + 1 + sql.len();
    let mut ev = Vec::with_capacity(size);
    ev.extend_from_slice(&1_700_000_000u32.to_le_bytes());
    ev.push(kind::QUERY);
    ev.extend_from_slice(&1u32.to_le_bytes());
    ev.extend_from_slice(&(size as u32).to_le_bytes());
    ev.extend_from_slice(&end.to_le_bytes());
    ev.extend_from_slice(&0u16.to_le_bytes());
    ev.extend_from_slice(&7u32.to_le_bytes()); // thread id
    ev.extend_from_slice(&0u32.to_le_bytes()); // execution time
    ev.push(db.len() as u8);
    ev.extend_from_slice(&0u16.to_le_bytes()); // error code
    ev.extend_from_slice(&0u16.to_le_bytes()); // status variables length
    ev.extend_from_slice(db.as_bytes());
    ev.push(0);
    ev.extend_from_slice(sql.as_bytes());
    assert_eq!(ev.len(), size);
    ev
}

/// The stream of `statements` as packets, and where each packet ends in it.
fn stream(statements: &[&str]) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
    let (mut out, mut ends, mut file_ends) = (Vec::new(), Vec::new(), Vec::new());
    let mut pos = 4u32;
    for (i, sql) in statements.iter().enumerate() {
        let size = (HEADER_LEN + 13 + 2 + 1 + sql.len()) as u32;
        pos += size;
        let ev = query("db", sql, pos);
        let len = ev.len() + 1;
        out.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, i as u8, 0]);
        out.extend_from_slice(&ev);
        ends.push(out.len());
        file_ends.push(u64::from(pos));
    }
    (out, ends, file_ends)
}

const STATEMENTS: [&str; 7] = [
    "BEGIN",
    "COMMIT",
    "CREATE TABLE t (a INT)",
    "BEGIN",
    "COMMIT",
    "ALTER TABLE t ADD b INT",
    "BEGIN",
];

fn ddl_rows(d: &mut BinlogDecoder) -> usize {
    d.flush()
        .unwrap()
        .iter()
        .filter(|b| b.table == "_ddl")
        .map(|b| b.batch.num_rows())
        .sum()
}

#[test]
fn stops_after_each_ddl_in_one_buffer() {
    let (data, ends, file_ends) = stream(&STATEMENTS);
    let mut d = BinlogDecoder::default();
    let (n, q) = d.feed_until_ddl(&data).unwrap();
    assert_eq!(n, ends[2]);
    let q = q.unwrap();
    assert_eq!(
        q,
        DdlQuery {
            database: "db".into(),
            statement: "CREATE TABLE t (a INT)".into(),
            file: String::new(),
            offset: file_ends[1],
            end: file_ends[2],
        }
    );
    // The statement's own `_ddl` row is decoded, nothing after it.
    assert_eq!(ddl_rows(&mut d), 1);
    let (m, q) = d.feed_until_ddl(&data[n..]).unwrap();
    assert_eq!(n + m, ends[5]);
    assert_eq!(q.unwrap().statement, "ALTER TABLE t ADD b INT");
    assert_eq!(ddl_rows(&mut d), 1);
    // BEGIN, COMMIT and the open BEGIN at the end do not stop.
    let (k, q) = d.feed_until_ddl(&data[n + m..]).unwrap();
    assert_eq!((n + m + k, q), (data.len(), None));
    assert_eq!(d.stats().events, STATEMENTS.len() as u64);
}

#[test]
fn a_ddl_split_across_feeds_stops_in_the_second() {
    let (data, ends, _) = stream(&STATEMENTS);
    // Cut inside the CREATE TABLE packet, and also inside its 4-byte packet header.
    for cut in [ends[1] + 2, ends[1] + 20, ends[2] - 1] {
        let mut d = BinlogDecoder::default();
        let (n, q) = d.feed_until_ddl(&data[..cut]).unwrap();
        assert_eq!((n, q), (cut, None), "cut {cut}");
        let (m, q) = d.feed_until_ddl(&data[cut..]).unwrap();
        assert_eq!(cut + m, ends[2], "cut {cut}");
        assert_eq!(q.unwrap().statement, "CREATE TABLE t (a INT)");
        let (k, q) = d.feed_until_ddl(&data[ends[2]..]).unwrap();
        assert_eq!(ends[2] + k, ends[5], "cut {cut}");
        assert_eq!(q.unwrap().statement, "ALTER TABLE t ADD b INT");
    }
}

#[test]
fn transaction_control_never_stops() {
    let statements = [
        "BEGIN",
        "COMMIT",
        "BEGIN",
        "SAVEPOINT a",
        "ROLLBACK",
        "BEGIN",
        "COMMIT",
    ];
    let (data, _, _) = stream(&statements);
    let mut d = BinlogDecoder::default();
    // Fed byte by byte: every byte is taken and nothing stops.
    for b in data.chunks(1) {
        assert_eq!(d.feed_until_ddl(b).unwrap(), (1, None));
    }
    assert_eq!(d.stats().events, statements.len() as u64);
    assert_eq!(ddl_rows(&mut d), 0);
}

#[test]
fn plain_feed_does_not_stop() {
    let (data, _, _) = stream(&STATEMENTS);
    let mut d = BinlogDecoder::default();
    d.feed(&data).unwrap();
    assert_eq!(ddl_rows(&mut d), 2);
    // The next call after a plain feed does not report a DDL seen by it.
    assert_eq!(d.feed_until_ddl(&[]).unwrap(), (0, None));
}

/// Feeds `reads` one after another, re-feeding what a stop left, and returns where in the whole
/// stream each stop happened.
fn stops(reads: &[&[u8]]) -> Vec<usize> {
    let mut d = BinlogDecoder::default();
    let (mut at, mut out) = (0usize, Vec::new());
    for read in reads {
        let mut rest = *read;
        loop {
            let (n, q) = d.feed_until_ddl(rest).unwrap();
            at += n;
            rest = &rest[n..];
            if q.is_none() {
                assert!(rest.is_empty());
                break;
            }
            out.push(at);
        }
    }
    out
}

#[test]
fn stops_are_the_same_for_any_read_boundaries() {
    let (data, ends, _) = stream(&STATEMENTS);
    let want = vec![ends[2], ends[5]];
    for a in 1..data.len() {
        assert_eq!(stops(&[&data[..a], &data[a..]]), want, "cut {a}");
        let b = (a * 7 + 3) % data.len();
        let (a, b) = (a.min(b), a.max(b));
        assert_eq!(
            stops(&[&data[..a], &data[a..b], &data[b..]]),
            want,
            "cuts {a} {b}"
        );
    }
}

#[test]
fn a_ddl_longer_than_one_packet_stops_after_its_last_packet() {
    // A payload of 0xFFFFFF bytes continues in the next packet, whose bytes are no header.
    let sql = format!("CREATE TABLE t (a INT) COMMENT '{}'", "x".repeat(0xFF_FFFF));
    let ev = query("db", &sql, 0);
    let mut payload = vec![0u8];
    payload.extend_from_slice(&ev);
    let mut data = Vec::new();
    for (i, part) in payload.chunks(0xFF_FFFF).enumerate() {
        let len = part.len();
        data.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, i as u8]);
        data.extend_from_slice(part);
    }
    let (tail, _, _) = stream(&["BEGIN"]);
    let whole = data.len();
    data.extend_from_slice(&tail);
    let mut d = BinlogDecoder::default();
    let (n, q) = d.feed_until_ddl(&data).unwrap();
    assert_eq!(n, whole);
    assert_eq!(q.unwrap().statement.len(), sql.len());
    assert_eq!(d.feed_until_ddl(&data[n..]).unwrap(), (tail.len(), None));
}

#[test]
fn data_changes_logged_as_statements_are_kept_for_the_source_and_make_no_rows() {
    let statements = [
        "BEGIN",
        "INSERT INTO t VALUES (1)",
        " update t set a = 2",
        "SET @x = 1",
        "COMMIT",
        "DELETE FROM other.u",
    ];
    let (data, _ends, file_ends) = stream(&statements);
    let mut d = BinlogDecoder::default();
    d.feed(&data).unwrap();
    assert_eq!(ddl_rows(&mut d), 0);
    assert_eq!(d.stats().skipped_statements, 4);
    let kept: Vec<(String, u64)> = d
        .take_skipped_statements()
        .into_iter()
        .map(|s| (s.statement, s.offset))
        .collect();
    assert_eq!(
        kept,
        vec![
            ("INSERT INTO t VALUES (1)".to_string(), file_ends[0]),
            (" update t set a = 2".to_string(), file_ends[1]),
            ("DELETE FROM other.u".to_string(), file_ends[4]),
        ]
    );
    assert!(d.take_skipped_statements().is_empty());
}
