//! The binlog decoder state machine: feed it binlog files or replication-stream bytes, it tracks
//! the format description, table maps and the open transaction, decodes row events into change
//! builders, and hands out committed rows as change batches on [`BinlogDecoder::flush`].
//!
//! Rows of a transaction get `_pos` = (file number << 32) | end offset of the commit event and
//! `_commit_ts` = that event's header time. `flush` emits every committed row and never an
//! uncommitted one: when a transaction is open (a poll, a file or a connection ended inside it),
//! the committed rows of the tables it wrote to are cut from the builders and handed out, and its
//! own rows wait for its commit.

// The shared error enum carries a Location with a file name; boxing it is the error module's call.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;

use crate::arrow::{ChangeBatch, ChangeBuilder, SchemaVersions, SharedSchemaVersions};
use crate::error::{Error, Result};
use crate::types::mysql::value::Scratch;

use super::event::{self, kind, Checksum, EventHeader, FormatDescription, HEADER_LEN};
use super::file_number;
use super::framing::{self, Packet, MAX_PACKET};
use super::rows::{self, ResolvedTable};
use super::table_map::TableMap;
use super::txn::{ColumnDetail, Gtid, Txn};

/// Options of a [`BinlogDecoder`].
#[derive(Debug, Clone)]
pub struct DecoderOptions {
    /// The stream has semi-sync headers (`ef` + ack flag after the OK byte).
    pub semi_sync: bool,
    /// Verify CRC32 checksums when the FORMAT_DESCRIPTION announces them.
    pub verify_checksums: bool,
    /// Largest decompressed TRANSACTION_PAYLOAD accepted.
    pub max_payload: usize,
    /// Bytes (or list elements) of one text, binary or list column at which a batch is cut; see
    /// [`crate::arrow::ChangeBuilder::set_byte_limit`]. Small limits are for tests.
    pub byte_limit: usize,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        Self {
            semi_sync: false,
            verify_checksums: true,
            max_payload: 1 << 30,
            byte_limit: crate::arrow::change::BYTE_LIMIT,
        }
    }
}

/// A data change the binlog holds as a statement (`INSERT`, `UPDATE`, `DELETE`, `REPLACE`
/// written by a session in `STATEMENT` or `MIXED` format), which the decoder cannot turn into
/// rows: where it is, for the source to say which table lost them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedStatement {
    /// The session's default database.
    pub database: String,
    pub statement: String,
    pub file: String,
    /// Offset of the QUERY event.
    pub offset: u64,
}

/// Statements kept for [`BinlogDecoder::take_skipped_statements`] between two calls.
pub const SKIPPED_KEPT: usize = 64;

/// Counters of a decoder.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecoderStats {
    pub events: u64,
    pub rows: u64,
    pub transactions: u64,
    pub ddl: u64,
    /// Events of unknown type, skipped.
    pub skipped_unknown: u64,
    /// Statement-based DML QUERY events (not row changes), skipped.
    pub skipped_statements: u64,
    /// Rows dropped because their transaction rolled back or never committed.
    pub discarded_rows: u64,
    pub heartbeats: u64,
    pub checksums_verified: u64,
    /// Zero/invalid temporal values stored as null.
    pub invalid_temporal: u64,
    /// Text values with bytes invalid in their charset.
    pub replaced_text: u64,
    /// XA transactions prepared (their rows parked until the outcome).
    pub xa_prepared: u64,
    /// `XA COMMIT`s of transactions prepared before the decoder's first event: their rows were
    /// never seen.
    pub xa_unmatched: u64,
    /// Rows of transactions at or before the skip-through position, dropped.
    pub replayed_rows: u64,
}

/// A DDL statement at which [`BinlogDecoder::feed_until_ddl`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlQuery {
    /// The default database of the statement (the QUERY event's schema), maybe empty.
    pub database: String,
    /// The statement text (invalid UTF-8 replaced), as the `_ddl` row holds it.
    pub statement: String,
    /// Binlog file of the event.
    pub file: String,
    /// Where the event starts in its file.
    pub offset: u64,
    /// Where the next event starts.
    pub end: u64,
}

