//! Inputs of the decoder benches, built in code or read from the fixture files.

pub mod binlog;
pub mod pg;
