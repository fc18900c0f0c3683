//! Conformance of the binlog decoder against real binlog files written by MySQL 5.0–9.6, MariaDB
//! and Percona (`tests/fixtures/binlog/`, see its README): every file decodes or fails with a
//! decode error naming the position, known values come out exactly, and truncated or corrupted
//! files never panic.

use std::io::Read;
use std::path::PathBuf;

use arrow_array::{
    Array, BinaryArray, Decimal128Array, DurationMicrosecondArray, Int32Array, ListArray,
    RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::DataType;
use arrowtail_core::arrow::ChangeBatch;
use arrowtail_core::binlog::{BinlogDecoder, XaEvent};
use arrowtail_core::Error;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/binlog")
}

fn read(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        data
    }
}

fn fixtures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".md"))
        .collect();
    v.sort();
    v
}

/// The schema json.binlog.000001's MINIMAL-metadata table needs for its JSON diffs.
fn with_known_schemas(d: &mut BinlogDecoder) {
    let names = ["id", "json_col", "name", "age"].map(String::from).to_vec();
    d.set_table_schema("mysql", "t", names, vec!["id".into()]);
}

fn decode(name: &str) -> (BinlogDecoder, Vec<ChangeBatch>) {
    let mut d = BinlogDecoder::default();
    with_known_schemas(&mut d);
    d.feed_file_bytes(&read(name), name)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let b = d.flush().unwrap();
    (d, b)
}

fn table<'a>(batches: &'a [ChangeBatch], name: &str) -> Vec<&'a RecordBatch> {
    batches
        .iter()
        .filter(|b| b.table == name)
        .map(|b| &b.batch)
        .collect()
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| {
            panic!(
                "column {name} has type {}",
                b.column_by_name(name).unwrap().data_type()
            )
        })
}

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    col::<StringArray>(b, name)
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

const BAD: [&str; 3] = [
    "binlog_truncated_event.000001",
    "binlog_truncated_prev_gtid_event.000001",
    "corrupt-magic.000001",
];

#[test]
fn every_fixture_decodes_or_fails_with_a_positioned_decode_error() {
    let names = fixtures();
    assert!(names.len() >= 45, "fixtures missing: {names:?}");
    for name in names {
        let mut d = BinlogDecoder::default();
        with_known_schemas(&mut d);
        let r = d.feed_file_bytes(&read(&name), &name);
        if BAD.contains(&name.as_str()) {
            match r {
                Err(e @ Error::Decode { .. }) => {
                    assert!(
                        e.to_string().contains(&format!("binlog {name} offset")),
                        "{e}"
                    )
                }
                other => panic!("{name}: expected a decode error, got {other:?}"),
            }
        } else {
            r.unwrap_or_else(|e| panic!("{name}: {e}"));
            d.flush().unwrap();
            assert!(d.stats().events > 0, "{name}");
        }
    }
}

#[test]
fn unsigned_int_from_signedness_metadata() {
    let (_, b) = decode("minimal_row_metadata.000001");
    let t = table(&b, "noria.t1");
    assert_eq!(
        t[0].schema().metadata()["arrowtail.column_names"],
        "generated"
    );
    assert_eq!(col::<UInt32Array>(t[0], "col_5").value(0), 3_230_202_323);
    assert_eq!(strings(t[0], "col_3"), vec![Some("a".to_string())]);
}

#[test]
fn negative_time() {
    let (_, b) = decode("time_issue.000001");
    let t = table(&b, "noria.t");
    let v = col::<DurationMicrosecondArray>(t[0], "col_1").value(0);
    assert_eq!(v, -((507 * 3600 + 48 * 60 + 27) * 1_000_000));
}

#[test]
fn enum_set_and_long_char() {
    let (_, b) = decode("mysql-enum-string-set.000001");
    let t = table(&b, "mysql.t")[0];
    assert_eq!(
        strings(t, "_op"),
        ["c", "u", "d"].map(|s| Some(s.to_string()))
    );
    let f1 = strings(t, "f1");
    assert_eq!(f1[0].as_deref().map(str::len), Some(100));
    assert_eq!(f1[1].as_deref(), Some("field1"));
    assert_eq!(strings(t, "f2")[0].as_deref().map(str::len), Some(298));
    assert_eq!(
        strings(t, "f3"),
        ["var1", "variant2", "variant2"].map(|s| Some(s.to_string()))
    );
    let f4 = col::<ListArray>(t, "f4");
    let first = f4.value(0);
    let first = first.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(first.iter().flatten().collect::<Vec<_>>(), ["one", "three"]);
    // The update's before image is the insert's after image.
    let before = t
        .column_by_name("_before")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::StructArray>()
        .unwrap();
    assert!(before.is_valid(1) && before.is_null(0));
    let bf3 = before.column_by_name("f3").unwrap();
    let bf3 = bf3.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(bf3.value(1), "var1");
}

