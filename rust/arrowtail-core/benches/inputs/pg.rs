//! PostgreSQL inputs built in code from the protocol, so the benches need no server: pgoutput
//! capture files (PostgreSQL docs, "Logical Replication Message Formats"; capture records as in
//! docs/design.md) of the workload of `benches/workloads.py`, in text (proto 1) and binary
//! (proto 2) tuples, and a `COPY ... TO STDOUT (FORMAT binary)` stream of the same rows
//! (docs, "COPY", "Binary Format").
//!
//! The workload matches the Python benchmark's: rows inserted in transactions of 1000, then every
//! tenth row updated (new tuple only, REPLICA IDENTITY DEFAULT) and every twentieth deleted (key
//! tuple), one transaction per statement and block. Values follow the same formulas, printed the
//! way PostgreSQL prints them under the sources' session settings.

use arrowtail_core::copy::CopyColumn;
use arrowtail_core::pgoutput::framing::write_capture_record;
use arrowtail_core::serialize::json::civil_from_days;

/// Rows per transaction, as in the Python workload.
const TX_ROWS: u64 = 1000;
/// Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// 2024-01-01 00:00:00 UTC in µs since the Unix epoch.
const T0_US: i64 = 1_704_067_200_000_000;
/// 2024-01-01 in days since 2000-01-01.
const D0: i32 = 8766;

/// Which table the rows belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// The twelve-column mixed-type table (`bench.mixed`).
    Mixed,
    /// Three columns: bigint, integer, text.
    Narrow,
}

/// Column name, type OID and typmod of each column of `table`.
pub fn columns(table: Table) -> Vec<(&'static str, u32, i32)> {
    match table {
        Table::Mixed => vec![
            ("id", 20, -1),
            ("qty", 23, -1),
            ("small", 21, -1),
            ("price", 1700, ((12 << 16) | 2) + 4),
            ("ratio", 701, -1),
            ("name", 25, -1),
            ("note", 1043, 84),
            ("active", 16, -1),
            ("created", 1184, -1),
            ("day", 1082, -1),
            ("doc", 3802, -1),
            ("uid", 2950, -1),
        ],
        Table::Narrow => vec![("id", 20, -1), ("qty", 23, -1), ("name", 25, -1)],
    }
}

/// The columns as the COPY decoder takes them.
pub fn copy_columns(table: Table) -> Vec<CopyColumn> {
    columns(table)
        .into_iter()
        .map(|(name, type_oid, typmod)| CopyColumn {
            name: name.into(),
            type_oid,
            typmod,
        })
        .collect()
}

