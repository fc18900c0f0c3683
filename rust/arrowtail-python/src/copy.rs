//! `arrowtail._core.CopyDecoder`: COPY BINARY output (snapshots) into `_op = r` change batches.

use arrowtail_core::copy::{CopyColumn, CopyDecoder as Inner};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyList;

use crate::errors::IntoPyResult;
use crate::export;

/// Decodes the bytes of `COPY (...) TO STDOUT (FORMAT binary)` into change batches.
#[pyclass(name = "CopyDecoder", module = "arrowtail._core")]
pub struct CopyDecoder {
    inner: Inner,
}

#[pymethods]
impl CopyDecoder {
    /// `columns` lists `(name, type_oid, typmod)` in the order of the COPY query.
    #[new]
    #[pyo3(signature = (table, columns, primary_key, *, position, snapshot_ts_us, schema_version = 1, first_seq = 0))]
    fn new(
        table: &str,
        columns: Vec<(String, u32, i32)>,
        primary_key: Vec<String>,
        position: u64,
        snapshot_ts_us: i64,
        schema_version: u32,
        first_seq: u32,
    ) -> PyResult<Self> {
        let columns: Vec<CopyColumn> = columns
            .into_iter()
            .map(|(name, type_oid, typmod)| CopyColumn {
                name,
                type_oid,
                typmod,
            })
            .collect();
        let inner = Inner::new(
            table,
            &columns,
            primary_key,
            schema_version,
            position,
            snapshot_ts_us,
            first_seq,
        )
        .py_err()?;
        Ok(Self { inner })
    }

    /// Decodes a chunk of COPY data (any size; GIL released).
    fn feed(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| inner.feed(&data)).py_err()
    }

    /// Raises DecodeError unless the end-of-data marker was seen.
    fn finish(&mut self) -> PyResult<()> {
        self.inner.finish().py_err()
    }

    /// Finished batches: a list of `(table, schema_version, RecordBatch)`.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        let batches = py.detach(|| inner.flush()).py_err()?;
        export::change_batches(py, batches)
    }

    /// Rows decoded so far.
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows()
    }

    /// The `_seq` the next row gets.
    #[getter]
    fn next_seq(&self) -> u32 {
        self.inner.next_seq()
    }

    /// NaN/±Infinity numerics stored as null in decimal columns.
    #[getter]
    fn special_numerics(&self) -> u64 {
        self.inner.special_numerics()
    }
}