/// Hashing of table ids: every TABLE_MAP and every rows event looks its table up by id, and
/// SipHash of the id cost about as much as the rest of the lookup. Table ids are numbers the
/// server assigns, not input chosen to collide, so one multiplication by 2^64 / phi (Fibonacci
/// hashing) spreads them well enough.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TableIds;

impl std::hash::BuildHasher for TableIds {
    type Hasher = TableIdHasher;
    fn build_hasher(&self) -> TableIdHasher {
        TableIdHasher(0)
    }
}

/// The hasher of [`TableIds`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TableIdHasher(u64);

impl std::hash::Hasher for TableIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; any other write still gives a deterministic hash.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Decoder of MySQL/MariaDB row-based binlogs into change batches.
#[derive(Debug)]
pub struct BinlogDecoder {
    pub(crate) opts: DecoderOptions,
    pub(crate) file: String,
    pub(crate) file_number: u32,
    pub(crate) fde: FormatDescription,
    saw_fde: bool,
    /// Table id -> (TABLE_MAP body it was resolved from, resolved table). Servers repeat the
    /// same TABLE_MAP before every rows event; an identical body is not resolved again.
    pub(crate) tables: HashMap<u64, (Vec<u8>, Arc<ResolvedTable>), TableIds>,
    /// Table name -> (builder index, schema version) of its latest shape.
    pub(crate) current_version: HashMap<String, (usize, u32)>,
    pub(crate) builders: Vec<ChangeBuilder>,
    pub(crate) txn: Txn,
    /// Committed rows taken out of their builders while a transaction was open (builder index,
    /// rows), in commit order; the next flush hands them out before the builders' rows.
    pub(crate) ready: Vec<(usize, RecordBatch)>,
    pub(crate) schemas: HashMap<(String, String), (Vec<String>, Vec<String>)>,
    /// Per table: column details a MINIMAL TABLE_MAP leaves out (see [`ColumnDetail`]).
    pub(crate) details: HashMap<(String, String), Vec<ColumnDetail>>,
    pub(crate) stats: DecoderStats,
    pub(crate) scratch: Scratch,
    /// Per table: last JSON documents by primary key (see [`rows::JsonCache`]).
    pub(crate) json_cache: HashMap<String, rows::JsonCache>,
    stream_buf: Vec<u8>,
    multi: Option<Vec<u8>>,
    stream_offset: u64,
    stream_ended: bool,
    pub(crate) last_commit: Option<(String, u64)>,
    /// GTID of the last committed transaction, and its text once asked for.
    last_gtid: Option<Gtid>,
    last_gtid_text: OnceLock<String>,
    pub(crate) maria_state: BTreeMap<u32, (u32, u64)>,
    /// (file, end position) of the last event the server wants a semi-sync ACK for.
    pending_ack: Option<(String, u64)>,
    /// The run-wide numbering of schema versions, when shared.
    pub(crate) schema_versions: Option<SharedSchemaVersions>,
    /// How the transaction whose rows were taken out early ended, until asked.
    pub(crate) taken_outcome: Option<super::txn::TakenOutcome>,
    /// Set while [`Self::feed_until_ddl`] runs: a DDL statement ends the feeding.
    pub(crate) stop_at_ddl: bool,
    /// The DDL statement feeding stopped at.
    pub(crate) ddl_stop: Option<DdlQuery>,
    /// Prepared XA transactions waiting for their outcome, in prepare order.
    pub(crate) parked: Vec<super::xa::Parked>,
    /// Id of the last transaction parked.
    pub(crate) next_parked: u64,
    /// XA prepares and outcomes not yet taken by the source.
    pub(crate) xa_events: Vec<super::xa::XaEvent>,
    /// XID of an `XA COMMIT` whose prepare this decoder never saw, until asked.
    pub(crate) xa_unmatched: Option<String>,
    /// Data changes logged as statements (a session writing in `STATEMENT` or `MIXED` format),
    /// which carry no rows, until asked: see [`SkippedStatement`].
    pub(crate) skipped: Vec<SkippedStatement>,
    /// Transactions committing at or before this `_pos` are dropped (see `set_skip_through`).
    pub(crate) skip_through: Option<u64>,
    /// Batches carry `_gtid` (see [`BinlogDecoder::set_row_gtid`]).
    pub(crate) row_gtid: bool,
}

