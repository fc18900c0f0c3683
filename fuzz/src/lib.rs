//! The bodies of the fuzz targets, one function per decoder, taking arbitrary bytes. Decoding may
//! fail with an error value; it must never panic or hang. cargo-fuzz calls them from the
//! libFuzzer entry points in `fuzz_targets/`; stable builds call them from the same binaries as
//! replayers ([`replay_main`]) and from `tests/seeds.rs`, so they compile and run in every CI run.

use std::path::{Path, PathBuf};

use arrowtail_core::binlog::json::{parse, to_text};
use arrowtail_core::binlog::{BinlogDecoder, DecoderOptions};
use arrowtail_core::copy::{CopyColumn, CopyDecoder};
use arrowtail_core::pgoutput::Decoder;

/// Arbitrary bytes as a pgoutput capture file, as one message and as one CopyData frame.
pub fn pgoutput(data: &[u8]) {
    let mut capture = Decoder::new();
    let _ = capture.feed_capture(data);
    let _ = capture.flush();

    let mut live = Decoder::new();
    let _ = live.feed_message(data, 1);
    let _ = live.feed_frame(data);
    let _ = live.flush();
}

/// The column types a `copy_binary` input can pick from (OIDs the binary codecs know): bool,
/// bytea, int8, int2, int4, text, oid, json, float4, float8, varchar, date, time, timestamp,
/// timestamptz, interval, numeric, uuid, jsonb, int4[], text[].
pub const COPY_TYPES: [u32; 21] = [
    16, 17, 20, 21, 23, 25, 26, 114, 700, 701, 1043, 1082, 1083, 1114, 1184, 1186, 1700, 2950,
    3802, 1007, 1009,
];

/// A `copy_binary` input taken apart: the table's columns, the chunk size the stream is fed in,
/// and the `COPY ... (FORMAT binary)` stream itself.
#[derive(Debug)]
pub struct CopyInput<'a> {
    pub columns: Vec<CopyColumn>,
    pub chunk: usize,
    pub stream: &'a [u8],
}

/// Splits a `copy_binary` input: byte 0 gives the column count (`% 8 + 1`), byte 1 the chunk
/// size (0 means 1), then one byte per column picks its type from [`COPY_TYPES`] (modulo its
/// length); the rest is the stream. `None` when the input is too short for its own header.
pub fn copy_input(data: &[u8]) -> Option<CopyInput<'_>> {
    let [count, chunk, rest @ ..] = data else {
        return None;
    };
    let ncols = usize::from(*count % 8) + 1;
    if rest.len() < ncols {
        return None;
    }
    let (picks, stream) = rest.split_at(ncols);
    let columns = picks
        .iter()
        .enumerate()
        .map(|(i, p)| CopyColumn {
            name: format!("c{i}"),
            type_oid: COPY_TYPES[usize::from(*p) % COPY_TYPES.len()],
            typmod: -1,
        })
        .collect();
    Some(CopyInput {
        columns,
        chunk: usize::from(*chunk).max(1),
        stream,
    })
}

/// A decoder for the table a `copy_binary` input describes (primary key `c0`); the error as text.
pub fn copy_decoder(input: &CopyInput<'_>) -> Result<CopyDecoder, String> {
    CopyDecoder::new(
        "public.fuzz",
        &input.columns,
        vec!["c0".into()],
        1,
        16,
        0,
        0,
    )
    .map_err(|e| e.to_string())
}

/// A `COPY ... (FORMAT binary)` stream for a table whose column types the input picks (see
/// [`copy_input`]), fed in chunks of the size it picks, so chunk boundaries are fuzzed too.
pub fn copy_binary(data: &[u8]) {
    let Some(input) = copy_input(data) else {
        return;
    };
    let Ok(mut decoder) = copy_decoder(&input) else {
        return;
    };
    for part in input.stream.chunks(input.chunk) {
        if decoder.feed(part).is_err() {
            return;
        }
    }
    let _ = decoder.finish();
    let _ = decoder.flush();
}

/// Arbitrary bytes as a binlog file (after the magic) and as a replication stream of events.
pub fn binlog(data: &[u8]) {
    let mut file = BinlogDecoder::new(DecoderOptions::default());
    let _ = file.feed_file_bytes(data, "fuzz.000001");
    let _ = file.flush();

    let mut stream = BinlogDecoder::new(DecoderOptions::default());
    let _ = stream.feed(data);
    let _ = stream.flush();
}

/// MySQL's binary JSON format, parsed to a value and rendered as text.
pub fn mysql_json(data: &[u8]) {
    let _ = parse(data);
    let mut text = String::new();
    let _ = to_text(data, &mut text);
}

/// The files named by `args`, directories expanded one level, in name order.
pub fn input_files(args: impl IntoIterator<Item = PathBuf>) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for arg in args {
        if arg.is_dir() {
            let mut inner = std::fs::read_dir(&arg)?
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<Vec<_>>>()?;
            inner.retain(|p| p.is_file());
            inner.sort();
            files.extend(inner);
        } else {
            files.push(arg);
        }
    }
    Ok(files)
}

/// `main` of a target built without libFuzzer: runs `target` over every file (or directory of
/// files) named on the command line, e.g. a crash input from `fuzz/artifacts/<target>/`, and says
/// which file it is at, so a panic names its input. Exits 2 when a file cannot be read.
pub fn replay_main(name: &str, target: fn(&[u8])) {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if args.is_empty() {
        eprintln!("usage: {name} FILE|DIR...  (runs the {name} fuzz target over the inputs)");
        std::process::exit(2);
    }
    let files = input_files(args).unwrap_or_else(|e| fail(name, Path::new("."), &e));
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| fail(name, file, &e));
        eprintln!("{name}: {}", file.display());
        target(&data);
    }
    eprintln!("{name}: {} inputs, no panic", files.len());
}

fn fail(name: &str, path: &Path, err: &std::io::Error) -> ! {
    eprintln!("{name}: cannot read {}: {err}", path.display());
    std::process::exit(2);
}
