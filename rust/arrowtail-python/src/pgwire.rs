//! Raw PostgreSQL wire bytes into the decoders: the `feed_wire` methods of `PgOutputDecoder` and
//! `CopyDecoder` share the argument handling here and return a `WireSummary` of the messages that
//! were not data (see `arrowtail_core::pgwire`).

use std::io::Read;
use std::mem::ManuallyDrop;
use std::net::TcpStream;
use std::os::fd::{FromRawFd, RawFd};

use arrowtail_core::pgwire::WireSummary;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyByteArrayMethods, PyBytes, PyBytesMethods};

/// What one `feed_wire` call saw besides the decoded data.
#[pyclass(name = "WireSummary", module = "arrowtail._core", frozen)]
pub struct PyWireSummary {
    /// CopyData payloads carrying data (XLogData frames or COPY data).
    #[pyo3(get)]
    data_messages: u64,
    /// Keepalive frames of a replication stream.
    #[pyo3(get)]
    keepalives: u64,
    /// The highest server WAL end the keepalives reported (0 without keepalives).
    #[pyo3(get)]
    keepalive_wal_end: u64,
    /// Whether a keepalive asked for a reply at once.
    #[pyo3(get)]
    reply_requested: bool,
    /// Every other message in order: `(type, body)`, the type as a one-character string.
    #[pyo3(get)]
    messages: Vec<(String, Py<PyBytes>)>,
    /// ReadyForQuery arrived: the exchange is over.
    #[pyo3(get)]
    done: bool,
    /// With `done`, the bytes that followed ReadyForQuery.
    #[pyo3(get)]
    rest: Py<PyBytes>,
}

impl PyWireSummary {
    /// Converts the core's summary.
    pub fn from_core(py: Python<'_>, s: WireSummary) -> Self {
        Self {
            data_messages: s.data_messages,
            keepalives: s.keepalives,
            keepalive_wal_end: s.keepalive_wal_end,
            reply_requested: s.reply_requested,
            messages: s
                .messages
                .into_iter()
                .map(|(tag, body)| ((tag as char).to_string(), PyBytes::new(py, &body).unbind()))
                .collect(),
            done: s.done,
            rest: PyBytes::new(py, &s.rest).unbind(),
        }
    }
}

#[pymethods]
impl PyWireSummary {
    fn __repr__(&self) -> String {
        let tags: String = self.messages.iter().map(|(t, _)| t.as_str()).collect();
        format!(
            "WireSummary(data_messages={}, keepalives={}, messages={tags:?}, done={})",
            self.data_messages,
            self.keepalives,
            if self.done { "True" } else { "False" }
        )
    }
}

/// Reads what the connected TCP socket `fd` has (waiting for at least one byte) into `buf`.
/// `None` when a signal interrupted the wait, so that the caller returns to Python and its
/// handlers run; `Some(0)` when the peer closed the connection.
pub fn recv_fd(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    // SAFETY: `fd` is the open socket of a Python socket object that the caller's Python frame
    // holds for the whole call, and only that object closes it; ManuallyDrop keeps this stream
    // from closing it.
    let stream = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
    match (&*stream).read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

/// Copies the first `length` bytes (all when None) of a `bytes` or `bytearray` into `into`, so
/// that a reusable receive buffer can be decoded with the GIL released.
pub fn copy_in(data: &Bound<'_, PyAny>, length: Option<usize>, into: &mut Vec<u8>) -> PyResult<()> {
    into.clear();
    let take = |buf: &[u8], into: &mut Vec<u8>| -> PyResult<()> {
        let n = length.unwrap_or(buf.len());
        let part = buf.get(..n).ok_or_else(|| {
            PyValueError::new_err(format!(
                "length {n} is beyond the buffer's {} bytes",
                buf.len()
            ))
        })?;
        into.extend_from_slice(part);
        Ok(())
    };
    if let Ok(b) = data.cast::<PyBytes>() {
        return take(b.as_bytes(), into);
    }
    if let Ok(b) = data.cast::<PyByteArray>() {
        // SAFETY: the GIL is held and no Python code runs until the bytes are copied, so the
        // bytearray cannot be resized or freed meanwhile.
        return take(unsafe { b.as_bytes() }, into);
    }
    Err(PyTypeError::new_err("feed_wire takes bytes or bytearray"))
}
