//! `arrowtail._core.PgOutputDecoder`: the Python face of the pgoutput decoder. Raw CopyData
//! payloads (or bare messages with their LSN, or whole capture files) go in, change batches come
//! out as pyarrow RecordBatches. Bulk calls release the GIL.

// The core's error type is large (it carries its location); it only crosses on failure.
#![allow(clippy::result_large_err)]

use arrowtail_core::pgoutput::Decoder;
use arrowtail_core::pgwire::{feed_replication, Splitter};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyDict, PyList};

use crate::errors::IntoPyResult;
use crate::export;
use crate::wire::{copy_in, WireSummary};

/// Decodes a PostgreSQL `pgoutput` replication stream into Arrow change batches.
#[pyclass(name = "PgOutputDecoder", module = "arrowtail._core")]
pub struct PgOutputDecoder {
    inner: Decoder,
    /// Backend messages of the replication connection fed through `feed_wire`.
    wire: Splitter,
    /// Reused copy of the caller's receive buffer.
    scratch: Vec<u8>,
}

#[pymethods]
impl PgOutputDecoder {
    #[new]
    fn new() -> Self {
        Self {
            inner: Decoder::new(),
            wire: Splitter::new(),
            scratch: Vec::new(),
        }
    }

    /// Feeds one CopyData payload (`w` XLogData or `k` keepalive) when `lsn` is None, else one
    /// bare pgoutput message sent at `lsn`.
    #[pyo3(signature = (data, lsn=None))]
    fn feed(&mut self, data: &[u8], lsn: Option<u64>) -> PyResult<()> {
        match lsn {
            None => self.inner.feed_frame(data),
            Some(lsn) => self.inner.feed_message(data, lsn),
        }
        .py_err()
    }

    /// Feeds many CopyData payloads in order, without the GIL.
    fn feed_many(&mut self, py: Python<'_>, frames: Vec<PyBackedBytes>) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| {
            for f in &frames {
                inner.feed_frame(f)?;
            }
            Ok(())
        })
        .py_err()
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
    ) -> PyResult<WireSummary> {
        copy_in(data, length, &mut self.scratch)?;
        let (wire, inner, scratch) = (&mut self.wire, &mut self.inner, &self.scratch);
        let summary = py
            .detach(|| feed_replication(wire, inner, scratch))
            .py_err()?;
        Ok(WireSummary::from_core(py, summary))
    }

    /// Feeds a capture file's bytes (records of `[u64 BE LSN][u32 BE length][message]`), without
    /// the GIL.
    fn feed_capture(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| inner.feed_capture(&data)).py_err()
    }

    /// Finished batches of committed rows: a list of `(table, schema_version, RecordBatch)`.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        let batches = py.detach(|| inner.flush()).py_err()?;
        export::change_batches(py, batches)
    }

    /// Forgets in-flight transactions and any partial wire message (call after reconnecting;
    /// the server sends them again).
    fn reset_in_flight(&mut self) -> PyResult<()> {
        self.wire.reset();
        self.inner.reset_in_flight().py_err()
    }

    /// Highest commit LSN whose rows were all returned by `flush()`.
    #[getter]
    fn committed_lsn(&self) -> u64 {
        self.inner.committed_lsn()
    }

    /// LSN to confirm as flushed once the last flush's batches are durable.
    #[getter]
    fn confirmable_lsn(&self) -> u64 {
        self.inner.confirmable_lsn()
    }

    /// Server WAL end from the last XLogData or keepalive.
    #[getter]
    fn last_wal_end(&self) -> u64 {
        self.inner.last_wal_end()
    }

    /// Whether a keepalive asked for an immediate reply (not yet taken).
    #[getter]
    fn reply_requested(&self) -> bool {
        self.inner.reply_requested()
    }

    /// Returns and clears the reply-requested flag.
    fn take_reply_requested(&mut self) -> bool {
        self.inner.take_reply_requested()
    }

    /// True when no transaction is open or held.
    #[getter]
    fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }

    /// Rows of streamed or prepared transactions waiting for their outcome.
    #[getter]
    fn held_rows(&self) -> usize {
        self.inner.held_rows()
    }

    /// Counters: `special_numerics` (NaN/±Infinity stored as null in decimal columns),
    /// `aborted_rows`, `messages`.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("special_numerics", s.special_numerics)?;
        d.set_item("aborted_rows", s.aborted_rows)?;
        d.set_item("messages", s.messages)?;
        Ok(d)
    }
}