impl Default for BinlogDecoder {
    fn default() -> Self {
        Self::new(DecoderOptions::default())
    }
}

impl BinlogDecoder {
    /// A decoder with no state.
    pub fn new(opts: DecoderOptions) -> Self {
        Self {
            opts,
            file: String::new(),
            file_number: 0,
            fde: FormatDescription::default(),
            saw_fde: false,
            tables: HashMap::default(),
            current_version: HashMap::new(),
            builders: Vec::new(),
            txn: Txn::default(),
            ready: Vec::new(),
            schemas: HashMap::new(),
            details: HashMap::new(),
            stats: DecoderStats::default(),
            scratch: Scratch::default(),
            json_cache: HashMap::new(),
            stream_buf: Vec::new(),
            multi: None,
            stream_offset: 4,
            stream_ended: false,
            last_commit: None,
            last_gtid: None,
            last_gtid_text: OnceLock::new(),
            maria_state: BTreeMap::new(),
            pending_ack: None,
            schema_versions: None,
            taken_outcome: None,
            stop_at_ddl: false,
            ddl_stop: None,
            parked: Vec::new(),
            next_parked: 0,
            xa_events: Vec::new(),
            xa_unmatched: None,
            skipped: Vec::new(),
            skip_through: None,
            row_gtid: false,
        }
    }

    /// Has batches carry the optional `_gtid` column: each change's transaction's GTID (null
    /// without one), for consumers that name a change's transaction as Debezium does. Applies to
    /// tables first seen after the call.
    pub fn set_row_gtid(&mut self, on: bool) {
        self.row_gtid = on;
    }

    /// Numbers the schema versions of this decoder's batches with `versions`, shared with the
    /// other decoders of the source (see [`SchemaVersions`]); without it the decoder's own
    /// numbers stay.
    pub fn share_schema_versions(&mut self, versions: SharedSchemaVersions) {
        self.schema_versions = Some(versions);
    }

    /// Names and primary key of a table whose TABLE_MAP carries no column names (MINIMAL row
    /// metadata). Used for table maps read after this call.
    pub fn set_table_schema(
        &mut self,
        database: &str,
        table: &str,
        names: Vec<String>,
        primary_key: Vec<String>,
    ) {
        self.schemas.insert(
            (database.to_string(), table.to_string()),
            (names, primary_key),
        );
    }

    /// Signedness, collation and ENUM/SET labels of a table's columns, in column order, for
    /// TABLE_MAPs that carry no optional metadata (`binlog_row_metadata = MINIMAL`). They fill
    /// only what a TABLE_MAP read after this call leaves out, and only when the column counts
    /// agree.
    pub fn set_column_details(&mut self, database: &str, table: &str, details: Vec<ColumnDetail>) {
        self.details
            .insert((database.to_string(), table.to_string()), details);
    }

    /// Counters.
    pub fn stats(&self) -> DecoderStats {
        let mut s = self.stats;
        s.invalid_temporal = self.scratch.stats.invalid_temporal;
        s.replaced_text = self.scratch.stats.replaced_text;
        s
    }

    /// (file, end offset) of the last committed transaction.
    pub fn last_commit(&self) -> Option<(&str, u64)> {
        self.last_commit.as_ref().map(|(f, o)| (f.as_str(), *o))
    }

    /// The data changes logged as statements since the last call (at most [`SKIPPED_KEPT`] of
    /// them; the `skipped_statements` count has them all).
    pub fn take_skipped_statements(&mut self) -> Vec<SkippedStatement> {
        std::mem::take(&mut self.skipped)
    }

    /// GTID of the last committed transaction (`uuid:gno` or MariaDB `domain-server-seq`).
    pub fn last_gtid(&self) -> Option<&str> {
        let g = self.last_gtid.as_ref()?;
        Some(self.last_gtid_text.get_or_init(|| g.text()))
    }

