//! `arrowtail._core.BinlogDecoder`: the MySQL/MariaDB binlog decoder of the core, exposed to
//! Python. Bytes go in (stream packets or whole binlog files), change batches come out as
//! `(table, schema_version, pyarrow.RecordBatch)`; the GIL is released around decoding.

// The core's error enum carries its Location by value; boxing it is the error module's call.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::path::PathBuf;

use arrowtail_core::binlog::{BinlogDecoder, ColumnDetail, DecoderOptions, TakenOutcome, XaEvent};
use arrowtail_core::{Error, Location};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList};

use crate::arrow::{self, PySchemaVersions};
use crate::error::{guard, IntoPyResult, Poison};

/// Decoder of MySQL/MariaDB row-based binlogs into change batches.
#[pyclass(module = "arrowtail._core", name = "BinlogDecoder")]
pub struct PyBinlogDecoder {
    inner: BinlogDecoder,
    /// Set once a call panicked (see [`Poison`]).
    poison: Poison,
}

#[pymethods]
impl PyBinlogDecoder {
    /// `column_byte_limit`: bytes (or list elements) of one text, binary or list column at which
    /// a batch is cut into the next (default and maximum: just under 1 GiB). `row_gtid`: batches
    /// carry each change's transaction's GTID in the optional `_gtid` column.
    #[new]
    #[pyo3(signature = (
        *, semi_sync = false, verify_checksums = true, column_byte_limit = None, versions = None,
        row_gtid = false,
    ))]
    fn new(
        semi_sync: bool,
        verify_checksums: bool,
        column_byte_limit: Option<usize>,
        versions: Option<PyRef<'_, PySchemaVersions>>,
        row_gtid: bool,
    ) -> PyResult<Self> {
        let byte_limit = crate::byte_limit(column_byte_limit)?;
        guard("BinlogDecoder()", || {
            let mut inner = BinlogDecoder::new(DecoderOptions {
                semi_sync,
                verify_checksums,
                byte_limit,
                ..DecoderOptions::default()
            });
            if let Some(versions) = versions {
                inner.share_schema_versions(versions.inner.clone());
            }
            inner.set_row_gtid(row_gtid);
            Ok(Self {
                inner,
                poison: Poison::default(),
            })
        })
    }

    /// Feeds bytes of the replication stream (packets as sent after COM_BINLOG_DUMP).
    fn feed(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.feed", || {
            py.detach(|| inner.feed(data)).py_err()
        })
    }

    /// Feeds stream bytes like `feed`, but stops right after a DDL statement (not BEGIN/COMMIT):
    /// returns `(consumed, query)`, `query` being `(database, statement, file, offset, end)` of
    /// the statement, or None when all of `data` was taken. Feed `data[consumed:]` next.
    #[allow(clippy::type_complexity)]
    fn feed_until_ddl(
        &mut self,
        py: Python<'_>,
        data: &[u8],
    ) -> PyResult<(usize, Option<(String, String, String, u64, u64)>)> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.feed_until_ddl", || {
            let (n, q) = py.detach(|| inner.feed_until_ddl(data)).py_err()?;
            Ok((
                n,
                q.map(|q| (q.database, q.statement, q.file, q.offset, q.end)),
            ))
        })
    }

    /// Decodes a binlog file read from `path`; positions use its base name.
    fn feed_file(&mut self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.feed_file", || {
            py.detach(|| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let data = std::fs::read(&path).map_err(|e| {
                    Error::decode(
                        "binlog file",
                        Location::Binlog {
                            file: path.display().to_string(),
                            offset: 0,
                        },
                        format!("cannot read the file: {e}"),
                    )
                })?;
                inner.feed_file_bytes(&data, &name)
            })
            .py_err()
        })
    }

    /// Decodes the bytes of a whole binlog file named `file_name`.
    fn feed_file_bytes(&mut self, py: Python<'_>, data: &[u8], file_name: &str) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.feed_file_bytes", || {
            py.detach(|| inner.feed_file_bytes(data, file_name))
                .py_err()
        })
    }

    /// Change batches of committed rows: a list of `(table, schema_version, RecordBatch)`.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.flush", || {
            let batches = py.detach(|| inner.flush()).py_err()?;
            arrow::change_batches(py, batches)
        })
    }

    /// The open transaction's rows so far, taken out unstamped (`_pos` and `_commit_ts` 0), as
    /// `(table, schema_version, RecordBatch)`; call right after `flush`.
    fn take_open_rows<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.take_open_rows", || {
            let batches = py.detach(|| inner.take_open_rows()).py_err()?;
            arrow::change_batches(py, batches)
        })
    }

    /// How the transaction whose rows were taken out ended, once: None (open, or none taken),
    /// `(pos, commit_ts_us, xid or None)` when it committed, or False when it was discarded.
    fn take_outcome<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.take_outcome", || {
            Ok(match inner.take_outcome() {
                None => py.None().into_bound(py),
                Some(TakenOutcome::Discarded) => PyBool::new(py, false).to_owned().into_any(),
                Some(TakenOutcome::Committed {
                    pos,
                    commit_ts_us,
                    xid,
                }) => (pos, commit_ts_us, xid).into_pyobject(py)?.into_any(),
            })
        })
    }

    /// What happened to XA transactions since the last call, in binlog order:
    /// `("prepared", id, taken, replayed, xid)`, `("committed", id, taken, pos, commit_ts_us)` or
    /// `("dropped", id, taken)`.
    fn take_xa_events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.take_xa_events", || {
            let out = PyList::empty(py);
            for event in inner.take_xa_events() {
                let item = match event {
                    XaEvent::Prepared {
                        id,
                        xid,
                        taken,
                        replayed,
                    } => ("prepared", id, taken, replayed, xid).into_pyobject(py)?,
                    XaEvent::Committed {
                        id,
                        taken,
                        pos,
                        commit_ts_us,
                    } => ("committed", id, taken, pos, commit_ts_us).into_pyobject(py)?,
                    XaEvent::Dropped { id, taken } => ("dropped", id, taken).into_pyobject(py)?,
                };
                out.append(item)?;
            }
            Ok(out)
        })
    }

    /// The rows of the parked XA transaction `id` still in the decoder, unstamped, as
    /// `(table, schema_version, RecordBatch)`; its outcome is then reported with `taken` set.
    fn take_parked_rows<'py>(&mut self, py: Python<'py>, id: u64) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.take_parked_rows", || {
            let batches = inner.take_parked_rows(id);
            arrow::change_batches(py, batches)
        })
    }

    /// The XID of the last `XA COMMIT` of a transaction whose prepare the decoder never saw, once.
    fn take_xa_unmatched(&mut self) -> PyResult<Option<String>> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.take_xa_unmatched", || {
            Ok(inner.take_xa_unmatched())
        })
    }

    /// Data changes logged as statements since the last call, as `(database, statement, file,
    /// offset)`: they carry no rows (at most 64 per call; `stats` counts them all).
    fn take_skipped_statements(&mut self) -> PyResult<Vec<(String, String, String, u64)>> {
        let inner = &mut self.inner;
        self.poison
            .call("BinlogDecoder.take_skipped_statements", || {
                Ok(inner
                    .take_skipped_statements()
                    .into_iter()
                    .map(|s| (s.database, s.statement, s.file, s.offset))
                    .collect())
            })
    }

    /// Re-reading from before a checkpoint at `pos`: transactions committing at or before it are
    /// dropped, XA prepares among them parked.
    fn set_skip_through(&mut self, pos: u64) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.set_skip_through", || {
            inner.set_skip_through(pos);
            Ok(())
        })
    }

    /// True while a transaction is open.
    #[getter]
    fn in_transaction(&self) -> PyResult<bool> {
        self.poison.read("BinlogDecoder.in_transaction", || {
            Ok(self.inner.in_transaction())
        })
    }

    /// Names and primary key of a table whose TABLE_MAP has no column names (MINIMAL metadata).
    fn set_table_schema(
        &mut self,
        database: &str,
        table: &str,
        names: Vec<String>,
        primary_key: Vec<String>,
    ) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.set_table_schema", || {
            inner.set_table_schema(database, table, names, primary_key);
            Ok(())
        })
    }

    /// `(file, position)` a semi-sync ACK is due for (then cleared), or None.
    fn take_ack(&mut self) -> PyResult<Option<(String, u64)>> {
        let inner = &mut self.inner;
        self.poison
            .call("BinlogDecoder.take_ack", || Ok(inner.take_ack()))
    }

    /// Signedness, collation ids and ENUM/SET labels per column, in column order, for tables
    /// whose TABLE_MAP has no optional metadata (MINIMAL): `[(unsigned, collation, labels)]`.
    fn set_column_details(
        &mut self,
        database: &str,
        table: &str,
        details: Vec<(bool, Option<u64>, Option<Vec<String>>)>,
    ) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("BinlogDecoder.set_column_details", || {
            let details = details
                .into_iter()
                .map(|(unsigned, collation, labels)| ColumnDetail {
                    unsigned,
                    collation,
                    labels,
                })
                .collect();
            inner.set_column_details(database, table, details);
            Ok(())
        })
    }

    /// `(file, end offset)` of the last committed transaction, or None.
    #[getter]
    fn last_commit(&self) -> PyResult<Option<(String, u64)>> {
        self.poison.read("BinlogDecoder.last_commit", || {
            Ok(self.inner.last_commit().map(|(f, o)| (f.to_string(), o)))
        })
    }

    /// GTID of the last committed transaction (`uuid:gno` or MariaDB `domain-server-seq`).
    #[getter]
    fn last_gtid(&self) -> PyResult<Option<String>> {
        self.poison.read("BinlogDecoder.last_gtid", || {
            Ok(self.inner.last_gtid().map(str::to_string))
        })
    }

    /// MariaDB GTID state, `domain-server-seq` per domain, comma-separated.
    #[getter]
    fn mariadb_gtid_state(&self) -> PyResult<String> {
        self.poison.read("BinlogDecoder.mariadb_gtid_state", || {
            Ok(self.inner.mariadb_gtid_state())
        })
    }

    /// The binlog file being decoded.
    #[getter]
    fn current_file(&self) -> PyResult<String> {
        self.poison.read("BinlogDecoder.current_file", || {
            Ok(self.inner.current_file().to_string())
        })
    }

    /// True once the stream sent its EOF packet (end of a non-blocking dump).
    #[getter]
    fn stream_ended(&self) -> PyResult<bool> {
        self.poison.read("BinlogDecoder.stream_ended", || {
            Ok(self.inner.stream_ended())
        })
    }

    /// Events decoded so far.
    #[getter]
    fn events(&self) -> PyResult<u64> {
        self.poison
            .read("BinlogDecoder.events", || Ok(self.inner.stats().events))
    }

    /// Events of unknown type that were skipped.
    #[getter]
    fn skipped_unknown(&self) -> PyResult<u64> {
        self.poison.read("BinlogDecoder.skipped_unknown", || {
            Ok(self.inner.stats().skipped_unknown)
        })
    }

    /// All counters as a dict.
    #[getter]
    fn stats(&self) -> PyResult<HashMap<&'static str, u64>> {
        self.poison.read("BinlogDecoder.stats", || {
            let s = self.inner.stats();
            Ok(HashMap::from([
                ("events", s.events),
                ("rows", s.rows),
                ("transactions", s.transactions),
                ("ddl", s.ddl),
                ("skipped_unknown", s.skipped_unknown),
                ("skipped_statements", s.skipped_statements),
                ("discarded_rows", s.discarded_rows),
                ("heartbeats", s.heartbeats),
                ("checksums_verified", s.checksums_verified),
                ("invalid_temporal", s.invalid_temporal),
                ("replaced_text", s.replaced_text),
                ("xa_prepared", s.xa_prepared),
                ("xa_unmatched", s.xa_unmatched),
                ("replayed_rows", s.replayed_rows),
            ]))
        })
    }
}
