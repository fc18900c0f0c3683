//! Criterion benches of the core decoders, no server needed: pgoutput captures (text proto 1 and
//! binary proto 2, a mixed-type and a narrow table), COPY BINARY, and binlog files (a MariaDB and
//! a MySQL 8 fixture, repeated into larger files, and the 47,273-row sakila log).
//!
//! Every input is decoded from its bytes to finished change batches (`flush`), as the Python
//! layer does before handing batches to pyarrow, and, beside it in the same group, read by a
//! bare scan ([`scan`]: framing, tuples split, every byte read, no types, no output). Each input is measured twice, once reported as
//! rows/s and once as MB/s, in on-CPU time of the thread (see [`cpu_time`]). Run: `cargo bench -p arrowtail-core --bench decode` (a filter after
//! `--` selects inputs, e.g. `-- pgoutput`); `ARROWTAIL_BENCH_ROWS` sets the pgoutput and COPY
//! row count (default 100000); `ARROWTAIL_BENCH_BINLOG` adds binlog files (`:`-separated) as
//! `binlog/file/NAME`, and `ARROWTAIL_BENCH_CAPTURE` pgoutput captures (the framing of
//! `Decoder::feed_capture`) as `pgoutput/file/NAME`, each with a long-lived decoder beside;
//! `ARROWTAIL_BENCH_SECONDS` sets each bench's measurement time (default 4, warm-up a quarter of
//! it, at most 1).

mod cpu_time;
mod inputs;
mod scan;

use std::hint::black_box;
use std::time::Duration;

use arrowtail_core::binlog::BinlogDecoder;
use arrowtail_core::copy::CopyDecoder;
use arrowtail_core::pgoutput::Decoder;
use cpu_time::CpuTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Criterion measuring on-CPU time (see [`cpu_time`]).
type C = Criterion<CpuTime>;
use inputs::pg::{self, Table};

/// Rows in the batches a decoder produced.
fn rows_of(batches: &[arrowtail_core::arrow::ChangeBatch]) -> u64 {
    batches.iter().map(|b| b.batch.num_rows() as u64).sum()
}

/// One pass of a pgoutput decoder over a capture: fed, then flushed.
fn pgoutput_pass(d: &mut Decoder, data: &[u8]) -> u64 {
    d.feed_capture(data).expect("capture decodes");
    rows_of(&d.flush().expect("flush"))
}

// Kept out of line, so a profiler can count the instructions of one decode.
#[inline(never)]
fn decode_pgoutput(data: &[u8]) -> u64 {
    pgoutput_pass(&mut Decoder::new(), data)
}

#[inline(never)]
fn new_copy_decoder(table: Table) -> CopyDecoder {
    CopyDecoder::new(
        "bench.mixed",
        &pg::copy_columns(table),
        vec!["id".into()],
        1,
        0,
        0,
        0,
    )
    .expect("copy decoder")
}

fn decode_copy(data: &[u8], table: Table) -> u64 {
    copy_pass(&mut new_copy_decoder(table), data)
}

fn copy_pass(d: &mut CopyDecoder, data: &[u8]) -> u64 {
    // Pieces of 64 KiB, which cut tuples (the live source gives the decoder whole `CopyData`
    // messages, one row each): a cut tuple costs only the bytes it takes from the next piece.
    for chunk in data.chunks(64 * 1024) {
        d.feed(chunk).expect("copy decodes");
    }
    d.finish().expect("copy ends");
    rows_of(&d.flush().expect("flush"))
}

/// A snapshot reader's decode after its first piece: one decoder, restarted for every input
/// (`CopyDecoder::restart`), which keeps its vectors' capacity and its null arrays.
fn copy_restarted(table: Table) -> impl Fn(&[u8]) -> u64 {
    let decoder = std::cell::RefCell::new(None::<CopyDecoder>);
    move |data| {
        let mut slot = decoder.borrow_mut();
        let d = match slot.as_mut() {
            Some(d) => {
                d.restart(0).expect("restart");
                d
            }
            None => slot.insert(new_copy_decoder(table)),
        };
        copy_pass(d, data)
    }
}

