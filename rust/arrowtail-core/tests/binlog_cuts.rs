//! The binlog decoder's position contract, checked on every fixture binlog cut at every event
//! boundary: a prefix of a binlog (a file still being written, a poll that ended, a connection that
//! dropped) yields exactly the rows of the transactions committed inside it, whole, and a reported
//! position covering exactly those; resuming a fresh decoder at that position — as the MySQL source
//! does after a reconnect, through the replication stream — or feeding the rest to the same
//! decoder yields exactly the rest. Nothing lost, nothing invented, nothing repeated.
//!
//! The 1.4 MB sakila log is cut only in its first 32 KiB (the other files everywhere), and every
//! continuation runs for at most 40 events or 32 KiB past the cut, so that the debug build stays
//! within seconds.

mod cuts;

use std::io::Read;
use std::path::PathBuf;

use arrowtail_core::binlog::event::{kind, EventHeader, HEADER_LEN};
use arrowtail_core::binlog::{file_number, BinlogDecoder};
use cuts::Reference;

/// How far past a cut the continuations run, and how far into a big file cuts are made.
const WINDOW: usize = 32 << 10;
/// At most this many events of continuation (several transactions).
const CONTINUE: usize = 40;

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

/// A decoder as the fixtures need it (json.binlog.000001 has MINIMAL row metadata).
fn decoder() -> BinlogDecoder {
    let mut d = BinlogDecoder::default();
    let names = ["id", "json_col", "name", "age"].map(String::from).to_vec();
    d.set_table_schema("mysql", "t", names, vec!["id".into()]);
    d
}

/// A fixture split into its events: (start, end) file offsets of every event that frames and
/// decodes (a corrupt or truncated file contributes the events before the damage).
struct Binlog {
    name: String,
    data: Vec<u8>,
    events: Vec<(usize, usize)>,
}

impl Binlog {
    fn load(name: &str) -> Option<Self> {
        let data = read(name);
        if data.get(..4) != Some(&[0xFE, b'b', b'i', b'n'][..]) {
            return None;
        }
        let mut events = Vec::new();
        let mut at = 4;
        while let Ok(Some(ev)) = arrowtail_core::binlog::framing::next_file_event(&data, at) {
            events.push((at, at + ev.len()));
            at += ev.len();
        }
        // Keep the events a whole-file decode accepts.
        while let Some(&(_, end)) = events.last() {
            if decoder().feed_file_bytes(&data[..end], name).is_ok() {
                break;
            }
            events.pop();
        }
        Some(Self {
            name: name.to_string(),
            data,
            events,
        })
    }

    fn end(&self) -> usize {
        self.events.last().map_or(4, |e| e.1)
    }

    fn pos(&self, offset: u64) -> u64 {
        (u64::from(file_number(&self.name)) << 32) | offset
    }

    fn event(&self, i: usize) -> &[u8] {
        let (s, e) = self.events[i];
        &self.data[s..e]
    }

    /// True when every event's header `log_pos` is its end in this file (binlogs a server wrote,
    /// not relay logs), so the replication stream reports the same positions as the file.
    fn stream_positions_are_file_positions(&self) -> bool {
        (0..self.events.len()).all(|i| {
            let h = EventHeader::parse(self.event(i)).unwrap();
            h.log_pos == 0 || h.log_pos as usize == self.events[i].1
        })
    }
}

/// A replication-stream packet carrying one event (MySQL protocol: 3-byte length, sequence id,
/// OK byte, event).
fn packet(event: &[u8], seq: u8) -> Vec<u8> {
    let len = event.len() + 1;
    let mut p = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq, 0];
    p.extend_from_slice(event);
    p
}

/// The artificial ROTATE a server sends first on COM_BINLOG_DUMP: file name and start position,
/// log_pos 0, flag LOG_EVENT_ARTIFICIAL_F.
fn artificial_rotate(file: &str, position: u64) -> Vec<u8> {
    let size = HEADER_LEN + 8 + file.len();
    let mut ev = Vec::with_capacity(size);
    ev.extend_from_slice(&0u32.to_le_bytes());
    ev.push(kind::ROTATE);
    ev.extend_from_slice(&1u32.to_le_bytes());
    ev.extend_from_slice(&(size as u32).to_le_bytes());
    ev.extend_from_slice(&0u32.to_le_bytes());
    ev.extend_from_slice(&0x20u16.to_le_bytes());
    ev.extend_from_slice(&position.to_le_bytes());
    ev.extend_from_slice(file.as_bytes());
    ev
}

/// What a dump from `offset` sends: the artificial ROTATE, the file's FORMAT_DESCRIPTION (when
/// the dump starts after it), then every event from `offset` on that ends by `upto`.
fn dump_from(b: &Binlog, offset: usize, upto: usize) -> Vec<u8> {
    let mut out = packet(&artificial_rotate(&b.name, offset as u64), 0);
    let mut seq = 1u8;
    let fde_first = !b.events.is_empty()
        && EventHeader::parse(b.event(0)).unwrap().type_code == kind::FORMAT_DESCRIPTION;
    if fde_first && offset > b.events[0].0 {
        out.extend(packet(b.event(0), seq));
        seq = seq.wrapping_add(1);
    }
    for i in 0..b.events.len() {
        if b.events[i].0 >= offset && b.events[i].1 <= upto {
            out.extend(packet(b.event(i), seq));
            seq = seq.wrapping_add(1);
        }
    }
    out
}