#[test]
fn bit_columns() {
    let (d, b) = decode("mysql_type_bit.000001");
    let t = table(&b, "mysql.foo")[0];
    assert_eq!(col::<UInt64Array>(t, "a").value(0), 4);
    assert_eq!(col::<UInt64Array>(t, "c").value(0), 32);
    assert_eq!(
        d.last_gtid(),
        Some("fbda2ad0-7c46-11ec-ae30-4ef7efc81a2a:3")
    );
    assert_eq!(col::<UInt64Array>(t, "_xid").value(0), 3);
}

#[test]
fn json_documents_and_partial_update() {
    let (_, b) = decode("json.binlog.000001");
    let t = table(&b, "mysql.t");
    let docs: Vec<String> = t
        .iter()
        .flat_map(|b| strings(b, "json_col"))
        .map(|s| s.unwrap_or_default())
        .collect();
    let ops: Vec<String> = t.iter().flat_map(|b| strings(b, "_op")).flatten().collect();
    assert_eq!(
        docs[0],
        r#"{"age": 24, "data": "xxxxxxxxxx", "name": "Joe"}"#
    );
    assert_eq!(
        docs[6],
        r#"{"age": 25, "data": "xxxxxxxxxx", "name": "Joe"}"#
    );
    // The last transaction is a PARTIAL_UPDATE_ROWS event with MINIMAL images: `$.age` diffs
    // applied to the documents of the earlier update.
    let n = docs.len();
    assert_eq!(ops[n - 1], "u");
    assert!(docs[n - 6..].iter().all(|d| d.contains(r#""data": ""#)));
    assert_eq!(
        docs[n - 6],
        r#"{"age": 26, "data": "xxxxxxxxxx", "name": "Joe"}"#
    );
    assert_eq!(
        docs[n - 5],
        r#"{"age": 34, "data": "yyyyyyyyyy", "name": "Sue"}"#
    );
    assert_eq!(
        docs[n - 4],
        r#"{"age": 42, "data": "zzzzzzzzzz", "name": "Pete"}"#
    );
    // MINIMAL after images leave the key out: it is listed as unchanged, not NULL.
    let unchanged = col::<ListArray>(t[t.len() - 1], "_unchanged");
    let u = unchanged.value(unchanged.len() - 1);
    let u = u.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(u.iter().flatten().collect::<Vec<_>>(), ["id"]);
}

#[test]
fn json_without_schema_fails_clearly() {
    let mut d = BinlogDecoder::default();
    let e = d
        .feed_file_bytes(&read("json.binlog.000001"), "json.binlog.000001")
        .unwrap_err();
    assert!(e.to_string().contains("offset 3750"), "{e}");
    assert!(e.to_string().contains("binlog_row_image=FULL"), "{e}");
}

#[test]
fn compressed_transaction_payloads() {
    let (d, b) = decode("transaction_compression.000001");
    let t = table(&b, "test.tb1")[0];
    assert_eq!(t.num_rows(), 1);
    // Inner events have log_pos 0: rows take the end of the payload event.
    assert_eq!(d.last_commit().map(|(_, o)| o), Some(431));
    let (_, b) = decode("mysql-bin.compressed");
    let t = table(&b, "demo.movies")[0];
    assert_eq!(strings(t, "_op"), vec![Some("u".into())]);
    assert_eq!(
        strings(t, "col_2"),
        vec![Some("Once Upon a Time in the West".into())]
    );
    let (_, b) = decode("mysql-8.0.31-payload.000057");
    let rows: usize = b
        .iter()
        .filter(|x| x.table != "_ddl")
        .map(|x| x.batch.num_rows())
        .sum();
    assert_eq!(rows, 3);
    let pos = col::<UInt64Array>(table(&b, "a.b")[0], "_pos").value(0);
    assert_eq!(pos >> 32, 57);
}

#[test]
fn sakila_rows_and_positions() {
    let (d, b) = decode("mysql-bin.sakila.gz");
    let rows: usize = b
        .iter()
        .filter(|x| x.table != "_ddl")
        .map(|x| x.batch.num_rows())
        .sum();
    assert_eq!(rows, 47_273);
    assert_eq!(d.stats().rows, 47_273);
    // (_pos, _seq) strictly increases within each table.
    for cb in b.iter().filter(|x| x.table != "_ddl") {
        let pos = col::<UInt64Array>(&cb.batch, "_pos");
        let seq = col::<UInt32Array>(&cb.batch, "_seq");
        for i in 1..pos.len() {
            assert!((pos.value(i - 1), seq.value(i - 1)) < (pos.value(i), seq.value(i)));
        }
    }
}

#[test]
fn mariadb_names_pk_and_gtid() {
    let (d, b) = decode("mariadb-bin.000001");
    let t = table(&b, "toddy_test.outbox")[0];
    let names: Vec<String> = t
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        &names[..5],
        ["id", "topic", "event_type", "event", "created"]
    );
    assert_eq!(t.schema().metadata()["arrowtail.primary_key"], "id");
    assert_eq!(
        strings(t, "topic"),
        vec![Some("foo".into()), Some("foo".into())]
    );
    assert_eq!(col::<BinaryArray>(t, "event").value(0), br#"{"foo":1}"#);
    assert_eq!(d.last_gtid(), Some("0-1-2"));
    assert_eq!(col::<UInt64Array>(t, "_xid").value(1), 2);
}

/// `(id, _op, _pos)` of every row of `table`, in order.
fn ops(batches: &[ChangeBatch], name: &str) -> Vec<(i32, String, u64)> {
    let mut out = Vec::new();
    for b in table(batches, name) {
        let ids = col::<Int32Array>(b, "id");
        let pos = col::<UInt64Array>(b, "_pos");
        for (i, op) in strings(b, "_op").into_iter().enumerate() {
            out.push((ids.value(i), op.unwrap(), pos.value(i)));
        }
    }
    out
}

#[test]
fn mariadb_xa_rows_wait_for_their_outcome() {
    // MariaDB 10.11: XA 'keep' (two inserts and an update of xa.t, an insert into xa.u) and XA
    // 'dr''op','q',7 (an insert and a delete) prepared around plain inserts; then XA COMMIT
    // 'keep', XA ROLLBACK of the other, a one-phase XA, and XA 'open' prepared at the end.
    let name = "mariadb-xa.000003";
    let (mut d, b) = decode(name);
    let t = ops(&b, "xa.t");
    let ids: Vec<(i32, &str)> = t.iter().map(|(i, o, _)| (*i, o.as_str())).collect();
    // Nothing of the rolled-back or still prepared transactions; 'keep' at its commit.
    assert_eq!(
        ids,
        [(3, "c"), (1, "c"), (2, "c"), (100, "u"), (5, "c"), (7, "c")]
    );
    let keep_commit = t[1].2;
    assert!(t[0].2 < keep_commit && keep_commit < t[4].2);
    assert!(t[1..4].iter().all(|r| r.2 == keep_commit));
    let u = ops(&b, "xa.u");
    assert_eq!(u.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(u[1].2, keep_commit);
    assert!(u[0].2 < keep_commit);
    let events = d.take_xa_events();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            XaEvent::Prepared { xid, .. } => format!("prepared {xid}"),
            XaEvent::Committed { pos, .. } => format!("committed at {}", *pos == keep_commit),
            XaEvent::Dropped { .. } => "dropped".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "prepared X'6b656570',X'',1",
            "prepared X'6472276f70',X'71',7",
            "committed at true",
            "dropped",
            "prepared X'6f70656e',X'',1",
        ]
    );
    assert_eq!(d.parked_count(), 1);
    assert_eq!(d.stats().discarded_rows, 2);

    // Read again from the start up to a checkpoint at the XA COMMIT: what committed up to
    // there is dropped, what came after is handed on, 'open' is parked again.
    let mut again = BinlogDecoder::default();
    again.set_skip_through(keep_commit);
    again.feed_file_bytes(&read(name), name).unwrap();
    let b = again.flush().unwrap();
    let t: Vec<i32> = ops(&b, "xa.t").iter().map(|r| r.0).collect();
    assert_eq!(t, [5, 7]);
    assert!(ops(&b, "xa.u").is_empty());
    assert_eq!(again.stats().replayed_rows, 2);
    assert!(!again.skipping());
    let events = again.take_xa_events();
    assert!(matches!(
        events[..],
        [
            XaEvent::Prepared { replayed: true, .. },
            XaEvent::Prepared { replayed: true, .. },
            XaEvent::Dropped { .. },
            XaEvent::Dropped { .. },
            XaEvent::Prepared {
                replayed: false,
                ..
            }
        ]
    ));
    assert_eq!(again.parked_count(), 1);
    assert_eq!(
        again.last_commit().map(|(_, o)| o),
        d.last_commit().map(|(_, o)| o)
    );

    // A decoder that starts after the first prepare: the commit names an XID it never saw.
    let data = read(name);
    let mut events = Vec::new();
    let mut at = 4;
    while let Some(ev) = arrowtail_core::binlog::framing::next_file_event(&data, at).unwrap() {
        events.push((at, at + ev.len(), ev[4]));
        at += ev.len();
    }
    let prepare = events.iter().position(|e| e.2 == 38).unwrap();
    let mut cut = data[..events[0].1].to_vec(); // magic and FORMAT_DESCRIPTION
    for &(from, to, _) in &events[prepare + 1..] {
        cut.extend_from_slice(&data[from..to]);
    }
    let mut late = BinlogDecoder::default();
    late.feed_file_bytes(&cut, name).unwrap();
    let t: Vec<i32> = ops(&late.flush().unwrap(), "xa.t")
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(t, [3, 5, 7]);
    assert_eq!(late.stats().xa_unmatched, 1);
    assert_eq!(
        late.take_xa_unmatched().as_deref(),
        Some("X'6b656570',X'',1")
    );
}

#[test]
fn gtid_tagged_and_decimal() {
    let (d, b) = decode("binlog_transaction_with_GTID_TAG.000001");
    assert_eq!(
        d.last_gtid(),
        Some("55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:6")
    );
    let t = table(&b, "test.orders")[0];
    let dec = col::<Decimal128Array>(t, "col_3");
    assert_eq!(dec.data_type(), &DataType::Decimal128(10, 2));
    assert_eq!(dec.value(0), 25_000);
}

#[test]
fn vector_is_a_float_list() {
    let (_, b) = decode("vector.binlog");
    let any_vector = b.iter().any(|cb| {
        cb.batch.schema().fields().iter().any(
            |f| matches!(f.data_type(), DataType::List(i) if i.data_type() == &DataType::Float32),
        )
    });
    assert!(any_vector);
}

#[test]
fn unknown_events_are_skipped_and_counted() {
    let (d, _) = decode("mysql-bin.aurora-padding");
    assert_eq!(d.stats().skipped_unknown, 1);
    let (d, _) = decode("mysql-bin.checksum-crc32");
    assert_eq!(d.stats().checksums_verified, d.stats().events);
    assert_eq!(d.stats().transactions, 60);
}

fn try_decode(data: &[u8], name: &str) {
    let mut d = BinlogDecoder::default();
    let _ = d.feed_file_bytes(data, name);
    let _ = d.flush();
}

#[test]
fn truncations_never_panic() {
    for name in fixtures() {
        let data = read(&name);
        // The 1.4 MB sakila log: its first and last 64 KiB, to keep the debug build quick.
        let cuts: Vec<usize> = if data.len() > 1 << 20 {
            (0..65_536)
                .step_by(997)
                .chain((data.len() - 65_536..data.len()).step_by(997))
                .collect()
        } else {
            (0..data.len()).step_by(997).collect()
        };
        for cut in cuts {
            try_decode(&data[..cut], &name);
        }
    }
}

#[test]
fn byte_flips_never_panic() {
    for name in fixtures() {
        let data = read(&name);
        if data.len() > 1 << 20 {
            continue;
        }
        let mut copy = data.clone();
        // At most ~1000 flips per file so the debug build stays quick on the larger logs.
        let step = (data.len() / 1000).max(7);
        for i in (0..data.len()).step_by(step) {
            copy[i] ^= 0xFF;
            try_decode(&copy, &name);
            copy[i] = data[i];
        }
        // Without checksum verification the flipped bytes reach the value decoders.
        for i in (0..data.len()).step_by(step - 2) {
            copy[i] = copy[i].wrapping_add(1);
            let mut d = BinlogDecoder::new(arrowtail_core::binlog::DecoderOptions {
                verify_checksums: false,
                max_payload: 1 << 24,
                ..Default::default()
            });
            let _ = d.feed_file_bytes(&copy, &name);
            let _ = d.flush();
            copy[i] = data[i];
        }
    }
}

fn unchanged(b: &RecordBatch, row: usize) -> Vec<String> {
    let l = col::<ListArray>(b, "_unchanged");
    if l.is_null(row) {
        return Vec::new();
    }
    let v = l.value(row);
    let s = v.as_any().downcast_ref::<StringArray>().unwrap();
    s.iter().flatten().map(str::to_string).collect()
}

#[test]
fn partial_row_images_mark_absent_columns_unchanged() {
    let (_, b) = decode("update-partial-row.binlog");
    let t = table(&b, "test.ba")[0];
    let ops = strings(t, "_op");
    assert_eq!(ops[4].as_deref(), Some("u"));
    // The update sent col_1 and col_3 only: col_2 is absent, not NULL.
    assert_eq!(unchanged(t, 4), ["col_2"]);
    let c2 = col::<arrow_array::Int32Array>(t, "col_2");
    assert!(c2.is_null(4));
    assert_eq!(col::<arrow_array::Int32Array>(t, "col_3").value(4), 40);
    assert_eq!(ops[5].as_deref(), Some("d"));
    assert_eq!(unchanged(t, 5), ["col_2", "col_3"]);
    // Full images list nothing as unchanged on inserts and updates.
    let (_, b) = decode("update-full-row.binlog");
    let t = table(&b, "test.ba")[0];
    assert!(unchanged(t, 4).is_empty());
}

#[test]
fn in_use_format_description_checksum_verifies() {
    // mariadb-bin.000001 was copied while open: its FDE has LOG_EVENT_BINLOG_IN_USE_F set.
    let data = read("mariadb-bin.000001");
    assert_eq!(data[4 + 17] & 1, 1);
    let (d, _) = decode("mariadb-bin.000001");
    assert_eq!(d.stats().checksums_verified, d.stats().events);
    // Clearing the flag must not break the checksum either (it is excluded from it).
    let mut cleared = data.clone();
    cleared[4 + 17] &= !1;
    let mut d = BinlogDecoder::default();
    d.feed_file_bytes(&cleared, "mariadb-bin.000001").unwrap();
}

/// Batches of a decoder asked for `_gtid`.
fn decode_with_gtid(name: &str) -> Vec<ChangeBatch> {
    let mut d = BinlogDecoder::default();
    d.set_row_gtid(true);
    d.feed_file_bytes(&read(name), name)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    d.flush().unwrap()
}

#[test]
fn row_gtid_names_each_changes_transaction() {
    // MariaDB `domain-server-seq`, per transaction.
    let b = decode_with_gtid("mariadb-bin.000001");
    let t = table(&b, "toddy_test.outbox")[0];
    let gtids = strings(t, "_gtid");
    assert_eq!(gtids.last().cloned().flatten().as_deref(), Some("0-1-2"));
    assert!(gtids.iter().all(Option::is_some), "{gtids:?}");
    // MySQL tagged GTIDs keep their tag.
    let b = decode_with_gtid("binlog_transaction_with_GTID_TAG.000001");
    let t = table(&b, "test.orders")[0];
    assert_eq!(
        strings(t, "_gtid")[0].as_deref(),
        Some("55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:6")
    );
    // MySQL `uuid:gno`, the rows of one transaction alike.
    let b = decode_with_gtid("mysql-5.7.40.000080");
    let t = table(&b, "a.b")[0];
    let gtids = strings(t, "_gtid");
    assert_eq!(
        gtids[0].as_deref(),
        Some("58cf6502-63db-11ed-8079-0242ac110002:53")
    );
    assert_eq!(gtids[1], gtids[0]);
    // An anonymous GTID (gtid_mode=OFF) is no GTID: null (the file's one change is a DDL).
    let b = decode_with_gtid("binlog_transaction_with_anonymous_GTID.000001");
    let rows: Vec<Option<String>> = b
        .iter()
        .flat_map(|cb| strings(&cb.batch, "_gtid"))
        .collect();
    assert_eq!(rows, [None]);
    // Without the option the column is not there.
    let (_, b) = decode("mariadb-bin.000001");
    assert!(b
        .iter()
        .all(|cb| cb.batch.column_by_name("_gtid").is_none()));
}