/// A decode by one long-lived decoder, made once and given every input in turn (`pass` feeds
/// it and flushes); each pass must give the rows of the first.
fn steady<D: Default>(pass: impl Fn(&mut D, &[u8]) -> u64) -> impl Fn(&[u8]) -> u64 {
    let decoder = std::cell::RefCell::new(D::default());
    let first = std::cell::Cell::new(None);
    move |data| {
        let rows = pass(&mut decoder.borrow_mut(), data);
        assert_eq!(
            first.get().unwrap_or(rows),
            rows,
            "a later pass gave other rows"
        );
        first.set(Some(rows));
        rows
    }
}

/// One pass of a binlog decoder over a file's bytes: fed, then flushed.
fn binlog_pass(d: &mut BinlogDecoder, data: &[u8]) -> u64 {
    d.feed_file_bytes(data, "bench-bin.000001")
        .expect("binlog decodes");
    rows_of(&d.flush().expect("flush"))
}

fn decode_binlog(data: &[u8]) -> u64 {
    binlog_pass(&mut BinlogDecoder::default(), data)
}

/// The bench-name filters given on the command line (criterion's positional arguments), so inputs
/// of benches that will not run are not built (it keeps profiles of one bench clean).
fn filters() -> Vec<String> {
    const VALUED: [&str; 6] = [
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--output-format",
        "--color",
        "--plotting-backend",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let after_valued = i > 0 && VALUED.contains(&args[i - 1].as_str());
        if !a.starts_with('-') && a.parse::<f64>().is_err() && !after_valued {
            out.push(a.clone());
        }
    }
    out
}

/// A bare scan of an input (see [`scan`]), measured beside its decoder.
type Scan = fn(&[u8], &mut u64) -> u64;

/// Measures `decode` on the input `make` builds, as rows/s and as MB/s under `name`; with a
/// `scan`, the bare scan of the same input too (`scan_rows`, `scan_bytes`: the decoder's row
/// count over the scan's time), so the decoder's share of the floor is one division.
fn bench(
    c: &mut C,
    name: &str,
    make: &dyn Fn() -> Vec<u8>,
    decode: &dyn Fn(&[u8]) -> u64,
    scan: Option<Scan>,
) {
    let f = filters();
    // A filter may name a group (`pgoutput/text_v1`) or one bench of it (`.../rows`).
    if !f.is_empty()
        && !f
            .iter()
            .any(|f| name.contains(f.as_str()) || f.starts_with(name))
    {
        return;
    }
    let data = &make()[..];
    let rows = decode(data);
    assert!(rows > 0, "{name}: the input decodes to no rows");
    let seconds = std::env::var("ARROWTAIL_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(4.0);
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs_f64((seconds / 4.0).min(1.0)))
        .measurement_time(Duration::from_secs_f64(seconds));
    for (label, t) in [
        ("rows", Throughput::Elements(rows)),
        ("bytes", Throughput::BytesDecimal(data.len() as u64)),
    ] {
        g.throughput(t.clone());
        g.bench_function(label, |b| b.iter(|| decode(black_box(data))));
        if let Some(scan) = scan {
            g.throughput(t);
            g.bench_function(format!("scan_{label}"), |b| {
                b.iter(|| {
                    let mut sink = 0u64;
                    scan(black_box(data), &mut sink);
                    black_box(sink)
                })
            });
        }
    }
    g.finish();
}

