//! Property-based fuzzing of the decoders with `proptest` (cargo-fuzz needs a nightly toolchain):
//! pgoutput message sequences, `COPY ... (FORMAT binary)` streams, binlog files, MySQL binary
//! JSON and MySQL text-protocol snapshot rows. Each target generates valid input, checks that it
//! decodes to exactly what was generated, then damages it (truncation, flipped, inserted and
//! deleted bytes, overwritten words) and checks that decoding returns `Ok` or an error value —
//! never a panic — and never more rows than the input held. (Snapshot rows are random values,
//! text-like or raw: each row is appended whole or refused with an error.)
//!
//! Case counts are bounded for CI; set `ARROWTAIL_FUZZ_CASES` (default 256 per property) for a
//! longer run, e.g. `ARROWTAIL_FUZZ_CASES=200000 cargo test --release -p arrowtail-core --test
//! fuzz_props`.

use std::path::PathBuf;

use arrowtail_core::arrow::ChangeBatch;
use arrowtail_core::binlog::json::{parse as parse_json, to_text, JsonValue};
use arrowtail_core::binlog::{BinlogDecoder, DecoderOptions};
use arrowtail_core::copy::{CopyColumn, CopyDecoder};
use arrowtail_core::pgoutput::Decoder;
use arrowtail_core::textrows::TextRowsBuilder;
use arrowtail_core::types::mysql::text::TextColumn;
use arrowtail_core::Error;
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config() -> Config {
    let cases = std::env::var("ARROWTAIL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn rows(batches: &[ChangeBatch]) -> usize {
    batches.iter().map(|b| b.batch.num_rows()).sum()
}

/// An error is a value describing bad input; `Error::Arrow` would mean an internal bug.
fn assert_input_error(err: &Error) {
    assert!(!matches!(err, Error::Arrow { .. }), "internal error: {err}");
}

// -- damage -------------------------------------------------------------------------------------

/// One edit of a byte string; positions are taken modulo its length.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Word(usize, u32),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(a, m)| Edit::Flip(a, m)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Insert(a, b)),
        any::<usize>().prop_map(Edit::Delete),
        (
            any::<usize>(),
            prop_oneof![Just(0u32), Just(u32::MAX), Just(0x7fff_ffff), any::<u32>()]
        )
            .prop_map(|(a, w)| Edit::Word(a, w)),
    ]
}

