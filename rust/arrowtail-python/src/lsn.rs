//! PostgreSQL LSNs as text (`arrowtail_core::lsn`): `format_lsn` and `parse_lsn` for the Python
//! source, so both sides print and read positions with one implementation.

// The core's error type is large (it carries its location); it only crosses on failure.
#![allow(clippy::result_large_err)]

use arrowtail_core::lsn;
use pyo3::prelude::*;

use crate::error::{guard, IntoPyResult};

/// An LSN as PostgreSQL prints it (`16/B374D848`).
#[pyfunction]
fn format_lsn(lsn: u64) -> PyResult<String> {
    guard("format_lsn", || Ok(lsn::format_lsn(lsn)))
}

/// Parses `16/B374D848` into an integer; malformed text raises `arrowtail.DecodeError`.
#[pyfunction]
fn parse_lsn(text: &str) -> PyResult<u64> {
    guard("parse_lsn", || lsn::parse_lsn(text).py_err())
}

/// Adds the functions of this module to `arrowtail._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(format_lsn, m)?)?;
    m.add_function(wrap_pyfunction!(parse_lsn, m)?)?;
    Ok(())
}
