//! Decoder of PostgreSQL's COPY BINARY format into change batches with `_op = r`, for snapshots.
//!
//! Format (PostgreSQL docs, "COPY", section "Binary Format"): an 11-byte signature
//! `PGCOPY\n\xff\r\n\0`, a 32-bit flags field, a 32-bit header-extension length and the extension;
//! then tuples, each a 16-bit field count followed by, per field, a 32-bit length (-1 for NULL)
//! and the value in the type's binary send format; a field count of -1 ends the data. All integers
//! are big-endian. Values go through the same codecs as pgoutput's binary tuples
//! ([`crate::types::postgres`]), so a snapshot row and a streamed row of the same table carry
//! identical Arrow values.
//!
//! Input arrives in chunks of any size (COPY data messages do not align with tuples); an
//! incomplete tuple waits in a small carry buffer for the next chunk.

use std::sync::Arc;

use crate::arrow::{
    ChangeBatch, ChangeBuilder, ColumnBuilder, Op, PlainColumn, RowMeta, SchemaVersions,
    SharedSchemaVersions, SourceKind, TableSchema,
};
use crate::types::postgres::{append, append_binary_quick, has_plain_storage, Format, PgType};
use crate::{Error, Location, Result};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// A column of the snapshot query, as `pg_attribute` describes it.
#[derive(Debug, Clone)]
pub struct CopyColumn {
    pub name: String,
    pub type_oid: u32,
    pub typmod: i32,
}

/// Streaming decoder of one `COPY (...) TO STDOUT (FORMAT binary)` result.
#[derive(Debug)]
pub struct CopyDecoder {
    builder: ChangeBuilder,
    types: Vec<PgType>,
    carry: Vec<u8>,
    header_done: bool,
    finished: bool,
    /// Bytes of the stream consumed so far (for error positions).
    offset: u64,
    meta: RowMeta,
    rows: u64,
    special_numerics: u64,
    /// The run-wide numbering of schema versions, when shared.
    schema_versions: Option<SharedSchemaVersions>,
}

impl CopyDecoder {
    /// A decoder for rows of `table` (`schema.table`). Rows get `_pos = position` (the LSN the
    /// snapshot is consistent with), `_commit_ts = snapshot_ts_us` and `_seq` counting from
    /// `first_seq`.
    pub fn new(
        table: &str,
        columns: &[CopyColumn],
        primary_key: Vec<String>,
        schema_version: u32,
        position: u64,
        snapshot_ts_us: i64,
        first_seq: u32,
    ) -> Result<Self> {
        let aliases = Default::default();
        let types: Vec<PgType> = columns
            .iter()
            .map(|c| PgType::resolve(c.type_oid, c.typmod, &aliases))
            .collect();
        let schema = TableSchema {
            source: SourceKind::Postgres,
            table: table.to_string(),
            schema_version,
            columns: columns
                .iter()
                .zip(&types)
                .map(|(c, t)| t.field(&c.name))
                .collect(),
            primary_key,
            extra_metadata: vec![("arrowtail.snapshot".into(), "true".into())],
        };
        Error::check_column_names(table, columns.iter().map(|c| c.name.as_str()), || {
            Location::Unknown
        })?;
        // Types with plain storage fill plain vectors (the same values as Arrow's builders, at a
        // fraction of the cost per value), the rest Arrow's builders. The decoder is flushed
        // batch after batch (and restarted piece after piece), so the vectors keep the most
        // capacity a batch needed.
        let builder =
            ChangeBuilder::with_columns(Arc::new(schema), |i, dt| {
                match PlainColumn::new(dt).filter(|_| types.get(i).is_some_and(has_plain_storage)) {
                    Some(mut p) => {
                        p.keep_most_capacity();
                        Ok(ColumnBuilder::Plain(p))
                    }
                    None => ColumnBuilder::new(dt),
                }
            })
            .map_err(|e| Error::Arrow {
                table: table.to_string(),
                at: Location::Offset(0),
                source: e,
            })?;
        Ok(Self {
            builder,
            types,
            carry: Vec::new(),
            header_done: false,
            finished: false,
            offset: 0,
            meta: RowMeta {
                op: Op::Read,
                pos: position,
                seq: first_seq,
                xid: 0,
                commit_ts_us: snapshot_ts_us,
            },
            rows: 0,
            schema_versions: None,
            special_numerics: 0,
        })
    }