fn damage(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        if data.is_empty() {
            break;
        }
        let n = data.len();
        match *e {
            Edit::Truncate(a) => data.truncate(a % n),
            Edit::Flip(a, m) => data[a % n] ^= m,
            Edit::Insert(a, b) => data.insert(a % (n + 1), b),
            Edit::Delete(a) => {
                data.remove(a % n);
            }
            Edit::Word(a, w) => {
                let at = a % n;
                for (i, b) in w.to_be_bytes().iter().enumerate() {
                    if let Some(slot) = data.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
        }
    }
    data
}

// -- pgoutput -----------------------------------------------------------------------------------

/// A column value as pgoutput sends it: NULL, unchanged TOAST, text, or binary.
#[derive(Debug, Clone)]
enum Datum {
    Null,
    Text(String),
    Binary(Vec<u8>),
}

const PG_TYPES: &[u32] = &[23, 20, 25, 16, 701, 1043];

fn datum(oid: u32) -> BoxedStrategy<Datum> {
    let text: BoxedStrategy<String> = match oid {
        23 => any::<i32>().prop_map(|v| v.to_string()).boxed(),
        20 => any::<i64>().prop_map(|v| v.to_string()).boxed(),
        16 => prop_oneof![Just("t".to_string()), Just("f".to_string())].boxed(),
        701 => any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(|v| format!("{v:?}"))
            .boxed(),
        _ => any::<String>().boxed(),
    };
    let binary: BoxedStrategy<Vec<u8>> = match oid {
        23 => any::<i32>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        20 => any::<i64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        16 => any::<bool>().prop_map(|v| vec![u8::from(v)]).boxed(),
        701 => any::<f64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        _ => any::<String>().prop_map(String::into_bytes).boxed(),
    };
    prop_oneof![
        1 => Just(Datum::Null),
        4 => text.prop_map(Datum::Text),
        2 => binary.prop_map(Datum::Binary),
    ]
    .boxed()
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn tuple(out: &mut Vec<u8>, values: &[Datum]) {
    out.extend_from_slice(&(values.len() as u16).to_be_bytes());
    for v in values {
        let (kind, bytes) = match v {
            Datum::Null => {
                out.push(b'n');
                continue;
            }
            Datum::Text(s) => (b't', s.as_bytes()),
            Datum::Binary(b) => (b'b', b.as_slice()),
        };
        out.push(kind);
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
}

/// A transaction of one table: its relation, then (kind, new values) changes.
#[derive(Debug, Clone)]
struct PgTxn {
    types: Vec<u32>,
    changes: Vec<(u8, Vec<Datum>)>,
}

fn pg_txn() -> impl Strategy<Value = PgTxn> {
    prop::collection::vec(prop::sample::select(PG_TYPES), 1..6).prop_flat_map(|types| {
        let row: Vec<BoxedStrategy<Datum>> = types.iter().map(|t| datum(*t)).collect();
        let change = (prop::sample::select(&b"IUD"[..]), row);
        (Just(types), prop::collection::vec(change, 0..20))
            .prop_map(|(types, changes)| PgTxn { types, changes })
    })
}

/// The transaction as capture records (`[u64 BE LSN][u32 BE length][message]`).
fn pg_capture(txn: &PgTxn) -> Vec<u8> {
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let mut rel = vec![b'R'];
    rel.extend_from_slice(&16384u32.to_be_bytes());
    cstr(&mut rel, "public");
    cstr(&mut rel, "fuzz");
    rel.push(b'd');
    rel.extend_from_slice(&(txn.types.len() as u16).to_be_bytes());
    for (i, oid) in txn.types.iter().enumerate() {
        rel.push(u8::from(i == 0));
        cstr(&mut rel, &format!("c{i}"));
        rel.extend_from_slice(&oid.to_be_bytes());
        rel.extend_from_slice(&(-1i32).to_be_bytes());
    }
    let commit_lsn: u64 = 0x1000 + 0x100 * txn.changes.len() as u64;
    let mut begin = vec![b'B'];
    begin.extend_from_slice(&commit_lsn.to_be_bytes());
    begin.extend_from_slice(&0i64.to_be_bytes());
    begin.extend_from_slice(&77u32.to_be_bytes());
    msgs.push(begin);
    msgs.push(rel);
    for (kind, values) in &txn.changes {
        let mut m = vec![*kind];
        m.extend_from_slice(&16384u32.to_be_bytes());
        if *kind == b'D' {
            m.push(b'K');
        } else {
            m.push(b'N');
        }
        tuple(&mut m, values);
        msgs.push(m);
    }
    let mut commit = vec![b'C', 0];
    commit.extend_from_slice(&commit_lsn.to_be_bytes());
    commit.extend_from_slice(&(commit_lsn + 0x30).to_be_bytes());
    commit.extend_from_slice(&0i64.to_be_bytes());
    msgs.push(commit);
    let mut out = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        out.extend_from_slice(&(0x1000 + 0x10 * i as u64).to_be_bytes());
        out.extend_from_slice(&(m.len() as u32).to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

fn decode_capture(data: &[u8]) -> (usize, Option<Error>) {
    let mut d = Decoder::new();
    let fed = d.feed_capture(data);
    match d.flush() {
        Ok(batches) => (rows(&batches), fed.err()),
        Err(e) => (0, Some(fed.err().unwrap_or(e))),
    }
}

/// A real capture recorded from PostgreSQL by tests/integration/test_corrupt_pgoutput.py.
fn real_capture() -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pgoutput/stream.cap");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pgoutput_generated_transactions_decode_exactly(txn in pg_txn()) {
        let (n, err) = decode_capture(&pg_capture(&txn));
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(n, txn.changes.len());
    }

    #[test]
    fn pgoutput_damaged_transactions_never_panic(
        txn in pg_txn(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let data = damage(pg_capture(&txn), &edits);
        let (n, err) = decode_capture(&data);
        if let Some(e) = err {
            assert_input_error(&e);
        }
        prop_assert!(n <= txn.changes.len());
    }

    #[test]
    fn pgoutput_damaged_real_capture_never_panics(
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let clean = real_capture();
        let (total, _) = decode_capture(&clean);
        let (n, err) = decode_capture(&damage(clean, &edits));
        if let Some(e) = err {
            assert_input_error(&e);
        }
        prop_assert!(n <= total, "{} rows from a capture of {}", n, total);
    }

    #[test]
    fn pgoutput_random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut d = Decoder::new();
        let _ = d.feed_message(&data, 1);
        let _ = d.feed_frame(&data);
        let _ = d.flush();
        let _ = decode_capture(&data);
    }
}

// -- COPY BINARY --------------------------------------------------------------------------------

fn copy_stream(types: &[u32], rows_in: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
    let mut out = b"PGCOPY\n\xff\r\n\0".to_vec();
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    for row in rows_in {
        out.extend_from_slice(&(types.len() as i16).to_be_bytes());
        for v in row {
            match v {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

fn copy_value(oid: u32) -> BoxedStrategy<Option<Vec<u8>>> {
    let some: BoxedStrategy<Vec<u8>> = match oid {
        23 => any::<i32>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        20 => any::<i64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        16 => any::<bool>().prop_map(|v| vec![u8::from(v)]).boxed(),
        701 => any::<f64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        _ => any::<String>().prop_map(String::into_bytes).boxed(),
    };
    prop::option::weighted(0.8, some).boxed()
}

type CopyCase = (Vec<u32>, Vec<Vec<Option<Vec<u8>>>>);

fn copy_case() -> impl Strategy<Value = CopyCase> {
    prop::collection::vec(prop::sample::select(PG_TYPES), 1..6).prop_flat_map(|types| {
        let row: Vec<_> = types.iter().map(|t| copy_value(*t)).collect();
        (Just(types), prop::collection::vec(row, 0..30))
    })
}

/// Decodes a COPY stream fed in chunks of `chunk` bytes; returns rows and the first error.
fn decode_copy(types: &[u32], data: &[u8], chunk: usize) -> (usize, Option<Error>) {
    let columns: Vec<CopyColumn> = types
        .iter()
        .enumerate()
        .map(|(i, t)| CopyColumn {
            name: format!("c{i}"),
            type_oid: *t,
            typmod: -1,
        })
        .collect();
    let mut d = match CopyDecoder::new("public.fuzz", &columns, vec!["c0".into()], 1, 16, 0, 0) {
        Ok(d) => d,
        Err(e) => return (0, Some(e)),
    };
    let mut result = Ok(());
    for part in data.chunks(chunk.max(1)) {
        result = d.feed(part);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = d.finish();
    }
    match d.flush() {
        Ok(b) => (rows(&b), result.err()),
        Err(e) => (0, Some(result.err().unwrap_or(e))),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn copy_generated_streams_decode_exactly((types, values) in copy_case(), chunk in 1..64usize) {
        let (n, err) = decode_copy(&types, &copy_stream(&types, &values), chunk);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(n, values.len());
    }

    #[test]
    fn copy_damaged_streams_never_panic(
        (types, values) in copy_case(),
        chunk in 1..64usize,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let data = damage(copy_stream(&types, &values), &edits);
        let (n, err) = decode_copy(&types, &data, chunk);
        if let Some(e) = err {
            assert_input_error(&e);
        }
        // A damaged field length can split one row's bytes into more rows; never more rows than
        // the bytes could hold (2 bytes of field count each).
        prop_assert!(n <= data.len() / 2);
    }
}

// -- binlog files -------------------------------------------------------------------------------

fn binlog_fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/binlog");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(data) = std::fs::read(e.path()) {
                if data.starts_with(b"\xfebin") {
                    out.push((name, data));
                }
            }
        }
    }
    out.sort();
    out
}

fn decode_binlog(name: &str, data: &[u8]) -> (usize, Option<Error>) {
    let mut d = BinlogDecoder::new(DecoderOptions::default());
    let fed = d.feed_file_bytes(data, name);
    match d.flush() {
        Ok(b) => (rows(&b), fed.err()),
        Err(e) => (0, Some(fed.err().unwrap_or(e))),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn binlog_damaged_fixtures_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let files = binlog_fixtures();
        if files.is_empty() {
            return Ok(());
        }
        let (name, data) = &files[pick.index(files.len())];
        let damaged = damage(data.clone(), &edits);
        let (_n, err) = decode_binlog(name, &damaged);
        if let Some(e) = err {
            assert_input_error(&e);
        }
    }

    #[test]
    fn binlog_random_stream_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut d = BinlogDecoder::new(DecoderOptions::default());
        let _ = d.feed(&data);
        let _ = d.flush();
        let mut file = b"\xfebin".to_vec();
        file.extend_from_slice(&data);
        let _ = decode_binlog("fuzz.000001", &file);
    }
}

// -- MySQL binary JSON --------------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = JsonValue> {
    let leaf = prop_oneof![
        Just(JsonValue::Null),
        any::<bool>().prop_map(JsonValue::Bool),
        any::<i64>().prop_map(JsonValue::Int),
        any::<i16>().prop_map(|v| JsonValue::Int(i64::from(v))),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(JsonValue::Double),
        ".{0,40}".prop_map(JsonValue::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(JsonValue::Array),
            prop::collection::btree_map("[a-z]{1,8}", inner, 0..6)
                .prop_map(|m| JsonValue::Object(m.into_iter().collect())),
        ]
    })
}

/// Encodes a value as MySQL binary JSON (WL#8132): `(type byte, value bytes)`.
fn encode(v: &JsonValue) -> (u8, Vec<u8>) {
    match v {
        JsonValue::Null => (0x04, vec![0]),
        JsonValue::Bool(b) => (0x04, vec![if *b { 1 } else { 2 }]),
        JsonValue::Int(i) => match i16::try_from(*i) {
            Ok(s) => (0x05, s.to_le_bytes().to_vec()),
            Err(_) => (0x09, i.to_le_bytes().to_vec()),
        },
        JsonValue::UInt(u) => (0x0a, u.to_le_bytes().to_vec()),
        JsonValue::Double(d) => (0x0b, d.to_le_bytes().to_vec()),
        JsonValue::String(s) | JsonValue::Opaque(s) => (0x0c, var_string(s.as_bytes())),
        JsonValue::Array(items) => (0x03, container(&[], items)),
        JsonValue::Object(entries) => {
            let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
            let values: Vec<JsonValue> = entries.iter().map(|(_, v)| v.clone()).collect();
            (0x01, container(&keys, &values))
        }
    }
}

fn var_string(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = b.len();
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
    out.extend_from_slice(b);
    out
}

/// A large (4-byte offsets) object or array: count, size, key entries, value entries, keys,
/// values; offsets from the start of the container.
fn container(keys: &[&str], values: &[JsonValue]) -> Vec<u8> {
    let header = 8 + keys.len() * 6 + values.len() * 5;
    let mut tail: Vec<u8> = Vec::new();
    let mut key_entries = Vec::new();
    for k in keys {
        key_entries.extend_from_slice(&((header + tail.len()) as u32).to_le_bytes());
        key_entries.extend_from_slice(&(k.len() as u16).to_le_bytes());
        tail.extend_from_slice(k.as_bytes());
    }
    let mut value_entries = Vec::new();
    for v in values {
        let (t, bytes) = encode(v);
        value_entries.push(t);
        let inline = matches!(t, 0x04 | 0x05);
        if inline {
            let mut word = [0u8; 4];
            word[..bytes.len()].copy_from_slice(&bytes);
            value_entries.extend_from_slice(&word);
        } else {
            value_entries.extend_from_slice(&((header + tail.len()) as u32).to_le_bytes());
            tail.extend_from_slice(&bytes);
        }
    }
    let size = header + tail.len();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out.extend_from_slice(&key_entries);
    out.extend_from_slice(&value_entries);
    out.extend_from_slice(&tail);
    out
}

fn document(v: &JsonValue) -> Vec<u8> {
    let (t, bytes) = encode(v);
    let mut out = vec![t];
    out.extend_from_slice(&bytes);
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_generated_documents_round_trip(v in json_value()) {
        let doc = document(&v);
        prop_assert_eq!(parse_json(&doc), Ok(v));
        let mut text = String::new();
        prop_assert!(to_text(&doc, &mut text).is_ok());
    }

    #[test]
    fn json_damaged_documents_never_panic(
        v in json_value(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let doc = damage(document(&v), &edits);
        let _ = parse_json(&doc);
        let mut text = String::new();
        let _ = to_text(&doc, &mut text);
    }

    #[test]
    fn json_random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_json(&data);
        let mut text = String::new();
        let _ = to_text(&data, &mut text);
    }
}

// -- MySQL text-protocol rows (snapshots) ------------------------------------------------------

/// One column of every type family the snapshot resolves from `information_schema`.
fn text_columns() -> Vec<TextColumn> {
    let c = |t: &str, ct: &str, p: Option<u32>, s: Option<u32>| TextColumn {
        name: format!("c_{t}"),
        data_type: t.into(),
        column_type: ct.into(),
        precision: p,
        scale: s,
        charset: None,
    };
    vec![
        c("tinyint", "tinyint(3) unsigned", None, None),
        c("bigint", "bigint(20)", None, None),
        c("decimal", "decimal(10,2)", Some(10), Some(2)),
        c("decimal", "decimal(50,5)", Some(50), Some(5)),
        c("float", "float", None, None),
        c("date", "date", None, None),
        c("datetime", "datetime(6)", None, None),
        c("time", "time(3)", None, None),
        c("year", "year(4)", None, None),
        c("bit", "bit(12)", Some(12), None),
        c("set", "set('a','b')", None, None),
        c("varchar", "varchar(5)", None, None),
        c("uuid", "uuid", None, None),
        c("inet6", "inet6", None, None),
        c("inet4", "inet4", None, None),
        c("vector", "vector(2)", None, None),
    ]
}

/// A value for a column: text that often parses (digits, dashes, colons, dots), raw bytes, NULL.
fn text_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        "[-0-9:. a-f]{0,40}".prop_map(|s| Some(s.into_bytes())),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_rows_never_panic(
        input in prop::collection::vec(prop::collection::vec(text_value(), 16), 1..8),
    ) {
        let columns = text_columns();
        let mut b = TextRowsBuilder::new("db.t", &columns, vec![], 1, 0, 0, 0).unwrap();
        let mut good = 0;
        for row in &input {
            let values: Vec<Option<&[u8]>> = row.iter().map(|v| v.as_deref()).collect();
            match b.append_row(&values) {
                Ok(()) => good += 1,
                Err(e) => assert_input_error(&e),
            }
        }
        prop_assert_eq!(rows(&b.flush().unwrap()), good);
    }
}
