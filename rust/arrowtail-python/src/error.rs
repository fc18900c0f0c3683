//! Maps core errors onto the Python exception hierarchy, and keeps panics from crossing into Python.
//! The classes are defined once, in `arrowtail/exceptions.py`; this module looks them up by name so
//! both sides cannot drift apart.
//!
//! A panic of the core is a bug. PyO3 would raise it as `pyo3_runtime.PanicException`, a
//! `BaseException` that escapes every `except Exception` and prints a traceback; instead every
//! entry point runs its work under [`guard`] (or a [`Poison`]), which turns the panic into
//! `arrowtail.InternalError` naming the call and the panic's message and location.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use arrowtail_core::{Error, ErrorKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The name of the `arrowtail.exceptions` class for a core error.
fn class_name(err: &Error) -> &'static str {
    match err.kind() {
        ErrorKind::Decode => "DecodeError",
        ErrorKind::UnsupportedType => "UnsupportedTypeError",
        ErrorKind::SchemaChange => "SchemaChangeError",
        ErrorKind::Config => "ConfigError",
        ErrorKind::Server => "ServerError",
        ErrorKind::ReservedColumn => "ReservedColumnError",
        ErrorKind::Internal => "InternalError",
    }
}

/// An instance of the `arrowtail.exceptions` class `class` with `message`, and with the server's
/// error code as its `code` attribute when the server reported the error.
fn exception(class: &str, message: String, code: Option<&str>) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("arrowtail.exceptions")
            .and_then(|m| m.getattr(class));
        match class {
            Ok(class) => {
                let instance = match code {
                    Some(code) => {
                        let kwargs = pyo3::types::PyDict::new(py);
                        kwargs
                            .set_item("code", code)
                            .and_then(|()| class.call((message,), Some(&kwargs)))
                    }
                    None => class.call1((message,)),
                };
                match instance {
                    Ok(instance) => PyErr::from_value(instance),
                    Err(e) => e,
                }
            }
            // Only possible when the extension module is loaded outside its package.
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

/// Converts a core error into the matching Python exception.
pub fn to_py(err: Error) -> PyErr {
    exception(class_name(&err), err.to_string(), err.server_code())
}

/// A configuration error (`arrowtail.ConfigError`) with `msg`.
pub fn config(msg: impl Into<String>) -> PyErr {
    to_py(Error::Config(msg.into()))
}

/// `arrowtail.InternalError` for a bug found in `what` (e.g. `PgOutputDecoder.feed`).
pub fn internal(what: &str, detail: &str) -> PyErr {
    exception(
        "InternalError",
        format!("internal error in {what}: {detail}; please report"),
        None,
    )
}

/// `?`-friendly conversion for results of the core.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py`].
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

thread_local! {
    /// How many [`guard`]s are active on this thread (calls may nest).
    static GUARDS: Cell<u32> = const { Cell::new(0) };
    /// Where the last panic under a guard happened, set by the panic hook.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the panic hook once: a panic under a [`guard`] records its location for the
/// `InternalError` message instead of printing to stderr (the error already says it all, in one
/// line); any other panic goes to the previous hook as before. The hook belongs to this module's
/// copy of the Rust runtime, so other extension modules are not affected.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDS.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", short_path(l.file()), l.line()));
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// A source path without the machine-specific part before a dependency's crate directory
/// (`.../registry/src/index.crates.io-xxxx/arrow-array-59.3.2/src/x.rs` -> `arrow-array-59.3.2/src/x.rs`).
fn short_path(file: &str) -> &str {
    match file.find("/registry/src/") {
        Some(i) => {
            let rest = &file[i + "/registry/src/".len()..];
            rest.split_once('/')
                .map_or(rest, |(_, crate_path)| crate_path)
        }
        None => file,
    }
}

/// Runs `f`; a panic inside becomes `Err` with the panic's message and location.
fn catch<T>(f: impl FnOnce() -> PyResult<T>) -> Result<PyResult<T>, String> {
    GUARDS.with(|g| g.set(g.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDS.with(|g| g.set(g.get() - 1));
    result.map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic without a message".to_string()
        };
        match PANIC_AT.with(|p| p.borrow_mut().take()) {
            Some(at) => format!("{message} (at {at})"),
            None => message,
        }
    })
}

/// Runs the work of the entry point `what`, turning a panic into `arrowtail.InternalError`.
pub fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch(f).unwrap_or_else(|panic| Err(internal(what, &panic)))
}

/// Guards the methods of a decoder object. A panic may leave the object half updated (a row
/// started, a transaction half applied), and decoding on from there could lose or repeat rows
/// silently; so once a call panicked, every later call raises `InternalError` too, and the caller
/// starts over with a new object.
#[derive(Debug, Default)]
pub struct Poison(Option<String>);

impl Poison {
    fn check(&self, what: &str) -> PyResult<()> {
        match &self.0 {
            Some(first) => Err(internal(
                what,
                &format!(
                    "this object is unusable after an earlier internal error ({first}); \
                     create a new one"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Runs a call that may change the object; a panic poisons it.
    pub fn call<T>(&mut self, what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
        self.check(what)?;
        catch(f).unwrap_or_else(|panic| {
            let err = internal(what, &panic);
            self.0 = Some(panic);
            Err(err)
        })
    }

    /// Runs a call that only reads the object.
    pub fn read<T>(&self, what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
        self.check(what)?;
        guard(what, f)
    }
}
