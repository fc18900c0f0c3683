//! Handlers of the [`BinlogDecoder`] for the events that carry changes: QUERY (transaction
//! control and DDL into the `_ddl` pseudo-table), rows events, and TRANSACTION_PAYLOAD (whose
//! inner events are handled like any other).

// The shared error enum carries a Location with a file name; boxing it is the error module's call.
#![allow(clippy::result_large_err)]

use crate::arrow::{ColumnBuilder, Op};
use crate::error::{Error, Result};

use super::decoder::{BinlogDecoder, DdlQuery};
use super::event::{self, kind, EventHeader};
use super::rows::{self, RowsKind};
use super::{compress, framing};

impl BinlogDecoder {
    pub(crate) fn handle_query(
        &mut self,
        h: &EventHeader,
        body: &[u8],
        offset: u64,
        end: u64,
    ) -> Result<()> {
        let ph = self.fde.post_header_len(kind::QUERY, 13);
        let q = event::parse_query(body, ph)
            .map_err(|e| Error::decode("QUERY event", self.loc(offset), e.to_string()))?;
        let owned;
        let text: &[u8] = if h.type_code == kind::MARIA_QUERY_COMPRESSED {
            owned = compress::mariadb_uncompress(q.query)
                .map_err(|d| Error::decode("QUERY_COMPRESSED event", self.loc(offset), d))?;
            &owned
        } else {
            q.query
        };
        let stmt = String::from_utf8_lossy(text);
        let database = String::from_utf8_lossy(q.database).into_owned();
        let head: String = stmt
            .trim_start()
            .chars()
            .take(24)
            .collect::<String>()
            .to_ascii_uppercase();
        let word = head.split_whitespace().next().unwrap_or("");
        match word {
            "BEGIN" => self.begin(true, None),
            "COMMIT" => self.commit(end, h.timestamp, None)?,
            "ROLLBACK" if !head.starts_with("ROLLBACK TO") => self.discard_txn(),
            "SAVEPOINT" | "ROLLBACK" | "RELEASE" => {}
            "XA" => {
                if let Some((commit, rest)) = super::xa::xa_outcome(&stmt) {
                    match super::xa::parse_xa_statement(rest) {
                        // A one-phase commit ends the transaction whose rows precede it.
                        Some((_, true)) => {}
                        Some((xid, false)) if self.txn.seq == 0 => {
                            self.end_xa(&xid, commit, end, h.timestamp)?
                        }
                        Some(_) => {}
                        None => {
                            return Err(Error::decode(
                                "QUERY event",
                                self.loc(offset),
                                format!("cannot read the XID of {:?}", stmt.trim()),
                            ))
                        }
                    }
                    if !commit && self.txn.seq > 0 {
                        self.discard_txn();
                    }
                    // The group is complete: its end is a position like any commit's.
                    self.commit(end, h.timestamp, None)?;
                }
            }
            "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD" | "CALL" | "DO" | "SET"
            | "SELECT" => {
                self.stats.skipped_statements += 1;
                let changes = matches!(word, "INSERT" | "UPDATE" | "DELETE" | "REPLACE");
                if changes && self.skipped.len() < super::decoder::SKIPPED_KEPT {
                    self.skipped.push(super::decoder::SkippedStatement {
                        database,
                        statement: stmt.into_owned(),
                        file: self.file.clone(),
                        offset,
                    });
                }
            }
            _ => {
                let b = self.ddl_builder(offset)?;
                self.begin(false, None);
                self.touch(b);
                let meta = Self::next_meta(&mut self.txn, Op::Message);
                let builder = &mut self.builders[b];
                if let ColumnBuilder::Utf8(c) = &mut builder.columns[0] {
                    c.append_value(&database);
                }
                if let ColumnBuilder::Utf8(c) = &mut builder.columns[1] {
                    c.append_value(stmt.as_ref());
                }
                builder.finish_row(meta, false, &[]);
                self.stats.ddl += 1;
                // DDL commits implicitly (and ends a GTID group without BEGIN).
                self.commit(end, h.timestamp, None)?;
                if self.stop_at_ddl {
                    self.ddl_stop = Some(DdlQuery {
                        database,
                        statement: stmt.into_owned(),
                        file: self.file.clone(),
                        offset,
                        end,
                    });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn handle_rows(
        &mut self,
        h: &EventHeader,
        body: &[u8],
        offset: u64,
        end: u64,
    ) -> Result<()> {
        let t = h.type_code;
        let (kind_, v2, compressed) = match t {
            kind::WRITE_ROWS_V0 | kind::WRITE_ROWS_V1 => (RowsKind::Write, false, false),
            kind::UPDATE_ROWS_V0 | kind::UPDATE_ROWS_V1 => (RowsKind::Update, false, false),
            kind::DELETE_ROWS_V0 | kind::DELETE_ROWS_V1 => (RowsKind::Delete, false, false),
            kind::WRITE_ROWS_V2 => (RowsKind::Write, true, false),
            kind::UPDATE_ROWS_V2 => (RowsKind::Update, true, false),
            kind::DELETE_ROWS_V2 => (RowsKind::Delete, true, false),
            kind::PARTIAL_UPDATE_ROWS => (RowsKind::PartialUpdate, true, false),
            kind::MARIA_WRITE_ROWS_COMPRESSED_V1 => (RowsKind::Write, false, true),
            kind::MARIA_UPDATE_ROWS_COMPRESSED_V1 => (RowsKind::Update, false, true),
            kind::MARIA_DELETE_ROWS_COMPRESSED_V1 => (RowsKind::Delete, false, true),
            kind::MARIA_WRITE_ROWS_COMPRESSED => (RowsKind::Write, true, true),
            kind::MARIA_UPDATE_ROWS_COMPRESSED => (RowsKind::Update, true, true),
            _ => (RowsKind::Delete, true, true),
        };
        let default_ph = if v2 { 10 } else { 8 };
        let ph = self.fde.post_header_len(t, default_ph);
        let hdr = rows::parse_header(body, ph, v2)
            .map_err(|e| Error::decode("rows event", self.loc(offset), e.to_string()))?;
        let Some(table) = self.tables.get(&hdr.table_id).map(|(_, t)| t.clone()) else {
            // A dummy rows event (table id ~0) only ends a statement.
            if hdr.rest.len() <= 1 || hdr.table_id == 0xFF_FFFF || hdr.table_id == 0xFFFF_FFFF_FFFF
            {
                return Ok(());
            }
            return Err(Error::decode(
                "rows event",
                self.loc(offset),
                format!("no TABLE_MAP for table id {}", hdr.table_id),
            ));
        };
        let owned;
        let data: &[u8] = if compressed {
            // MariaDB compresses only the row images: the column count and the present-columns
            // bitmaps before them stay plain (MariaDB KB "ROWS_COMPRESSED_EVENT_V1").
            let update = kind_ == RowsKind::Update;
            let plain = rows::images_offset(hdr.rest, update)
                .map_err(|d| Error::decode("compressed rows event", self.loc(offset), d))?;
            let (head, body) = hdr.rest.split_at(plain);
            let rows = compress::mariadb_uncompress(body)
                .map_err(|d| Error::decode("compressed rows event", self.loc(offset), d))?;
            let mut joined = Vec::with_capacity(head.len() + rows.len());
            joined.extend_from_slice(head);
            joined.extend_from_slice(&rows);
            owned = joined;
            &owned
        } else {
            hdr.rest
        };
        self.begin(false, None);
        self.touch(table.builder);
        let txn = &mut self.txn;
        let builder = &mut self.builders[table.builder];
        let mut empty = rows::JsonCache::new();
        let cache = if table.json_count > 0 {
            self.json_cache.entry(table.name.clone()).or_default()
        } else {
            &mut empty
        };
        let result = rows::decode_rows(
            kind_,
            data,
            &table,
            builder,
            &mut self.scratch,
            cache,
            |op| Self::next_meta(txn, op),
        );
        match result {
            Ok(n) => self.stats.rows += n as u64,
            Err(d) => {
                self.discard_txn();
                return Err(Error::decode(
                    "rows event",
                    self.loc(offset),
                    format!("table {}: {d}", table.name),
                ));
            }
        }
        if hdr.flags & rows::STMT_END != 0 && !self.txn.explicit {
            self.commit(end, h.timestamp, None)?;
        }
        Ok(())
    }

    pub(crate) fn handle_payload(&mut self, body: &[u8], offset: u64, end: u64) -> Result<()> {
        let de = |s: &Self, d: String| Error::decode("TRANSACTION_PAYLOAD event", s.loc(offset), d);
        let (compression, size, payload) =
            event::parse_payload(body).map_err(|e| de(self, e.to_string()))?;
        // The header's uncompressed size bounds the output (a corrupt frame cannot balloon).
        let limit = match usize::try_from(size) {
            Ok(s) if s > 0 => s.min(self.opts.max_payload),
            _ => self.opts.max_payload,
        };
        let owned;
        let inner: &[u8] = match compression {
            0 => {
                owned = compress::zstd(payload, limit).map_err(|d| de(self, d))?;
                &owned
            }
            255 => payload,
            c => return Err(de(self, format!("unknown compression type {c}"))),
        };
        let mut at = 0;
        while let Some(ev) = framing::next_file_event(inner, at).map_err(|d| de(self, d))? {
            // Inner events have no checksum and log_pos 0; they take the payload's position.
            self.handle_event(ev, offset, end, true)?;
            at += ev.len();
        }
        Ok(())
    }
}
