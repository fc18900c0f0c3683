//! Arrow across the boundary: finished change batches (the core's `arrow::ChangeBatch`) go to
//! Python through the Arrow PyCapsule interface (zero copy).

use arrowtail_core::arrow::ChangeBatch;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3_arrow::PyRecordBatch;

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
