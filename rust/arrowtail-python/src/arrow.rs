//! Arrow across the boundary: finished change batches (the core's `arrow::ChangeBatch`) and
//! arrays go to Python through the Arrow PyCapsule interface (zero copy).

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::Field;
use arrowtail_core::arrow::{ChangeBatch, SchemaVersions, SharedSchemaVersions};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3_arrow::{PyArray, PyRecordBatch};

/// Converts change batches into a Python list of `(table, schema_version, pyarrow.RecordBatch)`.
#[allow(dead_code)] // Shared helper, unused until the first decoder binding.
pub fn change_batches<'py>(
    py: Python<'py>,
    batches: Vec<ChangeBatch>,
) -> PyResult<Bound<'py, PyList>> {
    let items = batches
        .into_iter()
        .map(|cb| {
            let batch = PyRecordBatch::new(cb.batch).into_pyarrow(py)?;
            PyTuple::new(
                py,
                [
                    cb.table.into_pyobject(py)?.into_any(),
                    cb.schema_version.into_pyobject(py)?.into_any(),
                    batch,
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Converts an array into a pyarrow array named `name` (nullable).
pub fn to_pyarrow<'py>(
    py: Python<'py>,
    array: ArrayRef,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let field = Arc::new(Field::new(name, array.data_type().clone(), true));
    let exported = PyArray::new(array, field).into_pyobject(py)?;
    py.import("pyarrow")?.getattr("array")?.call1((exported,))
}

/// `arrowtail._core.SchemaVersions`: the run-wide numbering of schema versions
/// (`arrowtail_core::arrow::SchemaVersions`). A source creates one and hands it to each decoder
/// it runs (`versions=`), so their batches share one numbering; `assign` numbers a batch built
/// elsewhere the same way.
#[pyclass(name = "SchemaVersions", module = "arrowtail._core", frozen)]
pub struct PySchemaVersions {
    pub inner: SharedSchemaVersions,
}

#[pymethods]
impl PySchemaVersions {
    #[new]
    fn new() -> Self {
        Self {
            inner: SchemaVersions::shared(),
        }
    }

    /// `(version, batch)`: the version of `batch`'s column layout for `table` (numbered when
    /// new), and the batch with that version in its `arrowtail.schema_version` metadata.
    fn assign<'py>(
        &self,
        py: Python<'py>,
        table: &str,
        batch: PyRecordBatch,
    ) -> PyResult<(u32, Bound<'py, PyAny>)> {
        crate::error::guard("SchemaVersions.assign", || {
            let batch = batch.into_inner();
            let (version, batch) = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .stamp(table, batch);
            Ok((version, PyRecordBatch::new(batch).into_pyarrow(py)?))
        })
    }
}
