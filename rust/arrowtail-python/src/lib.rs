//! `arrowtail._core`: the thin PyO3 layer over arrowtail-core. No protocol logic lives here; it
//! converts arguments, releases the GIL around batch-level work, maps errors onto the Python
//! exception hierarchy and hands batches to Python through the Arrow PyCapsule interface.

// Core errors carry their location by value (see arrowtail-core's lib.rs); they are built on the
// cold path only.
#![allow(clippy::result_large_err)]

use pyo3::prelude::*;

mod binlog;
mod copy;
mod errors;
mod export;
mod pgoutput;
mod sinks;
mod transform;
mod wire;

/// Raises the Python exception class a core error maps to (used by the tests of the mapping).
#[pyfunction]
fn _raise_core_error(kind: &str, message: &str) -> PyResult<()> {
    use arrowtail_core::{Error, Location};
    let err = match kind {
        "decode" => Error::decode("test input", Location::Offset(0), message),
        "schema" => Error::SchemaChange {
            table: "t".into(),
            at: Location::Unknown,
            detail: message.into(),
        },
        "unsupported" => Error::UnsupportedType {
            table: "t".into(),
            column: "c".into(),
            type_name: "x".into(),
            at: Location::Unknown,
            detail: message.into(),
        },
        _ => Error::Config(message.into()),
    };
    Err(errors::to_py(err))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", arrowtail_core::VERSION)?;
    m.add_function(wrap_pyfunction!(_raise_core_error, m)?)?;
    m.add_function(wrap_pyfunction!(transform::mask_batch, m)?)?;
    m.add_class::<pgoutput::PgOutputDecoder>()?;
    m.add_class::<copy::CopyDecoder>()?;
    m.add_class::<wire::WireSummary>()?;
    sinks::register(m)?;
    m.add_class::<binlog::PyBinlogDecoder>()?;
    Ok(())
}