    /// Records the GTID of a transaction that committed.
    pub(crate) fn set_last_gtid(&mut self, gtid: Gtid) {
        self.last_gtid = Some(gtid);
        self.last_gtid_text = OnceLock::new();
    }

    /// MariaDB GTID state (`domain-server-seq` per domain, comma-separated), from GTID_LIST
    /// events and committed transactions.
    pub fn mariadb_gtid_state(&self) -> String {
        self.maria_state
            .iter()
            .map(|(d, (s, n))| format!("{d}-{s}-{n}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The binlog file currently being decoded.
    pub fn current_file(&self) -> &str {
        &self.file
    }

    /// Takes the (file, position) a semi-sync ACK should now be sent for: the end of the last
    /// event whose packet asked for one (ack flag in the `ef` header), once it is decoded.
    pub fn take_ack(&mut self) -> Option<(String, u64)> {
        self.pending_ack.take()
    }

    /// True when the stream sent its EOF packet.
    pub fn stream_ended(&self) -> bool {
        self.stream_ended
    }

    /// Decodes a whole binlog file (magic, then events). A transaction left open at the end (a
    /// file still being written) stays pending and continues in the next input.
    pub fn feed_file_bytes(&mut self, data: &[u8], file_name: &str) -> Result<()> {
        self.set_file(file_name);
        framing::check_magic(data).map_err(|d| Error::decode("binlog file", self.loc(0), d))?;
        let mut at = 4usize;
        loop {
            let ev = framing::next_file_event(data, at)
                .map_err(|d| Error::decode("binlog event", self.loc(at as u64), d))?;
            let Some(ev) = ev else { break };
            let end = (at + ev.len()) as u64;
            self.handle_event(ev, at as u64, end, false)?;
            at += ev.len();
        }
        Ok(())
    }

    /// Feeds bytes of the replication stream (MySQL packets as sent after COM_BINLOG_DUMP).
    /// Partial packets are kept until the next call.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<()> {
        if !self.stream_buf.is_empty() {
            // The packet held back from an earlier call takes only the bytes it lacks, so the
            // rest of `bytes` is framed where it lies instead of being copied behind it.
            let mut buf = std::mem::take(&mut self.stream_buf);
            loop {
                let need = packet_need(&buf);
                if buf.len() >= need {
                    break;
                }
                if !crate::reader::top_up(&mut buf, &mut bytes, need) {
                    self.stream_buf = buf;
                    return Ok(());
                }
            }
            let mut at = 0usize;
            let result = self.feed_packets(&buf, &mut at);
            buf.drain(..at);
            if let Err(e) = result {
                buf.extend_from_slice(bytes);
                self.stream_buf = buf;
                return Err(e);
            }
            debug_assert!(buf.is_empty(), "one whole packet was given");
            buf.clear();
            self.stream_buf = buf;
        }
        let mut at = 0usize;
        let result = self.feed_packets(bytes, &mut at);
        self.stream_buf.extend_from_slice(&bytes[at..]);
        result
    }

    /// Like [`Self::feed`], but stops right after a QUERY event holding a DDL statement (any
    /// statement that becomes a `_ddl` row; not BEGIN, COMMIT, ROLLBACK, SAVEPOINT, XA or
    /// statement-based DML). Returns how many of `bytes` were consumed and the statement, so
    /// that a caller keeping a schema history (MINIMAL row metadata: TABLE_MAPs without names)
    /// applies it before the events after it are decoded, then feeds `bytes[consumed..]`.
    /// Without a stop every byte is consumed (a partial packet is kept, as by `feed`).
    pub fn feed_until_ddl(&mut self, bytes: &[u8]) -> Result<(usize, Option<DdlQuery>)> {
        let mut buf = std::mem::take(&mut self.stream_buf);
        let carried = buf.len();
        buf.extend_from_slice(bytes);
        let mut at = 0usize;
        self.stop_at_ddl = true;
        let result = self.feed_packets(&buf, &mut at);
        self.stop_at_ddl = false;
        let stop = self.ddl_stop.take();
        if result.is_ok() && stop.is_some() {
            // A packet held back from an earlier call is incomplete, so the DDL's packet ends
            // in `bytes`; what follows it goes back to the caller.
            buf.clear();
            self.stream_buf = buf;
            return Ok((at.saturating_sub(carried), stop));
        }
        buf.drain(..at);
        self.stream_buf = buf;
        result.map(|()| (bytes.len(), None))
    }

    fn feed_packets(&mut self, buf: &[u8], at: &mut usize) -> Result<()> {
        while let Some((payload, next)) = framing::next_packet(buf, *at) {
            if self.ddl_stop.is_some() {
                break;
            }
            *at = next;
            if let Some(mut acc) = self.multi.take() {
                acc.extend_from_slice(payload);
                if payload.len() == MAX_PACKET {
                    self.multi = Some(acc);
                } else {
                    self.handle_packet(&acc)?;
                }
                continue;
            }
            if payload.len() == MAX_PACKET {
                self.multi = Some(payload.to_vec());
                continue;
            }
            self.handle_packet(payload)?;
        }
        Ok(())
    }

    fn handle_packet(&mut self, payload: &[u8]) -> Result<()> {
        let at = self.loc(self.stream_offset);
        match framing::parse_packet(payload, self.opts.semi_sync)
            .map_err(|d| Error::decode("replication packet", at.clone(), d))?
        {
            Packet::Eof => {
                self.stream_ended = true;
                Ok(())
            }
            Packet::Error { code, message } => Err(Error::Server {
                what: "replication stream",
                code: code.to_string(),
                at,
                message,
            }),
            Packet::Event { event, ack } => {
                let h = EventHeader::parse(event)
                    .map_err(|e| Error::decode("binlog event header", at.clone(), e.to_string()))?;
                let size = u64::from(h.event_size);
                // log_pos is the end of the event in its file; 0 for artificial events.
                let (start, end) = if h.log_pos != 0 && u64::from(h.log_pos) >= size {
                    (u64::from(h.log_pos) - size, u64::from(h.log_pos))
                } else {
                    (self.stream_offset, self.stream_offset)
                };
                self.handle_event(event, start, end, false)?;
                if h.log_pos != 0 {
                    self.stream_offset = end;
                }
                if ack {
                    self.pending_ack = Some((self.file.clone(), end));
                }
                Ok(())
            }
        }
    }

    fn set_file(&mut self, name: &str) {
        if self.file != name {
            self.file = name.to_string();
            self.file_number = file_number(name);
        }
    }

    /// Handles one event. `offset` is where it starts in its file and `end` where the next event
    /// starts (for events inside a TRANSACTION_PAYLOAD: the payload event's).
    pub(crate) fn handle_event(
        &mut self,
        ev: &[u8],
        offset: u64,
        end: u64,
        in_payload: bool,
    ) -> Result<()> {
        let de = |s: &Self, what: &'static str, d: String| Error::decode(what, s.loc(offset), d);
        let h =
            EventHeader::parse(ev).map_err(|e| de(self, "binlog event header", e.to_string()))?;
        if h.event_size as usize != ev.len() {
            return Err(de(
                self,
                "binlog event",
                format!("event size {} but {} bytes framed", h.event_size, ev.len()),
            ));
        }
        self.stats.events += 1;
        if h.type_code == kind::FORMAT_DESCRIPTION {
            return self.handle_fde(ev, &h, offset);
        }
        let mut len = ev.len();
        if self.fde.checksum == Checksum::Crc32 && !in_payload {
            if self.opts.verify_checksums {
                event::verify_crc32(ev, false).map_err(|d| de(self, "binlog event checksum", d))?;
                self.stats.checksums_verified += 1;
            }
            len -= 4;
        } else if !self.saw_fde
            && h.type_code == kind::ROTATE
            && event::verify_crc32(ev, false).is_ok()
        {
            // The artificial ROTATE that starts a dump comes before any FDE, so whether it
            // carries a CRC32 is not known yet: it does exactly when its last 4 bytes are the
            // CRC32 of the rest (a file name's last bytes could look like anything, even text).
            len -= 4;
        }
        let hl = usize::from(self.fde.header_len).max(HEADER_LEN);
        let body = ev
            .get(hl..len)
            .ok_or_else(|| de(self, "binlog event", "shorter than its header".into()))?;
        self.dispatch(&h, body, offset, end)
    }

    fn handle_fde(&mut self, ev: &[u8], h: &EventHeader, offset: u64) -> Result<()> {
        let fde = FormatDescription::parse(ev)
            .map_err(|d| Error::decode("FORMAT_DESCRIPTION event", self.loc(offset), d))?;
        if fde.checksum == Checksum::Crc32 && self.opts.verify_checksums {
            event::verify_crc32(ev, true)
                .map_err(|d| Error::decode("FORMAT_DESCRIPTION checksum", self.loc(offset), d))?;
            self.stats.checksums_verified += 1;
        }
        // A new FDE at the start of a file (not an artificial one repeated by the dump) means the
        // server restarted or a new file began: table ids are reassigned.
        if h.log_pos != 0 {
            self.tables.clear();
        }
        self.fde = fde;
        self.saw_fde = true;
        Ok(())
    }

    fn dispatch(&mut self, h: &EventHeader, body: &[u8], offset: u64, end: u64) -> Result<()> {
        let de = |s: &Self, what: &'static str, d: String| Error::decode(what, s.loc(offset), d);
        let t = h.type_code;
        match t {
            kind::ROTATE => {
                let ph = self.fde.post_header_len(t, 8);
                // A CRC32 of an artificial ROTATE before the FDE is removed by handle_event.
                let name = body.get(ph..).unwrap_or_default();
                let name = String::from_utf8_lossy(name).into_owned();
                if !name.is_empty() {
                    self.set_file(&name);
                    let pos = body.get(..8).map_or(4, |b| {
                        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                    });
                    if h.log_pos == 0 {
                        self.stream_offset = pos;
                    }
                }
            }
            kind::QUERY | kind::MARIA_QUERY_COMPRESSED => {
                self.handle_query(h, body, offset, end)?
            }
            kind::XID => {
                let xid = body
                    .get(..8)
                    .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
                let xid =
                    xid.ok_or_else(|| de(self, "XID event", "body shorter than 8 bytes".into()))?;
                self.commit(end, h.timestamp, Some(xid))?;
            }
            kind::XA_PREPARE => {
                let (one_phase, xid) = super::xa::parse_xa_prepare(body)
                    .map_err(|d| de(self, "XA_PREPARE event", d))?;
                if one_phase {
                    self.commit(end, h.timestamp, None)?;
                } else {
                    self.park(xid, offset)?;
                }
            }
            kind::TABLE_MAP => {
                let ph = self.fde.post_header_len(t, 8);
                let id_len = if ph == 6 { 4 } else { 6 };
                let id = body
                    .get(..id_len)
                    .map(|b| b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)));
                if let Some((raw, _)) = id.and_then(|id| self.tables.get(&id)) {
                    if raw.as_slice() == body {
                        return Ok(());
                    }
                }
                let tm = TableMap::parse(body, ph).map_err(|d| de(self, "TABLE_MAP event", d))?;
                let id = tm.table_id;
                let resolved = self.resolve_table(tm, offset)?;
                self.tables.insert(id, (body.to_vec(), resolved));
            }
            kind::WRITE_ROWS_V0..=kind::DELETE_ROWS_V1
            | kind::WRITE_ROWS_V2..=kind::DELETE_ROWS_V2
            | kind::PARTIAL_UPDATE_ROWS
            | kind::MARIA_WRITE_ROWS_COMPRESSED_V1..=kind::MARIA_DELETE_ROWS_COMPRESSED => {
                self.handle_rows(h, body, offset, end)?
            }
            kind::GTID | kind::ANONYMOUS_GTID => {
                let (sid, gno) = event::parse_mysql_gtid(body)
                    .map_err(|e| de(self, "GTID event", e.to_string()))?;
                let gtid = Gtid::MySql {
                    sid,
                    gno,
                    tag: None,
                };
                if t == kind::GTID {
                    self.begin(false, Some(gtid));
                } else {
                    // Anonymous: no GTID, but a new group starts here.
                    if self.txn.open {
                        self.discard_txn();
                    }
                    self.begin(false, None);
                    self.txn.explicit = true;
                }
            }
            kind::GTID_TAGGED => {
                let (sid, gno, tag) =
                    event::parse_gtid_tagged(body).map_err(|d| de(self, "GTID_TAGGED event", d))?;
                let tag = (!tag.is_empty()).then(|| tag.into_boxed_str());
                self.begin(false, Some(Gtid::MySql { sid, gno, tag }));
            }
            kind::MARIA_GTID => {
                let (seq, domain, _flags) = event::parse_mariadb_gtid(body)
                    .map_err(|e| de(self, "MariaDB GTID event", e.to_string()))?;
                let gtid = Gtid::Maria {
                    domain,
                    server: h.server_id,
                    seq,
                };
                self.begin(false, Some(gtid));
            }
            kind::MARIA_GTID_LIST => {
                let list = event::parse_mariadb_gtid_list(body)
                    .map_err(|e| de(self, "MariaDB GTID_LIST event", e.to_string()))?;
                for (d, s, n) in list {
                    self.maria_state.insert(d, (s, n));
                }
            }
            kind::TRANSACTION_PAYLOAD => self.handle_payload(body, offset, end)?,
            kind::HEARTBEAT | kind::HEARTBEAT_V2 => self.stats.heartbeats += 1,
            kind::MARIA_START_ENCRYPTION => {
                return Err(de(
                    self,
                    "START_ENCRYPTION event",
                    "encrypted binlogs cannot be decoded; read them through the server".into(),
                ));
            }
            kind::START_V3
            | kind::STOP
            | kind::INTVAR
            | 6..=12
            | kind::RAND
            | kind::USER_VAR
            | 17
            | 18
            | kind::INCIDENT
            | kind::IGNORABLE
            | kind::ROWS_QUERY
            | kind::PREVIOUS_GTIDS
            | kind::TRANSACTION_CONTEXT
            | kind::VIEW_CHANGE
            | kind::MARIA_ANNOTATE_ROWS
            | kind::MARIA_BINLOG_CHECKPOINT => {}
            _ => self.stats.skipped_unknown += 1,
        }
        Ok(())
    }

