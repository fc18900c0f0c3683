//! `arrowtail._core.CopyDecoder`: COPY BINARY output (snapshots) into `_op = r` change batches.

use arrowtail_core::copy::{CopyColumn, CopyDecoder};
use arrowtail_core::pgwire::{feed_copy, Splitter, WireSummary};
use pyo3::exceptions::{PyConnectionAbortedError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyList;

use crate::arrow::{self, PySchemaVersions};
use crate::error::{guard, to_py, IntoPyResult, Poison};
use crate::pgwire::{copy_in, recv_fd, PyWireSummary};

/// Bytes asked of the socket per read in [`PyCopyDecoder::read_wire`].
const READ_SIZE: usize = 1 << 20;

/// Why [`PyCopyDecoder::read_wire`] stopped short.
enum ReadFail {
    Decode(arrowtail_core::Error),
    Io(std::io::Error),
    Closed,
}

/// Decodes the bytes of `COPY (...) TO STDOUT (FORMAT binary)` into change batches.
#[pyclass(name = "CopyDecoder", module = "arrowtail._core")]
pub struct PyCopyDecoder {
    inner: CopyDecoder,
    /// Backend messages of the connection fed through `feed_wire`.
    wire: Splitter,
    /// Reused copy of the caller's receive buffer.
    scratch: Vec<u8>,
    /// Set once a call panicked (see [`Poison`]).
    poison: Poison,
}

#[pymethods]
impl PyCopyDecoder {
    /// `columns` lists `(name, type_oid, typmod)` in the order of the COPY query.
    /// `column_byte_limit`: bytes (or list elements) of one text, binary or list column at which
    /// a batch is cut into the next (default and maximum: just under 1 GiB).
    #[new]
    #[pyo3(signature = (table, columns, primary_key, *, position, snapshot_ts_us, schema_version = 1, first_seq = 0, column_byte_limit = None, versions = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        table: &str,
        columns: Vec<(String, u32, i32)>,
        primary_key: Vec<String>,
        position: u64,
        snapshot_ts_us: i64,
        schema_version: u32,
        first_seq: u32,
        column_byte_limit: Option<usize>,
        versions: Option<PyRef<'_, PySchemaVersions>>,
    ) -> PyResult<Self> {
        let limit = crate::byte_limit(column_byte_limit)?;
        guard("CopyDecoder()", || {
            let columns: Vec<CopyColumn> = columns
                .into_iter()
                .map(|(name, type_oid, typmod)| CopyColumn {
                    name,
                    type_oid,
                    typmod,
                })
                .collect();
            let mut inner = CopyDecoder::new(
                table,
                &columns,
                primary_key,
                schema_version,
                position,
                snapshot_ts_us,
                first_seq,
            )
            .py_err()?;
            inner.set_byte_limit(limit);
            if let Some(versions) = versions {
                inner.share_schema_versions(versions.inner.clone());
            }
            Ok(Self {
                inner,
                wire: Splitter::new(),
                scratch: Vec::new(),
                poison: Poison::default(),
            })
        })
    }

    /// Decodes a chunk of COPY data (any size; GIL released).
    fn feed(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("CopyDecoder.feed", || {
            py.detach(|| inner.feed(&data)).py_err()
        })
    }

    /// Feeds raw bytes read from the connection after sending the COPY query (the first
    /// `length` bytes of `data`, a bytes or bytearray): CopyData is decoded, other messages
    /// (CopyOutResponse, CopyDone, CommandComplete, ErrorResponse, ReadyForQuery) are returned in
    /// the summary. The GIL is released while decoding.
    #[pyo3(signature = (data, length=None))]
    fn feed_wire(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        length: Option<usize>,
    ) -> PyResult<PyWireSummary> {
        let (wire, inner, scratch) = (&mut self.wire, &mut self.inner, &mut self.scratch);
        self.poison.call("CopyDecoder.feed_wire", || {
            copy_in(data, length, scratch)?;
            let scratch = &*scratch;
            let summary = py.detach(|| feed_copy(wire, inner, scratch)).py_err()?;
            Ok(PyWireSummary::from_core(py, summary))
        })
    }

    /// Reads the COPY exchange straight from the socket `fd` (connected, blocking, without TLS)
    /// and decodes it with the GIL released, read after read, until a message other than data
    /// arrives (the exchange's end, an error, a notice), `limit` bytes were read, or a signal
    /// interrupts the wait. Returns the summary (data messages counted over every read) and the
    /// bytes read. Saves the Python round trip per read of `feed_wire` (a read gives a few tens
    /// of kilobytes: a server sends as it produces). A failed read raises OSError; the server
    /// closing the connection raises ConnectionAbortedError.
    #[pyo3(signature = (fd, limit))]
    fn read_wire(
        &mut self,
        py: Python<'_>,
        fd: i32,
        limit: usize,
    ) -> PyResult<(PyWireSummary, usize)> {
        if fd < 0 {
            return Err(PyValueError::new_err("read_wire needs an open socket"));
        }
        let (wire, inner, scratch) = (&mut self.wire, &mut self.inner, &mut self.scratch);
        self.poison.call("CopyDecoder.read_wire", || {
            let read = py.detach(|| -> Result<(WireSummary, usize), ReadFail> {
                scratch.resize(READ_SIZE, 0);
                let (mut total, mut data_messages) = (0usize, 0u64);
                loop {
                    let n = match recv_fd(fd, scratch).map_err(ReadFail::Io)? {
                        None => {
                            let summary = WireSummary {
                                data_messages,
                                ..WireSummary::default()
                            };
                            return Ok((summary, total));
                        }
                        Some(0) => return Err(ReadFail::Closed),
                        Some(n) => n,
                    };
                    total += n;
                    let mut summary =
                        feed_copy(wire, inner, &scratch[..n]).map_err(ReadFail::Decode)?;
                    data_messages += summary.data_messages;
                    if !summary.messages.is_empty() || summary.done || total >= limit {
                        summary.data_messages = data_messages;
                        return Ok((summary, total));
                    }
                }
            });
            match read {
                Ok((summary, n)) => Ok((PyWireSummary::from_core(py, summary), n)),
                Err(ReadFail::Decode(e)) => Err(to_py(e)),
                Err(ReadFail::Io(e)) => Err(PyOSError::new_err(e.to_string())),
                Err(ReadFail::Closed) => Err(PyConnectionAbortedError::new_err(
                    "the PostgreSQL server closed the connection",
                )),
            }
        })
    }

    /// Raises DecodeError unless the end-of-data marker was seen.
    fn finish(&mut self) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison
            .call("CopyDecoder.finish", || inner.finish().py_err())
    }

    /// Readies the decoder for another COPY of the same columns, numbered from `first_seq`,
    /// keeping its allocations; raises DecodeError unless the last COPY ended and every row was
    /// flushed.
    #[pyo3(signature = (first_seq = 0))]
    fn restart(&mut self, first_seq: u32) -> PyResult<()> {
        let (inner, wire) = (&mut self.inner, &mut self.wire);
        self.poison.call("CopyDecoder.restart", || {
            inner.restart(first_seq).py_err()?;
            *wire = Splitter::new();
            Ok(())
        })
    }

    /// Finished batches: a list of `(table, schema_version, RecordBatch)`.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        self.poison.call("CopyDecoder.flush", || {
            let batches = py.detach(|| inner.flush()).py_err()?;
            arrow::change_batches(py, batches)
        })
    }

    /// Rows decoded so far.
    #[getter]
    fn rows(&self) -> PyResult<u64> {
        self.poison
            .read("CopyDecoder.rows", || Ok(self.inner.rows()))
    }

    /// The `_seq` the next row gets.
    #[getter]
    fn next_seq(&self) -> PyResult<u32> {
        self.poison
            .read("CopyDecoder.next_seq", || Ok(self.inner.next_seq()))
    }

    /// NaN/±Infinity numerics stored as null in decimal columns.
    #[getter]
    fn special_numerics(&self) -> PyResult<u64> {
        self.poison.read("CopyDecoder.special_numerics", || {
            Ok(self.inner.special_numerics())
        })
    }
}