    /// Cuts a batch once one of its text, binary or list columns holds `limit` bytes (or
    /// elements); see [`ChangeBuilder::set_byte_limit`]. Small limits are for tests.
    pub fn set_byte_limit(&mut self, limit: usize) {
        self.builder.set_byte_limit(limit);
    }

    /// Rows decoded so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// NaN/±Infinity numerics stored as null in decimal columns.
    pub fn special_numerics(&self) -> u64 {
        self.special_numerics
    }

    /// The `_seq` the next row would get (so a chunked snapshot can continue the count).
    pub fn next_seq(&self) -> u32 {
        self.meta.seq
    }

    /// True once the end-of-data marker was read.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn err(&self, at: u64, detail: impl Into<String>) -> Error {
        Error::decode("COPY BINARY data", Location::Offset(at), detail)
    }

    /// Decodes every complete tuple in `data` (plus what an earlier chunk left over).
    pub fn feed(&mut self, mut data: &[u8]) -> Result<()> {
        if !self.carry.is_empty() {
            // The unit an earlier chunk left incomplete takes only the bytes it lacks, so the
            // rest of `data` is read where it lies instead of being copied behind the carry.
            let mut buf = std::mem::take(&mut self.carry);
            while !buf.is_empty() {
                let (used, need) = self.consume(&buf)?;
                if used > 0 {
                    buf.drain(..used);
                    continue;
                }
                let need = need.max(buf.len() + 1);
                if !crate::reader::top_up(&mut buf, &mut data, need) {
                    self.carry = buf;
                    return Ok(());
                }
            }
            self.carry = buf;
        }
        let (used, _) = self.consume(data)?;
        self.carry.extend_from_slice(&data[used..]);
        Ok(())
    }

    /// Checks that the stream ended properly (trailer seen, nothing left over).
    pub fn finish(&mut self) -> Result<()> {
        if !self.finished {
            return Err(self.err(
                self.offset,
                format!(
                    "the data ended without the end-of-data marker ({} bytes of an incomplete \
                     tuple left)",
                    self.carry.len()
                ),
            ));
        }
        Ok(())
    }

    /// Readies the decoder for another COPY of the same columns, its rows numbered from
    /// `first_seq`, keeping what its builders allocated: the capacity of their vectors and the
    /// shared all-null arrays. A snapshot cut into pieces reads them one after another, and a
    /// fresh decoder per piece would grow its vectors from empty (copying them as they grow) and
    /// make its null arrays again. Only a decoder whose COPY ended (the end-of-data marker read)
    /// and whose rows were all flushed restarts; anything else is an error and changes nothing.
    pub fn restart(&mut self, first_seq: u32) -> Result<()> {
        if !self.finished || !self.builder.is_empty() || !self.carry.is_empty() {
            return Err(self.err(
                self.offset,
                "restart needs a finished COPY whose rows were all flushed",
            ));
        }
        self.header_done = false;
        self.finished = false;
        self.offset = 0;
        self.rows = 0;
        self.special_numerics = 0;
        self.meta.seq = first_seq;
        Ok(())
    }

    /// Numbers the schema versions of this decoder's batches with `versions`, shared with the
    /// other decoders of the source (see [`SchemaVersions`]); without it the batches carry the
    /// `schema_version` given to [`new`](Self::new).
    pub fn share_schema_versions(&mut self, versions: SharedSchemaVersions) {
        self.schema_versions = Some(versions);
    }

    /// Finished batches of the rows decoded so far.
    pub fn flush(&mut self) -> Result<Vec<ChangeBatch>> {
        let table = self.builder.table().clone();
        let batches = self.builder.flush().map_err(|e| Error::Arrow {
            table: table.table.clone(),
            at: Location::Offset(self.offset),
            source: e,
        })?;
        let batches = batches
            .into_iter()
            .map(|batch| ChangeBatch {
                table: table.table.clone(),
                schema_version: table.schema_version,
                batch,
            })
            .collect();
        Ok(SchemaVersions::stamp_all(
            self.schema_versions.as_ref(),
            batches,
        ))
    }

    /// Consumes whole units (header, tuples, trailer) from `buf`. Returns the bytes used and the
    /// length the next unit needs at least, counted from there, as far as the bytes present tell
    /// (more than are left; 0 once the end-of-data marker was read).
    fn consume(&mut self, buf: &[u8]) -> Result<(usize, usize)> {
        let mut at = 0usize;
        if !self.header_done {
            if buf.len() < 19 {
                return Ok((0, 19));
            }
            if &buf[..11] != SIGNATURE {
                return Err(self.err(0, "missing the PGCOPY signature: not COPY BINARY output"));
            }
            let ext = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
            if buf.len() < 19 + ext {
                return Ok((0, 19 + ext));
            }
            at = 19 + ext;
            self.header_done = true;
            self.offset += at as u64;
        }
        let mut need = 0;
        while !self.finished {
            match self.tuple(&buf[at..])? {
                Ok(n) => {
                    at += n;
                    self.offset += n as u64;
                }
                Err(n) => {
                    need = n;
                    break;
                }
            }
        }
        if self.finished && at < buf.len() {
            return Err(self.err(
                self.offset,
                format!("{} bytes after the end-of-data marker", buf.len() - at),
            ));
        }
        Ok((at, need))
    }

    /// Decodes one tuple if `buf` holds all of it and returns `Ok(length)`; otherwise
    /// `Err(length)`, the least length the tuple can have given the bytes present.
    fn tuple(&mut self, buf: &[u8]) -> Result<std::result::Result<usize, usize>> {
        // First make sure the whole tuple is there, so a partial one never touches the builders.
        if buf.len() < 2 {
            return Ok(Err(2));
        }
        let count = i16::from_be_bytes([buf[0], buf[1]]);
        if count == -1 {
            self.finished = true;
            return Ok(Ok(2));
        }
        if count as usize != self.types.len() || count < 0 {
            return Err(self.err(
                self.offset,
                format!(
                    "tuple has {count} fields, the table has {} columns",
                    self.types.len()
                ),
            ));
        }
        let mut end = 2usize;
        for _ in 0..count {
            let Some(len) = buf.get(end..end + 4) else {
                return Ok(Err(end + 4));
            };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            end += 4;
            if len < -1 {
                return Err(self.err(self.offset + end as u64, format!("field length {len}")));
            }
            if len > 0 {
                end += len as usize;
            }
        }
        if buf.len() < end {
            return Ok(Err(end));
        }
        let mut p = 2usize;
        for (i, ty) in self.types.iter().enumerate() {
            let len = i32::from_be_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
            p += 4;
            let col = &mut self.builder.columns[i];
            if len < 0 {
                col.append_null();
                continue;
            }
            let value = &buf[p..p + len as usize];
            p += len as usize;
            if append_binary_quick(col, ty, value) {
                continue;
            }
            match append(col, ty, Format::Binary, value) {
                Ok(crate::types::postgres::Appended::SpecialNumeric) => self.special_numerics += 1,
                Ok(_) => {}
                Err(detail) => {
                    let at = self.offset;
                    let name = self.builder.table().columns[i].name().clone();
                    let _ = self.builder.abandon_partial_row();
                    return Err(self.err(at, format!("column {name}: {detail}")));
                }
            }
        }
        self.builder.finish_row(self.meta, false, &[]);
        self.meta.seq = self.meta.seq.wrapping_add(1);
        self.rows += 1;
        Ok(Ok(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    use arrow_array::Array;

    fn cols() -> Vec<CopyColumn> {
        vec![
            CopyColumn {
                name: "id".into(),
                type_oid: 20,
                typmod: -1,
            },
            CopyColumn {
                name: "n".into(),
                type_oid: 23,
                typmod: -1,
            },
            CopyColumn {
                name: "t".into(),
                type_oid: 25,
                typmod: -1,
            },
        ]
    }

    #[test]
    fn a_column_with_a_metadata_name_is_refused() {
        let mut columns = cols();
        columns[1].name = "_before".into();
        let Err(err) = CopyDecoder::new("public.t", &columns, vec!["id".into()], 1, 0, 0, 0) else {
            panic!("a column named _before was taken");
        };
        assert_eq!(err.kind(), crate::ErrorKind::ReservedColumn);
        assert!(
            err.to_string()
                .starts_with("cannot capture public.t: its column \"_before\" "),
            "{err}"
        );
    }

    /// COPY BINARY bytes of rows (id int8, n int4 or NULL, t text).
    fn copy_bytes(rows: &[(i64, Option<i32>, &str)]) -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        for (id, n, t) in rows {
            v.extend_from_slice(&3i16.to_be_bytes());
            v.extend_from_slice(&8i32.to_be_bytes());
            v.extend_from_slice(&id.to_be_bytes());
            match n {
                Some(n) => {
                    v.extend_from_slice(&4i32.to_be_bytes());
                    v.extend_from_slice(&n.to_be_bytes());
                }
                None => v.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            v.extend_from_slice(&(t.len() as i32).to_be_bytes());
            v.extend_from_slice(t.as_bytes());
        }
        v.extend_from_slice(&(-1i16).to_be_bytes());
        v
    }

    fn decoder() -> CopyDecoder {
        CopyDecoder::new("public.t", &cols(), vec!["id".into()], 1, 0x1_0000, 42, 0).unwrap()
    }

    #[test]
    fn decodes_in_chunks_of_any_size() {
        let data = copy_bytes(&[(1, Some(10), "a"), (2, None, "héllo"), (3, Some(-5), "")]);
        for chunk in [1usize, 3, 7, data.len()] {
            let mut d = decoder();
            for piece in data.chunks(chunk) {
                d.feed(piece).unwrap();
            }
            d.finish().unwrap();
            let batches = d.flush().unwrap();
            let b = &batches[0].batch;
            assert_eq!(b.num_rows(), 3);
            let ids = b.column(0).as_primitive::<Int64Type>();
            assert_eq!(ids.values().to_vec(), vec![1, 2, 3]);
            let n = b.column(1).as_primitive::<Int32Type>();
            assert!(n.is_null(1));
            assert_eq!(n.value(2), -5);
            assert_eq!(b.column(2).as_string::<i32>().value(1), "héllo");
            let op = b.column_by_name("_op").unwrap().as_string::<i32>();
            assert_eq!(op.value(0), "r");
            let pos = b
                .column_by_name("_pos")
                .unwrap()
                .as_primitive::<arrow_array::types::UInt64Type>();
            assert_eq!(pos.value(2), 0x1_0000);
            let seq = b
                .column_by_name("_seq")
                .unwrap()
                .as_primitive::<arrow_array::types::UInt32Type>();
            assert_eq!(seq.values().to_vec(), vec![0, 1, 2]);
        }
    }

    #[test]
    fn a_restarted_decoder_reads_the_next_copy_as_a_fresh_one_would() {
        let first = copy_bytes(&[(1, Some(10), "a much longer text value"), (2, None, "b")]);
        let second = copy_bytes(&[(3, Some(-5), "héllo"), (4, None, ""), (5, Some(7), "z")]);
        let mut fresh = decoder();
        fresh.feed(&second).unwrap();
        fresh.finish().unwrap();
        let want = fresh.flush().unwrap();

        let mut d = decoder();
        // Not before its COPY ended, nor with rows not flushed: both refused, nothing changed.
        d.feed(&first[..first.len() - 2]).unwrap();
        assert!(d.restart(0).is_err());
        d.feed(&first[first.len() - 2..]).unwrap();
        d.finish().unwrap();
        assert!(d.restart(0).is_err());
        assert_eq!(d.flush().unwrap()[0].batch.num_rows(), 2);
        d.restart(0).unwrap();
        assert_eq!((d.rows(), d.next_seq(), d.is_finished()), (0, 0, false));
        // The next COPY, header included, cut anywhere.
        for piece in second.chunks(5) {
            d.feed(piece).unwrap();
        }
        d.finish().unwrap();
        let got = d.flush().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].batch, want[0].batch);
        assert_eq!(d.rows(), 3);
        // Numbered from the seq it was given.
        d.restart(100).unwrap();
        d.feed(&second).unwrap();
        d.finish().unwrap();
        let seq = d.flush().unwrap()[0]
            .batch
            .column_by_name("_seq")
            .unwrap()
            .as_primitive::<arrow_array::types::UInt32Type>()
            .values()
            .to_vec();
        assert_eq!(seq, vec![100, 101, 102]);
    }

    #[test]
    fn a_cut_anywhere_gives_the_same_rows() {
        // Two pieces, cut at every byte: the tuple the first piece leaves incomplete is finished
        // from the second, and the rest of the second is read in place.
        let rows = [
            (1, Some(10), "a"),
            (2, None, "héllo"),
            (3, Some(-5), ""),
            (4, Some(7), "z"),
        ];
        let data = copy_bytes(&rows);
        let whole = {
            let mut d = decoder();
            d.feed(&data).unwrap();
            d.finish().unwrap();
            d.flush().unwrap()
        };
        for cut in 0..=data.len() {
            let mut d = decoder();
            d.feed(&data[..cut]).unwrap();
            assert!(
                d.carry.len() < 40,
                "cut {cut}: {} bytes carried",
                d.carry.len()
            );
            d.feed(&data[cut..]).unwrap();
            assert!(d.carry.is_empty(), "cut {cut}");
            d.finish().unwrap();
            let got = d.flush().unwrap();
            assert_eq!(got.len(), 1, "cut {cut}");
            assert_eq!(got[0].batch, whole[0].batch, "cut {cut}");
        }
    }

    #[test]
    fn missing_trailer_and_garbage_are_errors() {
        let data = copy_bytes(&[(1, Some(1), "x")]);
        let mut d = decoder();
        d.feed(&data[..data.len() - 2]).unwrap();
        assert!(d.finish().is_err());
        let mut d = decoder();
        assert!(d.feed(b"not a copy stream at all").is_err());
        let mut bad = data.clone();
        bad[19..21].copy_from_slice(&5i16.to_be_bytes());
        let mut d = decoder();
        let e = d.feed(&bad).unwrap_err().to_string();
        assert!(e.contains("5 fields"), "{e}");
        let mut extra = data;
        extra.push(0);
        assert!(decoder().feed(&extra).is_err());
    }

    #[test]
    fn a_bad_value_leaves_no_partial_row() {
        // A 3-byte int4 is malformed; the earlier good row must survive alone.
        let mut data = copy_bytes(&[(1, Some(1), "ok")]);
        data.truncate(data.len() - 2);
        data.extend_from_slice(&3i16.to_be_bytes());
        data.extend_from_slice(&8i32.to_be_bytes());
        data.extend_from_slice(&2i64.to_be_bytes());
        data.extend_from_slice(&3i32.to_be_bytes());
        data.extend_from_slice(&[0, 0, 1]);
        data.extend_from_slice(&(-1i32).to_be_bytes());
        data.extend_from_slice(&(-1i16).to_be_bytes());
        let mut d = decoder();
        let e = d.feed(&data).unwrap_err().to_string();
        assert!(e.contains("column n"), "{e}");
        let batches = d.flush().unwrap();
        assert_eq!(batches.iter().map(|b| b.batch.num_rows()).sum::<usize>(), 1);
    }
}
