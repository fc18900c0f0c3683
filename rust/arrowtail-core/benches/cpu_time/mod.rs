//! A criterion measurement of the benchmark thread's on-CPU time instead of wall time.
//!
//! The decoders are single-threaded and do no I/O, so the time the thread spends on a CPU is the
//! cost being measured; on a shared machine, wall time adds however long the thread waited for a
//! core. Linux reports the on-CPU time in nanoseconds as the first field of
//! `/proc/thread-self/schedstat`; where that file cannot be read, wall time is used.

use std::time::Instant;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::Throughput;

/// On-CPU time of the calling thread, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct CpuTime {
    origin: Instant,
}

impl Default for CpuTime {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl CpuTime {
    fn now_ns(&self) -> u64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| self.origin.elapsed().as_nanos() as u64)
    }
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        self.now_ns()
    }
    fn end(&self, start: u64) -> u64 {
        self.now_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

/// Prints nanosecond values as times and throughputs, scaled to a readable unit.
struct NanosFormatter;

/// Picks the unit for `typical` from `units` (steps of `step`) and scales `values` by it.
fn scale(typical: f64, values: &mut [f64], step: f64, units: [&'static str; 4]) -> &'static str {
    let mut div = 1.0;
    let mut unit = units[0];
    for u in &units[1..] {
        if typical < div * step {
            break;
        }
        div *= step;
        unit = u;
    }
    for v in values {
        *v /= div;
    }
    unit
}

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        scale(typical, values, 1000.0, ["ns", "µs", "ms", "s"])
    }

    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let (count, step, units) = match *t {
            Throughput::Bytes(n) => (n, 1024.0, ["B/s", "KiB/s", "MiB/s", "GiB/s"]),
            Throughput::BytesDecimal(n) => (n, 1000.0, ["B/s", "KB/s", "MB/s", "GB/s"]),
            Throughput::Elements(n) => (n, 1000.0, ["elem/s", "Kelem/s", "Melem/s", "Gelem/s"]),
            Throughput::Bits(n) => (n, 1000.0, ["b/s", "Kb/s", "Mb/s", "Gb/s"]),
        };
        let per_sec = |ns: f64| count as f64 * 1e9 / ns;
        for v in values.iter_mut() {
            *v = per_sec(*v);
        }
        scale(per_sec(typical), values, step, units)
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
