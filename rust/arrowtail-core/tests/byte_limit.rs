//! The byte limit through the real decoders: pgoutput (the committed real capture), binlog (the
//! committed real binlog files) and COPY BINARY (a stream spelled out here) decode with a small
//! limit into more batches, each ended by the row that brought one of its text, binary or list
//! columns to the limit, and per table and schema version the batches concatenate to exactly what
//! the default limit gives.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use arrow_select::concat::concat_batches;
use arrowtail_core::arrow::ChangeBatch;
use arrowtail_core::binlog::{BinlogDecoder, DecoderOptions};
use arrowtail_core::copy::{CopyColumn, CopyDecoder};
use arrowtail_core::pgoutput::Decoder;

fn fixture(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path);
    let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if path.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        data
    }
}

/// The largest 32-bit offset an array uses (bytes of strings and binaries, elements of lists and
/// their own offsets, the largest of a struct's children).
fn offset_use(a: &dyn Array) -> usize {
    fn span<O: arrow_array::OffsetSizeTrait>(o: &[O]) -> (usize, usize) {
        let (first, last) = (o[0].as_usize(), o[o.len() - 1].as_usize());
        (first, last - first)
    }
    match a.data_type() {
        DataType::Utf8 => span(a.as_string::<i32>().value_offsets()).1,
        DataType::Binary => span(a.as_binary::<i32>().value_offsets()).1,
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let (start, n) = span(l.value_offsets());
            n.max(offset_use(l.values().slice(start, n).as_ref()))
        }
        DataType::Struct(_) => a
            .as_struct()
            .columns()
            .iter()
            .map(|c| offset_use(c.as_ref()))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

fn batch_use(b: &RecordBatch) -> usize {
    b.columns()
        .iter()
        .map(|c| offset_use(c.as_ref()))
        .max()
        .unwrap_or(0)
}

fn by_table(batches: &[ChangeBatch]) -> BTreeMap<(String, u32), Vec<RecordBatch>> {
    let mut m: BTreeMap<(String, u32), Vec<RecordBatch>> = BTreeMap::new();
    for b in batches {
        m.entry((b.table.clone(), b.schema_version))
            .or_default()
            .push(b.batch.clone());
    }
    m
}

/// Checks the batches of a decode with `limit` against those of the default limit; returns how
/// many batches the limit added.
fn check(what: &str, whole: &[ChangeBatch], parts: &[ChangeBatch], limit: usize) -> usize {
    for p in parts {
        let b = &p.batch;
        let before_last = b.slice(0, b.num_rows() - 1);
        assert!(
            batch_use(&before_last) < limit,
            "{what}: a batch of {} went on past the row that reached the limit",
            p.table
        );
    }
    let (whole, parts) = (by_table(whole), by_table(parts));
    assert_eq!(
        whole.keys().collect::<Vec<_>>(),
        parts.keys().collect::<Vec<_>>()
    );
    for (key, w) in &whole {
        let p = &parts[key];
        let schema = w[0].schema();
        assert_eq!(
            concat_batches(&schema, p).unwrap(),
            concat_batches(&schema, w).unwrap(),
            "{what}: {key:?}"
        );
    }
    let count = |m: &BTreeMap<_, Vec<RecordBatch>>| m.values().map(Vec::len).sum::<usize>();
    count(&parts) - count(&whole)
}

#[test]
fn pgoutput_capture_cut_at_a_small_limit_concatenates_to_the_whole() {
    let data = fixture("pgoutput/stream.cap");
    let decode = |limit: Option<usize>| {
        let mut d = Decoder::new();
        if let Some(l) = limit {
            d.set_byte_limit(l);
        }
        d.feed_capture(&data).unwrap();
        d.flush().unwrap()
    };
    let whole = decode(None);
    assert!(whole.iter().map(|b| b.batch.num_rows()).sum::<usize>() > 100);
    let limit = 200;
    let parts = decode(Some(limit));
    assert!(parts.iter().any(|b| batch_use(&b.batch) >= limit));
    let added = check("stream.cap", &whole, &parts, limit);
    assert!(added >= 10, "only {added} more batches");
}

#[test]
fn binlog_files_cut_at_a_small_limit_concatenate_to_the_whole() {
    let files = [
        "binlog/mysql-bin.sakila.gz",
        "binlog/mysql-enum-string-set.000001",
        "binlog/update-full-row.binlog",
        "binlog/update-partial-row.binlog",
        "binlog/mariadb-bin.000001",
        "binlog/vector.binlog",
    ];
    let limit = 100;
    let mut added = 0;
    for path in files {
        let data = fixture(path);
        let name = path.rsplit('/').next().unwrap();
        let decode = |byte_limit| {
            let mut d = BinlogDecoder::new(DecoderOptions {
                byte_limit,
                ..DecoderOptions::default()
            });
            d.feed_file_bytes(&data, name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            d.flush().unwrap()
        };
        let whole = decode(DecoderOptions::default().byte_limit);
        let parts = decode(limit);
        added += check(name, &whole, &parts, limit);
    }
    assert!(added >= 10, "only {added} more batches");
}

/// COPY BINARY of `(id int8, note text, tags text[], blob bytea)` rows.
fn copy_stream(rows: usize) -> Vec<u8> {
    let mut out = b"PGCOPY\n\xff\r\n\0".to_vec();
    out.extend(0u32.to_be_bytes());
    out.extend(0u32.to_be_bytes());
    let field = |out: &mut Vec<u8>, v: &[u8]| {
        out.extend((v.len() as i32).to_be_bytes());
        out.extend(v);
    };
    for i in 0..rows {
        out.extend(4i16.to_be_bytes());
        field(&mut out, &(i as i64).to_be_bytes());
        field(&mut out, "n".repeat(i % 37).as_bytes());
        // A one-dimensional text[] of i % 5 elements: ndim, has-null flag, element type,
        // then length and lower bound of the dimension, then the elements.
        let mut arr = Vec::new();
        arr.extend(1i32.to_be_bytes());
        arr.extend(0i32.to_be_bytes());
        arr.extend(25u32.to_be_bytes());
        arr.extend(((i % 5) as i32).to_be_bytes());
        arr.extend(1i32.to_be_bytes());
        for k in 0..i % 5 {
            field(&mut arr, format!("t{k}").as_bytes());
        }
        field(&mut out, &arr);
        if i % 3 == 0 {
            out.extend((-1i32).to_be_bytes());
        } else {
            field(&mut out, &vec![i as u8; i % 11]);
        }
    }
    out.extend((-1i16).to_be_bytes());
    out
}

#[test]
fn copy_binary_cut_at_a_small_limit_concatenates_to_the_whole() {
    let data = copy_stream(500);
    let columns =
        [("id", 20), ("note", 25), ("tags", 1009), ("blob", 17)].map(|(name, oid)| CopyColumn {
            name: name.into(),
            type_oid: oid,
            typmod: -1,
        });
    let decode = |limit: Option<usize>| {
        let mut d = CopyDecoder::new("public.t", &columns, vec!["id".into()], 1, 42, 0, 0).unwrap();
        if let Some(l) = limit {
            d.set_byte_limit(l);
        }
        // Chunks that do not align with tuples, as COPY data messages arrive.
        for chunk in data.chunks(1000) {
            d.feed(chunk).unwrap();
        }
        d.finish().unwrap();
        d.flush().unwrap()
    };
    let whole = decode(None);
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].batch.num_rows(), 500);
    let limit = 300;
    let parts = decode(Some(limit));
    let added = check("COPY", &whole, &parts, limit);
    assert!(added >= 10, "only {added} more batches");
}
