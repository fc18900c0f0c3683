//! arrowtail-core: decoders of database change streams (PostgreSQL `pgoutput`, MySQL/MariaDB
//! binlog) into Apache Arrow change batches. Plain Rust, no Python: the `arrowtail-python` crate
//! exposes it as `arrowtail._core`.
//!
//! The batch contract (columns, types, metadata) is described in DESIGN.md and built by
//! [`arrow::ChangeBuilder`].

pub mod arrow;
pub mod binlog;
pub mod error;
pub mod reader;
pub mod types;

pub use error::{Error, Location, Result};

/// The version of this crate (and of the arrowtail package).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