/// Benches an input twice, each beside its bare scan: `name` with a fresh decoder for every pass
/// (`fresh`), and `name/steady` with one long-lived decoder given the input again and again and
/// flushed after each (`pass`), as a live stream runs: its buffers are warm, a fresh decoder's
/// are not.
fn fresh_and_steady<D: Default>(
    c: &mut C,
    name: &str,
    make: &dyn Fn() -> Vec<u8>,
    fresh: &dyn Fn(&[u8]) -> u64,
    pass: impl Fn(&mut D, &[u8]) -> u64,
    scan: Scan,
) {
    bench(c, name, make, fresh, Some(scan));
    bench(
        c,
        &format!("{name}/steady"),
        make,
        &steady(pass),
        Some(scan),
    );
}

fn pgoutput(c: &mut C) {
    let rows = std::env::var("ARROWTAIL_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000u64);
    for (table, tname) in [(Table::Mixed, "mixed"), (Table::Narrow, "narrow")] {
        for (binary, form) in [(false, "text_v1"), (true, "binary_v2")] {
            let name = format!("pgoutput/{form}/{tname}");
            let label = name.clone();
            let make = move || {
                let (data, changes) = pg::capture(table, rows, binary);
                assert_eq!(decode_pgoutput(&data), changes, "{label}: rows lost");
                data
            };
            fresh_and_steady(
                c,
                &name,
                &make,
                &decode_pgoutput,
                pgoutput_pass,
                scan::pgoutput,
            );
        }
        let make = move || pg::copy_binary(table, rows);
        bench(
            c,
            &format!("copy_binary/{tname}"),
            &make,
            &move |d| decode_copy(d, table),
            None,
        );
        bench(
            c,
            &format!("copy_binary/{tname}/restarted"),
            &make,
            &copy_restarted(table),
            None,
        );
    }
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/pgoutput/stream.cap");
    let make = move || std::fs::read(&real).expect("tests/fixtures/pgoutput/stream.cap");
    bench(c, "pgoutput/real_capture", &make, &decode_pgoutput, None);
    // Captures of a real workload, when given (e.g. those `benches.run` records): fresh and
    // long-lived decoders, each beside the bare scan of the same bytes.
    for (name, make) in given_files("ARROWTAIL_BENCH_CAPTURE", "pgoutput/file") {
        fresh_and_steady(
            c,
            &name,
            &make,
            &decode_pgoutput,
            pgoutput_pass,
            scan::pgoutput,
        );
    }
}

/// The files a `:`-separated path list in the variable `var` names, each as a bench name under
/// `prefix` (`prefix/FILE`) and a maker of its bytes.
fn given_files(var: &str, prefix: &str) -> Vec<(String, impl Fn() -> Vec<u8>)> {
    let var = var.to_owned();
    std::env::split_paths(&std::env::var_os(&var).unwrap_or_default())
        .map(|path| {
            let name = format!(
                "{prefix}/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            let var = var.clone();
            (name, move || {
                std::fs::read(&path).unwrap_or_else(|e| panic!("{var} file {path:?}: {e}"))
            })
        })
        .collect()
}

fn binlog(c: &mut C) {
    for (name, file, times) in [
        ("binlog/mariadb_10_5_x2000", "mariadb-bin.000001", 2000),
        ("binlog/mysql_8_0_x500", "mysql-enum-string-set.000001", 500),
    ] {
        let make =
            move || inputs::binlog::repeat_transactions(&inputs::binlog::fixture(file), times);
        fresh_and_steady(c, name, &make, &decode_binlog, binlog_pass, scan::binlog);
    }
    let make = || inputs::binlog::fixture("mysql-bin.sakila.gz");
    bench(
        c,
        "binlog/mysql_5_5_sakila",
        &make,
        &decode_binlog,
        Some(scan::binlog),
    );
    // Binlog files of a real workload, when given (e.g. the MariaDB run of `benches.run`).
    for (name, make) in given_files("ARROWTAIL_BENCH_BINLOG", "binlog/file") {
        fresh_and_steady(c, &name, &make, &decode_binlog, binlog_pass, scan::binlog);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime::default());
    targets = pgoutput, binlog
}
criterion_main!(benches);
