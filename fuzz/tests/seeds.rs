//! The committed seed corpus (fuzz/seeds/, tests/fixtures/) is real input that the decoders
//! accept: each seed of our own decodes without error and yields rows or a document, and every
//! fuzz target runs over every seed it is given without a panic. A seed that an API or format
//! change made useless, or a missing seed directory, fails here on the stable toolchain, long before
//! a nightly fuzz run would only start from a worse corpus.

use std::path::{Path, PathBuf};

use arrowtail_core::arrow::ChangeBatch;
use arrowtail_core::binlog::json::{parse, to_text};
use arrowtail_core::binlog::{BinlogDecoder, DecoderOptions};
use arrowtail_core::pgoutput::Decoder;
use arrowtail_fuzz::{copy_decoder, copy_input, input_files};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `dir` (relative to the repository root); fails when there are none.
fn seeds(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let files = input_files([root().join(dir)]).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let seeds: Vec<_> = files
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, data)
        })
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {dir}");
    seeds
}

fn rows(batches: &[ChangeBatch]) -> usize {
    batches.iter().map(|b| b.batch.num_rows()).sum()
}

#[test]
fn pgoutput_seeds_decode_into_rows() {
    let mut total = 0;
    for (path, data) in seeds("fuzz/seeds/pgoutput")
        .into_iter()
        .chain(seeds("tests/fixtures/pgoutput"))
    {
        let mut decoder = Decoder::new();
        decoder
            .feed_capture(&data)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let batches = decoder
            .flush()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(rows(&batches) > 0, "{}: no rows", path.display());
        total += 1;
        arrowtail_fuzz::pgoutput(&data);
    }
    assert!(total >= 10, "only {total} pgoutput seeds");
}

#[test]
fn copy_binary_seeds_decode_every_row() {
    for (path, data) in seeds("fuzz/seeds/copy_binary") {
        let name = path.display();
        let input = copy_input(&data).unwrap_or_else(|| panic!("{name}: header too short"));
        let mut decoder = copy_decoder(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        for part in input.stream.chunks(input.chunk) {
            decoder.feed(part).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        decoder.finish().unwrap_or_else(|e| panic!("{name}: {e}"));
        let batches = decoder.flush().unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every row has its key and every fifth row NULL in all other columns.
        let batch = &batches[0].batch;
        assert!(batch.num_rows() >= 16, "{name}: {} rows", batch.num_rows());
        assert_eq!(batch.column(0).null_count(), 0, "{name}");
        for column in 1..input.columns.len() {
            let nulls = batch.column(column).null_count();
            assert!(
                nulls >= batch.num_rows() / 5,
                "{name}: column {column} has {nulls} nulls"
            );
            assert!(
                nulls < batch.num_rows(),
                "{name}: column {column} is all null"
            );
        }
        arrowtail_fuzz::copy_binary(&data);
    }
}

#[test]
fn binlog_seeds_run_and_the_real_server_files_decode() {
    let mut decoded = 0;
    for (path, data) in seeds("tests/fixtures/binlog") {
        // Some fixtures are damaged on purpose (truncated, bad magic): those only must not panic.
        let mut decoder = BinlogDecoder::new(DecoderOptions::default());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x.000001");
        if decoder.feed_file_bytes(&data, name).is_ok() && decoder.flush().is_ok() {
            decoded += 1;
        }
        arrowtail_fuzz::binlog(&data);
    }
    assert!(decoded >= 30, "only {decoded} binlog fixtures decode");
}

#[test]
fn mysql_json_seeds_parse_as_documents() {
    let mut opaque = 0;
    for (path, data) in seeds("fuzz/seeds/mysql_json") {
        let name = path.display();
        parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut text = String::new();
        to_text(&data, &mut text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!text.is_empty(), "{name}");
        opaque += usize::from(name.to_string().contains("json-opaque"));
        arrowtail_fuzz::mysql_json(&data);
    }
    assert!(opaque > 0, "no seed from json-opaque.binlog");
}
