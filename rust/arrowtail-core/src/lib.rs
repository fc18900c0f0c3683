//! arrowtail-core: decoders of database change streams (PostgreSQL `pgoutput`, MySQL/MariaDB
//! binlog) into Apache Arrow change batches. Plain Rust, no Python: the `arrowtail-python` crate
//! exposes it as `arrowtail._core`.
//!
//! The batch contract (columns, types, metadata) is described in docs/design.md and built by
//! [`arrow::ChangeBuilder`]. [`serialize`] turns change batches into Debezium-compatible Kafka
//! messages and [`partition`] computes Kafka's key partitioning.
//!
//! Tests: a file's unit tests are its `#[cfg(test)] mod tests`, at the end of the file or, when
//! that would take the file past ~800 lines, in the sibling `<file>_tests.rs` it declares with
//! `#[path = "<file>_tests.rs"] mod tests;`, while `tests/` holds the tests that use only the
//! public API.

// Errors carry their full location (table, column, LSN or binlog file and offset) by value; they
// are produced on the cold path only, while hot loops read through `reader::Reader`, whose error
// is two words. Boxing every error would buy nothing measurable.
#![allow(clippy::result_large_err)]
// Safe Rust only: the decoders read untrusted bytes, and the fuzz runs (scripts/fuzz.sh) rely on
// it to go without a memory sanitizer.
#![forbid(unsafe_code)]

pub mod arrow;
pub mod binlog;
pub mod copy;
pub mod error;
pub mod lsn;
pub mod partition;
pub mod pgoutput;
pub mod pgwire;
pub mod reader;
pub mod serialize;
pub mod textrows;
pub mod transform;
pub mod types;

pub use error::{Error, ErrorKind, Location, Result};

/// The version of this crate (and of the arrowtail package).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
