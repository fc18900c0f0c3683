//! Arrow building blocks shared by every decoder: typed column builders and the change-batch
//! builder that adds the contract's metadata columns.

pub mod change;
pub mod column;
pub mod plain;
pub mod versions;

pub use change::{
    ChangeBatch, ChangeBuilder, Op, RowMeta, SourceKind, TableSchema, BYTE_LIMIT, ROW_HEADROOM,
};
pub use column::{ColumnBuilder, ListColumnBuilder};
pub use plain::{PlainColumn, PlainValues};
pub use versions::{SchemaVersions, SharedSchemaVersions};
