//! `arrowtail._core.PgOutputDecoder`: the Python face of the pgoutput decoder. Raw CopyData
//! payloads (or bare messages with their LSN, or whole capture files) go in, change batches come
//! out as pyarrow RecordBatches. Bulk calls release the GIL.

// The core's error type is large (it carries its location); it only crosses on failure.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use arrowtail_core::pgoutput::framing::{self, unix_us_to_pg_time};
use arrowtail_core::pgoutput::{Decoder, SpillEvent};
use arrowtail_core::pgwire::{feed_replication, Splitter};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use pyo3_arrow::{PyRecordBatch, PySchema};

use crate::arrow::{self, KnownSchemas, PySchemaVersions};
use crate::error::{IntoPyResult, Poison};
use crate::pgwire::{copy_in, PyWireSummary};

/// Decodes a PostgreSQL `pgoutput` replication stream into Arrow change batches.
#[pyclass(name = "PgOutputDecoder", module = "arrowtail._core")]
pub struct PyPgOutputDecoder {
    inner: Decoder,
    /// Backend messages of the replication connection fed through `feed_wire`.
    wire: Splitter,
    /// Reused copy of the caller's receive buffer.
    scratch: Vec<u8>,
    /// Set once a call panicked (see [`Poison`]).
    poison: Poison,
    /// Schemas `flush` hands batches on with (`use_schema`).
    schemas: KnownSchemas,
}

