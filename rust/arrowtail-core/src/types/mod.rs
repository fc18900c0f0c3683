//! Source type codecs: how each database's column types map to Arrow and how their wire values
//! are decoded into [`crate::arrow::ColumnBuilder`]s (one folder per source family).

pub mod mysql;
