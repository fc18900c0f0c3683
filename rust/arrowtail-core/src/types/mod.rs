//! Codecs of source database types into Arrow column builders, one folder per source family,
//! shared by every decoder of that source (PostgreSQL: `pgoutput` tuples and `COPY BINARY` rows;
//! MySQL/MariaDB: binlog row events and the text-protocol rows of snapshots).

pub mod mysql;
pub mod postgres;
