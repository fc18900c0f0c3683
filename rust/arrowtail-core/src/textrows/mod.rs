//! Change batches with `_op = r` from the rows of a MySQL/MariaDB `SELECT`, for snapshots.
//!
//! The source reads a table with the text protocol and hands over each row's values as they
//! arrived (bytes, or None for SQL NULL), together with the columns as `information_schema`
//! describes them. Each column resolves to the codec the binlog decoder gives it
//! ([`crate::types::mysql::text`]), so a snapshot row and a streamed row of the same table carry
//! the same Arrow types and values; the batch layout is the binlog decoder's (source `mysql`, no
//! `_before`, `_unchanged` null).

use std::sync::Arc;

use arrow_schema::Field;

use crate::arrow::{ChangeBatch, ChangeBuilder, Op, RowMeta, SourceKind, TableSchema};
use crate::types::mysql::text::{append, TextCodec, TextColumn};
use crate::types::mysql::value::{Scratch, ValueStats};
use crate::{Error, Location, Result};

/// Builds the snapshot batches of one table from text-protocol rows.
#[derive(Debug)]
pub struct TextRowsBuilder {
    builder: ChangeBuilder,
    codecs: Vec<TextCodec>,
    meta: RowMeta,
    rows: u64,
    scratch: Scratch,
}

impl TextRowsBuilder {
    /// A builder for rows of `table` (`database.table`). Rows get `_pos = position` (the binlog
    /// position the snapshot is consistent with), `_commit_ts = snapshot_ts_us` and `_seq`
    /// counting from `first_seq`.
    pub fn new(
        table: &str,
        columns: &[TextColumn],
        primary_key: Vec<String>,
        schema_version: u32,
        position: u64,
        snapshot_ts_us: i64,
        first_seq: u32,
    ) -> Result<Self> {
        let codecs: Vec<TextCodec> = columns.iter().map(TextColumn::resolve).collect();
        let schema = TableSchema {
            source: SourceKind::MySql,
            table: table.to_string(),
            schema_version,
            columns: columns
                .iter()
                .zip(&codecs)
                .map(|(c, t)| Field::new(&c.name, t.codec.arrow_type(), true))
                .collect(),
            primary_key,
            extra_metadata: Vec::new(),
        };
        Error::check_column_names(table, columns.iter().map(|c| c.name.as_str()), || {
            Location::Unknown
        })?;
        let builder = ChangeBuilder::new(Arc::new(schema)).map_err(|e| Error::Arrow {
            table: table.to_string(),
            at: Location::Unknown,
            source: e,
        })?;
        Ok(Self {
            builder,
            codecs,
            meta: RowMeta {
                op: Op::Read,
                pos: position,
                seq: first_seq,
                xid: 0,
                commit_ts_us: snapshot_ts_us,
            },
            rows: 0,
            scratch: Scratch::default(),
        })
    }

    /// Cuts a batch once one of its text, binary or list columns holds `limit` bytes (or
    /// elements); see [`ChangeBuilder::set_byte_limit`].
    pub fn set_byte_limit(&mut self, limit: usize) {
        self.builder.set_byte_limit(limit);
    }

    /// The Arrow schema of the batches.
    pub fn schema(&self) -> &arrow_schema::SchemaRef {
        self.builder.schema()
    }

    /// Rows appended so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The `_seq` the next row gets.
    pub fn next_seq(&self) -> u32 {
        self.meta.seq
    }

    /// Zero dates stored as null and text with invalid UTF-8 replaced, as the binlog decoder
    /// counts them.
    pub fn stats(&self) -> ValueStats {
        self.scratch.stats
    }

