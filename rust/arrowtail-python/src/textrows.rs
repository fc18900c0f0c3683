//! `arrowtail._core.TextRowsBuilder`: rows of a MySQL/MariaDB `SELECT`, as the text protocol sent
//! them, into `_op = r` change batches (snapshots).

use std::collections::HashMap;

use arrowtail_core::textrows::TextRowsBuilder;
use arrowtail_core::types::mysql::text::TextColumn;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyList;
use pyo3_arrow::PySchema;

use crate::arrow;
use crate::error::{guard, IntoPyResult, Poison};

/// One column as `(name, data_type, column_type, precision, scale, charset)`.
type ColumnArg = (
    String,
    String,
    String,
    Option<u32>,
    Option<u32>,
    Option<String>,
);

/// Builds snapshot change batches from text-protocol rows of one table.
#[pyclass(name = "TextRowsBuilder", module = "arrowtail._core")]
pub struct PyTextRowsBuilder {
    inner: TextRowsBuilder,
    poison: Poison,
}

#[pymethods]
impl PyTextRowsBuilder {
    /// `columns` lists `(name, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE,
    /// CHARACTER_SET_NAME)` from `information_schema.COLUMNS`, in the order of the SELECT.
    #[new]
    #[pyo3(signature = (table, columns, primary_key, *, position, snapshot_ts_us, schema_version = 1, first_seq = 0, column_byte_limit = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        table: &str,
        columns: Vec<ColumnArg>,
        primary_key: Vec<String>,
        position: u64,
        snapshot_ts_us: i64,
        schema_version: u32,
        first_seq: u32,
        column_byte_limit: Option<usize>,
    ) -> PyResult<Self> {
        let limit = crate::byte_limit(column_byte_limit)?;
        guard("TextRowsBuilder()", || {
            let columns: Vec<TextColumn> = columns
                .into_iter()
                .map(
                    |(name, data_type, column_type, precision, scale, charset)| TextColumn {
                        name,
                        data_type,
                        column_type,
                        precision,
                        scale,
                        charset,
                    },
                )
                .collect();
            let mut inner = TextRowsBuilder::new(
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
            Ok(Self {
                inner,
                poison: Poison::default(),
            })
        })
    }

    /// Appends rows: sequences of `bytes` (or None for NULL), one value per column, as read
    /// without conversion. The GIL is released while they are decoded.
    fn append_rows(
        &mut self,
        py: Python<'_>,
        rows: Vec<Vec<Option<PyBackedBytes>>>,
    ) -> PyResult<()> {
        let inner = &mut self.inner;
        self.poison.call("TextRowsBuilder.append_rows", || {
            py.detach(|| {
                let mut values: Vec<Option<&[u8]>> = Vec::new();
                for row in &rows {
                    values.clear();
                    values.extend(row.iter().map(|v| v.as_deref()));
                    inner.append_row(&values)?;
                }
                Ok(())
            })
            .py_err()
        })
    }

    /// Finished batches: a list of `(table, schema_version, RecordBatch)`.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        self.poison.call("TextRowsBuilder.flush", || {
            let batches = py.detach(|| inner.flush()).py_err()?;
            arrow::change_batches(py, batches)
        })
    }

    /// The `pyarrow.Schema` of the batches.
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.poison.read("TextRowsBuilder.schema", || {
            PySchema::new(self.inner.schema().clone()).into_pyarrow(py)
        })
    }

    /// Rows appended so far.
    #[getter]
    fn rows(&self) -> PyResult<u64> {
        self.poison
            .read("TextRowsBuilder.rows", || Ok(self.inner.rows()))
    }

    /// The `_seq` the next row gets.
    #[getter]
    fn next_seq(&self) -> PyResult<u32> {
        self.poison
            .read("TextRowsBuilder.next_seq", || Ok(self.inner.next_seq()))
    }

    /// Counters like `BinlogDecoder.stats`: `invalid_temporal`, `replaced_text`.
    #[getter]
    fn stats(&self) -> PyResult<HashMap<&'static str, u64>> {
        self.poison.read("TextRowsBuilder.stats", || {
            let s = self.inner.stats();
            Ok(HashMap::from([
                ("invalid_temporal", s.invalid_temporal),
                ("replaced_text", s.replaced_text),
            ]))
        })
    }
}