/// A deterministic 64-bit mix of `g` (stands in for `md5(g::text)`).
fn mix(g: u64) -> u64 {
    let mut z = g.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash16(g: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&mix(g).to_be_bytes());
    out[8..].copy_from_slice(&mix(g ^ 0xFFFF).to_be_bytes());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `timestamptz` output under DateStyle=ISO, TimeZone=UTC: trailing fraction zeros dropped.
fn timestamptz_text(unix_us: i64) -> String {
    let (days, us) = (
        unix_us.div_euclid(86_400_000_000),
        unix_us.rem_euclid(86_400_000_000),
    );
    let (y, m, d) = civil_from_days(days);
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!(".{frac:06}");
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str("+00");
    s
}

fn date_text(pg_days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(pg_days) + 10_957);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `numeric_send` of a value with two decimals given in hundredths (non-negative): base-10000
/// digits without leading or trailing zero groups, weight of the first group, dscale 2.
fn numeric_binary(cents: u64) -> Vec<u8> {
    let mut groups = Vec::new();
    let mut ip = cents / 100;
    while ip > 0 {
        groups.insert(0, (ip % 10_000) as i16);
        ip /= 10_000;
    }
    let weight = groups.len() as i16 - 1;
    groups.push((cents % 100 * 100) as i16);
    while groups.last() == Some(&0) {
        groups.pop();
    }
    let weight = if groups.is_empty() { 0 } else { weight };
    let mut v = Vec::with_capacity(8 + 2 * groups.len());
    v.extend((groups.len() as i16).to_be_bytes());
    v.extend(weight.to_be_bytes());
    v.extend(0u16.to_be_bytes());
    v.extend(2u16.to_be_bytes());
    for g in groups {
        v.extend(g.to_be_bytes());
    }
    v
}

/// The column values of row `g` (None = NULL), in text or binary form.
pub fn row(table: Table, g: u64, binary: bool, updated: bool) -> Vec<Option<Vec<u8>>> {
    let qty = (g % 1000) as i32 + i32::from(updated);
    let name = if updated {
        format!("name {g} updated")
    } else {
        format!("name {g}")
    };
    if table == Table::Narrow {
        return if binary {
            vec![
                Some((g as i64).to_be_bytes().to_vec()),
                Some(qty.to_be_bytes().to_vec()),
                Some(name.into_bytes()),
            ]
        } else {
            vec![
                Some(g.to_string().into_bytes()),
                Some(qty.to_string().into_bytes()),
                Some(name.into_bytes()),
            ]
        };
    }
    let small = (g % 100) as i16;
    let cents = g * 137;
    let ratio = g as f64 / 7.0;
    let note = (g % 5 != 0).then(|| hex(&hash16(g)).into_bytes());
    let active = g % 2 == 0;
    let created = T0_US + g as i64 * 1_000_123;
    let day = D0 + (g % 365) as i32;
    let doc = format!(r#"{{"k": {g}, "tags": ["a", {}]}}"#, g % 3);
    let uid = hash16(g.wrapping_mul(31));
    if binary {
        let mut jsonb = vec![1u8];
        jsonb.extend(doc.as_bytes());
        vec![
            Some((g as i64).to_be_bytes().to_vec()),
            Some(qty.to_be_bytes().to_vec()),
            Some(small.to_be_bytes().to_vec()),
            Some(numeric_binary(cents)),
            Some(ratio.to_be_bytes().to_vec()),
            Some(name.into_bytes()),
            note,
            Some(vec![u8::from(active)]),
            Some((created - PG_EPOCH_US).to_be_bytes().to_vec()),
            Some(day.to_be_bytes().to_vec()),
            Some(jsonb),
            Some(uid.to_vec()),
        ]
    } else {
        let u = hex(&uid);
        vec![
            Some(g.to_string().into_bytes()),
            Some(qty.to_string().into_bytes()),
            Some(small.to_string().into_bytes()),
            Some(format!("{}.{:02}", cents / 100, cents % 100).into_bytes()),
            Some(format!("{ratio}").into_bytes()),
            Some(name.into_bytes()),
            note,
            Some(if active { b"t".to_vec() } else { b"f".to_vec() }),
            Some(timestamptz_text(created).into_bytes()),
            Some(date_text(day).into_bytes()),
            Some(doc.into_bytes()),
            Some(
                format!(
                    "{}-{}-{}-{}-{}",
                    &u[..8],
                    &u[8..12],
                    &u[12..16],
                    &u[16..20],
                    &u[20..]
                )
                .into_bytes(),
            ),
        ]
    }
}

/// TupleData: Int16 count, then `n` or `t`/`b` + Int32 length + bytes per column.
fn tuple(out: &mut Vec<u8>, values: &[Option<Vec<u8>>], binary: bool) {
    out.extend((values.len() as i16).to_be_bytes());
    for v in values {
        match v {
            None => out.push(b'n'),
            Some(d) => {
                out.push(if binary { b'b' } else { b't' });
                out.extend((d.len() as i32).to_be_bytes());
                out.extend(d);
            }
        }
    }
}

/// Builds a capture file, one record per message, LSNs advancing by each message's length.
struct Capture {
    out: Vec<u8>,
    lsn: u64,
    msg: Vec<u8>,
}

impl Capture {
    fn record(&mut self) {
        write_capture_record(&mut self.out, self.lsn, &self.msg).expect("capture record");
        self.lsn += self.msg.len() as u64;
        self.msg.clear();
    }

    /// One transaction of `changes` (each builds its message into `msg`).
    fn txn(&mut self, xid: u32, ts: i64, changes: &mut dyn Iterator<Item = Vec<u8>>) {
        let body: Vec<Vec<u8>> = changes.collect();
        let size: usize = body.iter().map(Vec::len).sum();
        let commit_lsn = self.lsn + 21 + size as u64;
        self.msg.push(b'B');
        self.msg.extend(commit_lsn.to_be_bytes());
        self.msg.extend(ts.to_be_bytes());
        self.msg.extend(xid.to_be_bytes());
        self.record();
        for m in body {
            self.msg = m;
            self.record();
        }
        self.msg.push(b'C');
        self.msg.push(0);
        self.msg.extend(commit_lsn.to_be_bytes());
        self.msg.extend((commit_lsn + 26).to_be_bytes());
        self.msg.extend(ts.to_be_bytes());
        self.record();
    }
}

/// The pgoutput capture of `rows` inserted rows of `table` plus the updates and deletes of the
/// workload. Returns the capture and the number of row changes in it.
pub fn capture(table: Table, rows: u64, binary: bool) -> (Vec<u8>, u64) {
    const RELID: u32 = 16_384;
    let mut c = Capture {
        out: Vec::new(),
        lsn: 0x1_0000_0000,
        msg: Vec::new(),
    };
    c.msg.push(b'R');
    c.msg.extend(RELID.to_be_bytes());
    c.msg.extend(b"bench\0");
    c.msg.extend(if table == Table::Mixed {
        &b"mixed\0"[..]
    } else {
        &b"narrow\0"[..]
    });
    c.msg.push(b'd');
    let cols = columns(table);
    c.msg.extend((cols.len() as i16).to_be_bytes());
    for (i, (name, oid, typmod)) in cols.iter().enumerate() {
        c.msg.push(u8::from(i == 0));
        c.msg.extend(name.as_bytes());
        c.msg.push(0);
        c.msg.extend(oid.to_be_bytes());
        c.msg.extend(typmod.to_be_bytes());
    }
    c.record();
    let change = |kind: u8, g: u64, updated: bool| {
        let mut m = vec![kind];
        m.extend(RELID.to_be_bytes());
        if kind == b'D' {
            m.push(b'K');
            let mut key = row(table, g, binary, false);
            for v in key.iter_mut().skip(1) {
                *v = None;
            }
            tuple(&mut m, &key, binary);
        } else {
            m.push(b'N');
            tuple(&mut m, &row(table, g, binary, updated), binary);
        }
        m
    };
    let mut xid = 1000u32;
    let mut changes = 0u64;
    let mut ts = T0_US - PG_EPOCH_US;
    let mut start = 1u64;
    while start <= rows {
        let end = (start + TX_ROWS - 1).min(rows);
        xid += 1;
        ts += 1_000_000;
        c.txn(xid, ts, &mut (start..=end).map(|g| change(b'I', g, false)));
        changes += end - start + 1;
        start = end + 1;
    }
    for (kind, keep) in [(b'U', 0u64), (b'D', 1u64)] {
        let step = if kind == b'U' { 10 } else { 20 };
        let mut start = 1u64;
        while start <= rows {
            let end = (start + TX_ROWS - 1).min(rows);
            let ids: Vec<u64> = (start..=end).filter(|g| g % step == keep).collect();
            changes += ids.len() as u64;
            xid += 1;
            ts += 1_000_000;
            c.txn(
                xid,
                ts,
                &mut ids.into_iter().map(|g| change(kind, g, kind == b'U')),
            );
            start = end + 1;
        }
    }
    (c.out, changes)
}

/// A `COPY (...) TO STDOUT (FORMAT binary)` stream of `rows` rows of `table`.
pub fn copy_binary(table: Table, rows: u64) -> Vec<u8> {
    let mut out = b"PGCOPY\n\xff\r\n\0".to_vec();
    out.extend(0i32.to_be_bytes());
    out.extend(0i32.to_be_bytes());
    for g in 1..=rows {
        let values = row(table, g, true, false);
        out.extend((values.len() as i16).to_be_bytes());
        for v in values {
            match v {
                None => out.extend((-1i32).to_be_bytes()),
                Some(d) => {
                    out.extend((d.len() as i32).to_be_bytes());
                    out.extend(d);
                }
            }
        }
    }
    out.extend((-1i16).to_be_bytes());
    out
}