#[pymethods]
impl PyPgOutputDecoder {
    /// `column_byte_limit`: bytes (or list elements) of one text, binary or list column at which
    /// a batch is cut into the next (default and maximum: just under 1 GiB). `memory_budget`:
    /// bytes of messages of an open transaction past which `flush` hands its rows on before its
    /// commit (default 256 MiB). `row_lsn`: batches carry each change's `_lsn` and
    /// `_last_commit_lsn` columns.
    #[new]
    #[pyo3(signature = (*, column_byte_limit=None, versions=None, memory_budget=None, row_lsn=false))]
    fn new(
        column_byte_limit: Option<usize>,
        versions: Option<PyRef<'_, PySchemaVersions>>,
        memory_budget: Option<usize>,
        row_lsn: bool,
    ) -> PyResult<Self> {
        let limit = crate::byte_limit(column_byte_limit)?;
        if memory_budget == Some(0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "memory_budget must be at least 1 byte",
            ));
        }
        crate::error::guard("PgOutputDecoder()", || {
            let mut inner = Decoder::new();
            inner.set_byte_limit(limit);
            inner.set_row_lsn(row_lsn);
            if let Some(budget) = memory_budget {
                inner.set_memory_budget(budget);
            }
            if let Some(versions) = versions {
                inner.share_schema_versions(versions.inner.clone());
            }
            Ok(Self {
                inner,
                wire: Splitter::new(),
                scratch: Vec::new(),
                poison: Poison::default(),
                schemas: KnownSchemas::default(),
            })
        })
    }

    /// Feeds one CopyData payload (`w` XLogData or `k` keepalive) when `lsn` is None, else one
    /// bare pgoutput message sent at `lsn`.
    #[pyo3(signature = (data, lsn=None))]
    fn feed(&mut self, data: &[u8], lsn: Option<u64>) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.feed", || {
            match lsn {
                None => inner.feed_frame(data),
                Some(lsn) => inner.feed_message(data, lsn),
            }
            .py_err()
        })
    }

    /// Feeds many CopyData payloads in order, without the GIL.
    fn feed_many(&mut self, py: Python<'_>, frames: Vec<PyBackedBytes>) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.feed_many", || {
            py.detach(|| {
                for f in &frames {
                    inner.feed_frame(f)?;
                }
                Ok(())
            })
            .py_err()
        })
    }

    /// Feeds raw bytes read from a replication connection after `START_REPLICATION` (the first
    /// `length` bytes of `data`, a bytes or bytearray): complete CopyData frames are decoded, a
    /// partial message waits for the next call, other messages are returned in the summary.
    /// The GIL is released while decoding.
    #[pyo3(signature = (data, length=None))]
    fn feed_wire(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        length: Option<usize>,
    ) -> PyResult<PyWireSummary> {
        let (wire, inner, scratch) = (&mut self.wire, &mut self.inner, &mut self.scratch);
        self.poison.call("PgOutputDecoder.feed_wire", || {
            copy_in(data, length, scratch)?;
            let scratch = &*scratch;
            let summary = py
                .detach(|| feed_replication(wire, inner, scratch))
                .py_err()?;
            Ok(PyWireSummary::from_core(py, summary))
        })
    }

    /// Feeds a capture file's bytes (records of `[u64 BE LSN][u32 BE length][message]`), without
    /// the GIL.
    fn feed_capture(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.feed_capture", || {
            py.detach(|| inner.feed_capture(&data)).py_err()
        })
    }

    /// Finished batches of committed rows: a list of `(table, schema_version, RecordBatch)`.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let (inner, schemas) = (&mut self.inner, &mut self.schemas);
        self.poison.call("PgOutputDecoder.flush", || {
            let batches = py.detach(|| inner.flush()).py_err()?;
            arrow::change_batches_with(py, batches, schemas)
        })
    }

    /// From now on `flush` hands `table`'s batches whose schema is exactly `before` on with
    /// `after` instead: the same columns with other metadata (the catalog facts a source adds).
    /// The batch then crosses as its arrays alone, against this pyarrow schema, which costs
    /// less than a schema of its own for every batch. Replaces the table's earlier pair;
    /// `after=None` forgets it.
    #[pyo3(signature = (table, before, after))]
    fn use_schema(
        &mut self,
        table: String,
        before: PySchema,
        after: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let Some(after) = after else {
            self.schemas.forget(&table);
            return Ok(());
        };
        let after_schema: PySchema = after.extract()?;
        self.schemas.register(
            table,
            before.into_inner(),
            after_schema.into_inner(),
            after.unbind(),
        )
    }

    /// The relation id of each table (`schema.name`) as the catalog has it now: a Relation
    /// message of one of them under another id reports it as replaced (`take_replaced`).
    fn expect_relations(&mut self, relids: HashMap<String, u32>) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.expect_relations", || {
            for (table, relid) in relids {
                inner.expect_relation(&table, relid);
            }
            Ok(())
        })
    }

    /// Tables (`schema.name`) announced under another relation id than the one their name had,
    /// since the last call: dropped and created again, or another table renamed to the name.
    fn take_replaced(&mut self) -> PyResult<Vec<String>> {
        let inner = &mut self.inner;
        self.poison.call(
            "PgOutputDecoder.take_replaced",
            || Ok(inner.take_replaced()),
        )
    }

    /// Columns of each type OID in `aliases` are decoded as the built-in type it maps to (an
    /// array of an enum as `text[]`, OID 1009, the one target accepted: an enum label is a
    /// valid `text` element in both wire forms).
    fn alias_types(&mut self, aliases: HashMap<u32, u32>) -> PyResult<()> {
        if let Some((oid, to)) = aliases.iter().find(|(_, to)| **to != 1009) {
            return Err(PyValueError::new_err(format!(
                "type {oid} cannot be decoded as type {to}: only as text[] (1009)"
            )));
        }
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.alias_types", || {
            for (oid, to) in aliases {
                inner.alias_type(oid, to);
            }
            Ok(())
        })
    }

    /// The end LSN of the transaction committed before the stream (a resumed run's checkpoint):
    /// `_last_commit_lsn` of the changes before the first commit this decoder sees.
    fn set_last_commit_lsn(&mut self, end_lsn: u64) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.set_last_commit_lsn", || {
            inner.set_last_commit_lsn(end_lsn);
            Ok(())
        })
    }

    /// Forgets in-flight transactions and any partial wire message (call after reconnecting;
    /// the server sends them again).
    fn reset_in_flight(&mut self) -> PyResult<()> {
        let (wire, inner) = (&mut self.wire, &mut self.inner);
        self.poison.call("PgOutputDecoder.reset_in_flight", || {
            wire.reset();
            inner.reset_in_flight().py_err()
        })
    }

    /// Highest commit LSN whose rows were all returned by `flush()`.
    #[getter]
    fn committed_lsn(&self) -> PyResult<u64> {
        self.poison.read("PgOutputDecoder.committed_lsn", || {
            Ok(self.inner.committed_lsn())
        })
    }

    /// End LSN of the commit at `committed_lsn` (0 before any).
    #[getter]
    fn committed_end_lsn(&self) -> PyResult<u64> {
        self.poison.read("PgOutputDecoder.committed_end_lsn", || {
            Ok(self.inner.committed_end_lsn())
        })
    }

    /// LSN to confirm as flushed once the last flush's batches are durable.
    #[getter]
    fn confirmable_lsn(&self) -> PyResult<u64> {
        self.poison.read("PgOutputDecoder.confirmable_lsn", || {
            Ok(self.inner.confirmable_lsn())
        })
    }

    /// Server WAL end from the last XLogData or keepalive.
    #[getter]
    fn last_wal_end(&self) -> PyResult<u64> {
        self.poison.read("PgOutputDecoder.last_wal_end", || {
            Ok(self.inner.last_wal_end())
        })
    }

    /// Whether a keepalive asked for an immediate reply (not yet taken).
    #[getter]
    fn reply_requested(&self) -> PyResult<bool> {
        self.poison.read("PgOutputDecoder.reply_requested", || {
            Ok(self.inner.reply_requested())
        })
    }

    /// Returns and clears the reply-requested flag.
    fn take_reply_requested(&mut self) -> PyResult<bool> {
        let inner = &mut self.inner;
        self.poison
            .call("PgOutputDecoder.take_reply_requested", || {
                Ok(inner.take_reply_requested())
            })
    }

    /// True when no transaction is open or held.
    #[getter]
    fn is_idle(&self) -> PyResult<bool> {
        self.poison
            .read("PgOutputDecoder.is_idle", || Ok(self.inner.is_idle()))
    }

    /// Whether rows of the open transaction were handed on before its commit.
    #[getter]
    fn handed_early(&self) -> PyResult<bool> {
        self.poison.read("PgOutputDecoder.handed_early", || {
            Ok(self.inner.handed_early())
        })
    }

    /// Rows of streamed or prepared transactions waiting for their outcome.
    #[getter]
    fn held_rows(&self) -> PyResult<usize> {
        self.poison
            .read("PgOutputDecoder.held_rows", || Ok(self.inner.held_rows()))
    }

    /// Bytes of messages of streamed or prepared transactions decoded since their rows were last
    /// taken out.
    #[getter]
    fn held_bytes(&self) -> PyResult<usize> {
        self.poison
            .read("PgOutputDecoder.held_bytes", || Ok(self.inner.held_bytes()))
    }

    /// Takes the rows of streamed and prepared transactions out, unstamped (`_pos` and
    /// `_commit_ts` 0): `(xid, subxid, table, schema_version, RecordBatch)`, in change order per
    /// table, each batch written by one subtransaction.
    fn take_held_rows<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.take_held_rows", || {
            let held = py.detach(|| inner.take_held_rows()).py_err()?;
            let items = held
                .into_iter()
                .map(|h| {
                    let batch = PyRecordBatch::new(h.rows.batch).into_pyarrow(py)?;
                    PyTuple::new(
                        py,
                        [
                            h.xid.into_pyobject(py)?.into_any(),
                            h.subxid.into_pyobject(py)?.into_any(),
                            h.rows.table.into_pyobject(py)?.into_any(),
                            h.rows.schema_version.into_pyobject(py)?.into_any(),
                            batch,
                        ],
                    )
                })
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)
        })
    }

    /// What voids rows taken out, oldest first: `(xid, subxid)` for a subtransaction's abort,
    /// `(xid, None)` for the whole transaction (aborted, rolled back, or to be sent again).
    fn take_spill_events(&mut self) -> PyResult<Vec<(u32, Option<u32>)>> {
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.take_spill_events", || {
            Ok(inner
                .take_spill_events()
                .into_iter()
                .map(|e| match e {
                    SpillEvent::SubAbort { xid, subxid } => (xid, Some(subxid)),
                    SpillEvent::Discard { xid } => (xid, None),
                })
                .collect())
        })
    }

    /// The commit of a transaction whose rows were taken out, once `flush` returned every row
    /// committed before it: `(xid, commit_lsn, commit_ts_us, last_commit_lsn)`, or None
    /// (`last_commit_lsn`: the end LSN of the transaction committed before it, 0 if none known).
    fn take_spilled_commit(&mut self) -> PyResult<Option<(u32, u64, i64, u64)>> {
        let inner = &mut self.inner;
        self.poison.call("PgOutputDecoder.take_spilled_commit", || {
            Ok(inner
                .take_spilled_commit()
                .map(|c| (c.xid, c.pos, c.commit_ts_us, c.last_commit_lsn)))
        })
    }

    /// Counters: `special_numerics` (NaN/±Infinity stored as null in decimal columns),
    /// `aborted_rows`, `messages`.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.poison.read("PgOutputDecoder.stats", || {
            let s = self.inner.stats();
            let d = PyDict::new(py);
            d.set_item("special_numerics", s.special_numerics)?;
            d.set_item("aborted_rows", s.aborted_rows)?;
            d.set_item("messages", s.messages)?;
            Ok(d)
        })
    }

    /// Panics inside a guarded call with the GIL released (tests of the panic guard only).
    fn _panic_for_test(&mut self, py: Python<'_>, message: &str) -> PyResult<()> {
        self.poison.call("PgOutputDecoder._panic_for_test", || {
            py.detach(|| -> PyResult<()> { panic!("{message}") })
        })
    }
}

/// The standby status update (`r` message) a replication client sends: written, flushed and
/// applied LSNs, the client clock (µs since 2000-01-01; now when not given) and whether the
/// server should reply at once.
#[pyfunction]
#[pyo3(signature = (write_lsn, flush_lsn, apply_lsn, reply = false, clock = None))]
pub fn standby_status_update<'py>(
    py: Python<'py>,
    write_lsn: u64,
    flush_lsn: u64,
    apply_lsn: u64,
    reply: bool,
    clock: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    crate::error::guard("standby_status_update", || {
        let clock = clock.unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            unix_us_to_pg_time(now)
        });
        let msg = framing::standby_status_update(write_lsn, flush_lsn, apply_lsn, clock, reply);
        Ok(PyBytes::new(py, &msg))
    })
}
