//! Python entry point of the column transforms (drop, redact, keyed hash).

use arrowtail_core::transform::{self, ColumnRules};
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatch;

use crate::error::{guard, IntoPyResult};

/// Applies column rules to a change batch and returns a new pyarrow RecordBatch.
#[pyfunction]
#[pyo3(signature = (batch, *, drop = Vec::new(), redact = Vec::new(), hash = Vec::new(), key = Vec::new()))]
pub fn mask_batch<'py>(
    py: Python<'py>,
    batch: PyRecordBatch,
    drop: Vec<String>,
    redact: Vec<String>,
    hash: Vec<String>,
    key: Vec<u8>,
) -> PyResult<Bound<'py, PyAny>> {
    let rules = ColumnRules {
        drop: drop.into_iter().collect(),
        redact: redact.into_iter().collect(),
        hash: hash.into_iter().collect(),
    };
    let input = batch.into_inner();
    guard("mask_batch", || {
        let out = py
            .detach(|| transform::apply(&input, &rules, &key))
            .py_err()?;
        PyRecordBatch::new(out).into_pyarrow(py)
    })
}
