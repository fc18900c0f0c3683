//! `arrowtail._core`: the thin PyO3 layer over arrowtail-core. No protocol logic lives here; it
//! converts arguments, releases the GIL around batch-level work, maps errors onto the Python
//! exception hierarchy and hands batches to Python through the Arrow PyCapsule interface. Every
//! entry point runs the core under `error::guard` (or a `Poison`), so a panic reaches Python as
//! `arrowtail.InternalError`, never as PyO3's `PanicException`.
//!
//! Each module is named after the core module it wraps (`pgoutput`, `binlog`, `copy`, `pgwire`,
//! `serialize`, `avro` (its `serialize::avro`), `partition`, `textrows`, `transform`, `error`,
//! `arrow`, `lsn`), and each Python class is a Rust type
//! named `Py` + its Python name (`PyPgOutputDecoder` is `arrowtail._core.PgOutputDecoder`), so it
//! never shadows the core type it wraps.

// Core errors carry their location by value (see arrowtail-core's lib.rs); they are built on the
// cold path only.
#![allow(clippy::result_large_err)]

use arrowtail_core::arrow::BYTE_LIMIT;
use pyo3::prelude::*;

mod arrow;
mod avro;
mod binlog;
mod copy;
mod error;
mod lsn;
mod partition;
mod pgoutput;
mod pgwire;
mod serialize;
mod textrows;
mod transform;

/// Checks a `column_byte_limit` argument: None is the default, [`BYTE_LIMIT`] (just under 1 GiB).
fn byte_limit(value: Option<usize>) -> PyResult<usize> {
    match value {
        None => Ok(BYTE_LIMIT),
        Some(n) if (1..=BYTE_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(error::to_py(arrowtail_core::Error::Config(format!(
            "column_byte_limit must be between 1 and {BYTE_LIMIT}, not {n}"
        )))),
    }
}

/// Panics with `message`, with the GIL released, inside the guard every entry point uses: the
/// tests' way to check that a panic arrives as `InternalError` (nothing real panics on demand).
#[pyfunction]
fn _panic_for_test(py: Python<'_>, message: &str) -> PyResult<()> {
    error::guard("_panic_for_test", || {
        py.detach(|| -> PyResult<()> { panic!("{message}") })
    })
}

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
        "server" => Error::Server {
            what: "test stream",
            code: "1236".into(),
            at: Location::Offset(0),
            message: message.into(),
        },
        "reserved" => Error::ReservedColumn {
            table: "t".into(),
            column: message.into(),
            at: Location::Unknown,
        },
        "internal" => Error::Arrow {
            table: "t".into(),
            at: Location::Offset(0),
            source: arrow_schema::ArrowError::ComputeError(message.into()),
        },
        _ => Error::Config(message.into()),
    };
    Err(error::to_py(err))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    error::install_panic_hook();
    m.add("__version__", arrowtail_core::VERSION)?;
    m.add_function(wrap_pyfunction!(_raise_core_error, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(transform::mask_batch, m)?)?;
    m.add_class::<arrow::PySchemaVersions>()?;
    m.add_class::<pgoutput::PyPgOutputDecoder>()?;
    m.add_function(wrap_pyfunction!(pgoutput::standby_status_update, m)?)?;
    lsn::register(m)?;
    m.add_class::<copy::PyCopyDecoder>()?;
    m.add_class::<pgwire::PyWireSummary>()?;
    partition::register(m)?;
    serialize::register(m)?;
    avro::register(m)?;
    m.add_class::<binlog::PyBinlogDecoder>()?;
    m.add_class::<textrows::PyTextRowsBuilder>()?;
    Ok(())
}