    /// Finished change batches of every committed row: all rows of committed transactions, none
    /// of the open one (its rows stay until a flush after its commit). After a flush, the rows
    /// of every transaction up to [`last_commit`](Self::last_commit) have been handed out, so a
    /// source may store that position once the batches are durable.
    pub fn flush(&mut self) -> Result<Vec<ChangeBatch>> {
        let arrow_err = |s: &Self, b: usize, source| Error::Arrow {
            table: s.builders[b].table().table.clone(),
            at: crate::Location::Unknown,
            source,
        };
        self.set_aside_open_rows()
            .map_err(|(b, e)| arrow_err(self, b, e))?;
        let mut out = Vec::new();
        for (b, batch) in std::mem::take(&mut self.ready) {
            let table = self.builders[b].table();
            out.push(ChangeBatch {
                table: table.table.clone(),
                schema_version: table.schema_version,
                batch,
            });
        }
        for i in 0..self.builders.len() {
            // The open transaction's rows are all that is left in the builders it wrote to.
            if self.builders[i].is_empty() || self.txn.touched.iter().any(|(t, _)| *t == i) {
                continue;
            }
            let batches = self.builders[i]
                .flush()
                .map_err(|e| arrow_err(self, i, e))?;
            let table = self.builders[i].table();
            out.extend(batches.into_iter().map(|batch| ChangeBatch {
                table: table.table.clone(),
                schema_version: table.schema_version,
                batch,
            }));
        }
        Ok(SchemaVersions::stamp_all(
            self.schema_versions.as_ref(),
            out,
        ))
    }
}

/// The length of the packet that starts `buf`, header included, as far as its bytes tell: 4
/// until its header is complete.
fn packet_need(buf: &[u8]) -> usize {
    match buf {
        [a, b, c, _, ..] => 4 + (usize::from(*a) | usize::from(*b) << 8 | usize::from(*c) << 16),
        _ => 4,
    }
}