    /// Appends one row: a value per column in order, None for SQL NULL. A value that does not
    /// parse is an error and leaves no part of the row behind.
    pub fn append_row(&mut self, values: &[Option<&[u8]>]) -> Result<()> {
        if values.len() != self.codecs.len() {
            return Err(self.err(format!(
                "row has {} values, the table has {} columns",
                values.len(),
                self.codecs.len()
            )));
        }
        for (i, (value, tc)) in values.iter().zip(&self.codecs).enumerate() {
            let col = &mut self.builder.columns[i];
            let Some(value) = value else {
                col.append_null();
                continue;
            };
            if let Err(detail) = append(tc, value, col, &mut self.scratch) {
                let name = self.builder.table().columns[i].name().clone();
                let _ = self.builder.abandon_partial_row();
                return Err(self.err(format!("column {name}: {detail}")));
            }
        }
        self.builder.finish_row(self.meta, false, &[]);
        self.meta.seq = self.meta.seq.wrapping_add(1);
        self.rows += 1;
        Ok(())
    }

    fn err(&self, detail: String) -> Error {
        Error::decode(
            "MySQL snapshot row",
            Location::Unknown,
            format!(
                "{} row _seq {}: {detail}",
                self.builder.table().table,
                self.meta.seq
            ),
        )
    }

    /// Finished batches of the rows appended so far.
    pub fn flush(&mut self) -> Result<Vec<ChangeBatch>> {
        let table = self.builder.table().clone();
        let batches = self.builder.flush().map_err(|e| Error::Arrow {
            table: table.table.clone(),
            at: Location::Unknown,
            source: e,
        })?;
        Ok(batches
            .into_iter()
            .map(|batch| ChangeBatch {
                table: table.table.clone(),
                schema_version: table.schema_version,
                batch,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, UInt32Type, UInt64Type};
    use arrow_array::Array;

    fn columns() -> Vec<TextColumn> {
        let c = |name: &str, t: &str| TextColumn {
            name: name.into(),
            data_type: t.into(),
            column_type: t.into(),
            ..Default::default()
        };
        vec![c("id", "int"), c("t", "varchar"), c("d", "date")]
    }

    #[test]
    fn rows_become_read_changes() {
        let mut b =
            TextRowsBuilder::new("db.t", &columns(), vec!["id".into()], 1, 77, 5, 10).unwrap();
        b.append_row(&[Some(b"1"), Some(b"a"), Some(b"2024-01-01")])
            .unwrap();
        b.append_row(&[Some(b"2"), None, Some(b"0000-00-00")])
            .unwrap();
        let batches = b.flush().unwrap();
        let batch = &batches[0].batch;
        assert_eq!(batch.num_rows(), 2);
        let ids = batch.column(0).as_primitive::<Int32Type>();
        assert_eq!(ids.values().to_vec(), vec![1, 2]);
        assert!(batch.column(1).is_null(1) && batch.column(2).is_null(1));
        let op = batch.column_by_name("_op").unwrap().as_string::<i32>();
        assert_eq!((op.value(0), op.value(1)), ("r", "r"));
        let seq = batch.column_by_name("_seq").unwrap();
        assert_eq!(
            seq.as_primitive::<UInt32Type>().values().to_vec(),
            vec![10, 11]
        );
        let pos = batch.column_by_name("_pos").unwrap();
        assert_eq!(pos.as_primitive::<UInt64Type>().value(1), 77);
        assert!(batch.column_by_name("_before").unwrap().is_null(0));
        let meta = batch.schema().metadata().clone();
        assert_eq!(meta["arrowtail.source"], "mysql");
        assert_eq!(meta["arrowtail.primary_key"], "id");
        assert_eq!(b.stats().invalid_temporal, 1);
        assert_eq!((b.rows(), b.next_seq()), (2, 12));
    }

    #[test]
    fn a_bad_value_leaves_no_partial_row() {
        let mut b = TextRowsBuilder::new("db.t", &columns(), vec![], 1, 0, 0, 0).unwrap();
        b.append_row(&[Some(b"1"), Some(b"ok"), None]).unwrap();
        let e = b
            .append_row(&[Some(b"2"), Some(b"x"), Some(b"soon")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("column d") && e.contains("_seq 1"), "{e}");
        assert!(b.append_row(&[Some(b"3")]).is_err());
        let batches = b.flush().unwrap();
        assert_eq!(batches.iter().map(|b| b.batch.num_rows()).sum::<usize>(), 1);
    }
}
