//! Arrow across the boundary: finished change batches (the core's `arrow::ChangeBatch`) and
//! arrays go to Python through the Arrow PyCapsule interface (zero copy).

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::Field;
use arrowtail_core::arrow::ChangeBatch;
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
