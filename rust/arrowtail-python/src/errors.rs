//! Maps core errors onto the Python exception hierarchy. The classes are defined once, in
//! `arrowtail/exceptions.py`; this module looks them up by name so both sides cannot drift apart.

use arrowtail_core::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The name of the `arrowtail.exceptions` class for a core error.
fn class_name(err: &Error) -> &'static str {
    match err {
        Error::Decode { .. } | Error::Arrow { .. } => "DecodeError",
        Error::UnsupportedType { .. } => "UnsupportedTypeError",
        Error::SchemaChange { .. } => "SchemaChangeError",
        Error::Config(_) => "ConfigError",
        _ => "DecodeError",
    }
}

/// Converts a core error into the matching Python exception.
pub fn to_py(err: Error) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("arrowtail.exceptions")
            .and_then(|m| m.getattr(class_name(&err)));
        match class {
            Ok(class) => match class.call1((err.to_string(),)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(e) => e,
            },
            // Only possible when the extension module is loaded outside its package.
            Err(_) => PyRuntimeError::new_err(err.to_string()),
        }
    })
}

/// `?`-friendly conversion for results of the core.
#[allow(dead_code)] // Shared helper, unused until a binding returns core results.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py`].
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
