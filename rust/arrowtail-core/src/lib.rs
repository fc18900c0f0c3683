//! arrowtail-core: decoders of database change streams (PostgreSQL `pgoutput`, MySQL/MariaDB
//! binlog) into Apache Arrow change batches. Plain Rust, no Python: the `arrowtail-python` crate
//! exposes it as `arrowtail._core`.
//!
//! The batch contract (columns, types, metadata) is described in docs/design.md and built by
//! [`arrow::ChangeBuilder`]. [`serialize`] turns change batches into Debezium-compatible Kafka
//! messages and [`partition`] computes Kafka's key partitioning.

// Errors carry their full location (table, column, LSN or binlog file and offset) by value; they
// are produced on the cold path only, while hot loops read through `reader::Reader`, whose error
// is two words. Boxing every error would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod arrow;
pub mod binlog;
pub mod copy;
pub mod error;
pub mod partition;
pub mod pgoutput;
pub mod pgwire;
pub mod reader;
pub mod serialize;
pub mod transform;
pub mod types;

pub use error::{Error, ErrorKind, Location, Result};

/// The version of this crate (and of the arrowtail package).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