/// The position a decoder reports (0 before any commit).
fn reported(b: &Binlog, d: &BinlogDecoder) -> (usize, u64) {
    match d.last_commit() {
        Some((_, o)) => (o as usize, b.pos(o)),
        None => (4, 0),
    }
}

/// Cuts `b` after every event (the first `WINDOW` bytes of a big file) and checks the prefix, a
/// fresh decoder resumed from the prefix's position, and the same decoder fed the rest.
fn check_cuts(b: &Binlog, full: &Reference) -> usize {
    let name = &b.name;
    let own_positions = b.stream_positions_are_file_positions();
    let mut cuts = 0;
    let bounds = std::iter::once(4).chain(b.events.iter().map(|e| e.1));
    for cut in bounds.filter(|&c| b.data.len() <= 2 * WINDOW || c <= WINDOW) {
        cuts += 1;
        // The continuation: WINDOW bytes or CONTINUE events past the cut, whichever ends first.
        let next = b.events.partition_point(|e| e.1 <= cut);
        let ahead = &b.events[next..(next + CONTINUE).min(b.events.len())];
        let upto = ahead
            .iter()
            .map(|e| e.1)
            .find(|&e| e >= cut + WINDOW)
            .or(ahead.last().map(|e| e.1))
            .unwrap_or(cut);
        // The file as far as it was written (`arrowtail decode` of a cut file).
        let mut d = decoder();
        d.feed_file_bytes(&b.data[..cut], name)
            .unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
        let got = d.flush().unwrap();
        let (start, position) = reported(b, &d);
        let fail = |what: &str, e: String| panic!("{name} cut at {cut}: {what}: {e}");
        full.check(&got, 0, b.pos(cut as u64)).unwrap_or_else(|e| {
            fail(
                "the prefix must give every row committed in it, no other",
                e,
            )
        });
        assert!(start <= cut, "{name} cut at {cut}: position {start}");
        full.check(&got, 0, position)
            .unwrap_or_else(|e| fail("the position must cover exactly the rows given", e));
        if !own_positions {
            continue;
        }
        // A fresh decoder dumping from the position (the MySQL source after a reconnect); with
        // XA transactions prepared and not ended, from before their prepares (this prefix was
        // one poll: its start), dropping what the position covers.
        let mut r = decoder();
        let from = if d.parked_count() > 0 {
            r.set_skip_through(position);
            4
        } else {
            start
        };
        match r.feed(&dump_from(b, from, upto)) {
            Ok(()) => {
                let rest = r.flush().unwrap();
                full.check(&rest, position, b.pos(upto as u64))
                    .unwrap_or_else(|e| fail(&format!("resumed at {start}"), e));
            }
            // A fresh decoder has not seen the document a partial JSON update (a diff) applies
            // to: a clear error, never a wrong value (json.binlog.000001).
            Err(e) if e.to_string().contains("previous document is unknown") => {}
            Err(e) => fail(&format!("resumed at {start}"), e.to_string()),
        }
        // One stream, a poll ending at the cut: the rest goes to the same decoder.
        let mut s = decoder();
        let prefix = dump_from(b, 4, cut);
        s.feed(&prefix).unwrap();
        let first = s.flush().unwrap();
        let (_, p) = reported(b, &s);
        full.check(&first, 0, b.pos(cut as u64))
            .unwrap_or_else(|e| fail("stream: the first poll", e));
        full.check(&first, 0, p)
            .unwrap_or_else(|e| fail("stream: the first poll's position", e));
        let whole = dump_from(b, 4, upto);
        s.feed(&whole[prefix.len()..]).unwrap();
        let second = s.flush().unwrap();
        full.check(&second, p, b.pos(upto as u64))
            .unwrap_or_else(|e| fail("stream: the second poll", e));
    }
    cuts
}

#[test]
fn every_fixture_cut_at_every_event() {
    let (mut files, mut own, mut cuts, mut rows) = (0, 0, 0, 0);
    for name in fixtures() {
        let Some(b) = Binlog::load(&name) else {
            continue;
        };
        let mut whole = decoder();
        whole.feed_file_bytes(&b.data[..b.end()], &name).unwrap();
        let full = Reference::new(&whole.flush().unwrap());
        files += 1;
        own += usize::from(b.stream_positions_are_file_positions());
        rows += full.rows();
        cuts += check_cuts(&b, &full);
    }
    // Guards against a fixture directory that silently shrank or a filter that excludes all.
    assert!(files >= 44, "{files} fixture binlogs read");
    assert!(own >= 30, "only {own} fixtures dumped as a stream");
    assert!(cuts > 1500, "{cuts} cuts");
    assert!(rows > 1000, "{rows} rows in the fixtures");
}
