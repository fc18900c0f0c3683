//! PostgreSQL logical replication with the `pgoutput` plugin: message parsing ([`message`]), the
//! replication framing and capture files ([`framing`]), and the [`Decoder`] state machine that
//! turns the stream into change batches. Column values are decoded by
//! [`crate::types::postgres`].

// The crate's one error type carries its location by value and is larger than clippy's default
// threshold; errors are rare (they end a decode call), so the size costs nothing on the hot path.
#![allow(clippy::result_large_err)]

pub mod decoder;
pub mod framing;
pub mod message;
mod relation;
mod row_buffer;
mod rows;
mod spill;

pub use decoder::{Decoder, Stats, DEFAULT_MEMORY_BUDGET};
pub use framing::{parse_frame, standby_status_update, CaptureReader, Frame};
pub use message::{parse, parse_for_decode, Message, OldKind, RelColumn, Tuple, Value, Values};
pub use spill::{HeldBatch, SpillEvent, SpilledCommit};

#[cfg(test)]
mod testutil;

#[cfg(test)]
mod row_lsn_tests;
