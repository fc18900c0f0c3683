//! Schema versions numbered once per run. Each decoder sees only part of a run (an initial
//! snapshot and the stream each start fresh, and a decoder may first meet a table after a DDL
//! change), so numbers counted per decoder could give two column layouts of one table the same
//! version. A source therefore creates one [`SchemaVersions`] and shares it
//! ([`SharedSchemaVersions`]) with every decoder and snapshot builder it runs; each batch leaves
//! its decoder already carrying the run-wide version of its layout.
//!
//! A layout is the ordered list of fields: name, Arrow type and extension type name
//! (`arrow.uuid`, `arrow.json`). Each distinct layout of a table gets the next number in order of
//! appearance, from 1. A change the layout does not show (a new replica identity, `varchar(10)`
//! to `varchar(20)`) keeps the number; the decoder still starts a new batch for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Schema};

use crate::arrow::ChangeBatch;

/// The metadata key that carries the version on every batch.
const VERSION_KEY: &str = "arrowtail.schema_version";
/// The field metadata key naming an extension type.
const EXTENSION_KEY: &str = "ARROW:extension:name";

/// One field of a layout: name, type, extension type name.
type LayoutField = (String, DataType, Option<String>);

/// The run-wide numbering of column layouts, per table.
#[derive(Debug, Default)]
pub struct SchemaVersions {
    layouts: HashMap<String, Vec<Vec<LayoutField>>>,
}

/// A [`SchemaVersions`] shared by the decoders of one source.
pub type SharedSchemaVersions = Arc<Mutex<SchemaVersions>>;

impl SchemaVersions {
    /// A numbering to share between decoders.
    pub fn shared() -> SharedSchemaVersions {
        Arc::new(Mutex::new(SchemaVersions::default()))
    }

    /// The version of `schema`'s layout for `table`, numbering it when it is new.
    pub fn version(&mut self, table: &str, schema: &Schema) -> u32 {
        let layout: Vec<LayoutField> = schema
            .fields()
            .iter()
            .map(|f| {
                (
                    f.name().clone(),
                    f.data_type().clone(),
                    f.metadata().get(EXTENSION_KEY).cloned(),
                )
            })
            .collect();
        let known = self.layouts.entry(table.to_string()).or_default();
        let index = match known.iter().position(|l| *l == layout) {
            Some(i) => i,
            None => {
                known.push(layout);
                known.len() - 1
            }
        };
        u32::try_from(index + 1).unwrap_or(u32::MAX)
    }

    /// `batch` with the run-wide version of its layout, in its metadata too.
    pub fn stamp(&mut self, table: &str, batch: RecordBatch) -> (u32, RecordBatch) {
        let version = self.version(table, &batch.schema());
        let text = version.to_string();
        if batch.schema().metadata().get(VERSION_KEY) == Some(&text) {
            return (version, batch);
        }
        let mut metadata = batch.schema().metadata().clone();
        metadata.insert(VERSION_KEY.into(), text);
        let schema = Arc::new(Schema::new_with_metadata(
            batch.schema().fields().clone(),
            metadata,
        ));
        // Only the metadata changes, so the columns always fit the new schema.
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        match RecordBatch::try_new_with_options(schema, batch.columns().to_vec(), &options) {
            Ok(stamped) => (version, stamped),
            Err(_) => (version, batch),
        }
    }

    /// Numbers every batch of `batches` (in order) with the shared numbering, if any.
    pub fn stamp_all(
        shared: Option<&SharedSchemaVersions>,
        batches: Vec<ChangeBatch>,
    ) -> Vec<ChangeBatch> {
        let Some(shared) = shared else {
            return batches;
        };
        // A panic elsewhere while holding the lock leaves the numbering itself consistent (it only
        // ever appends), so a poisoned lock is used as it is.
        let mut versions = shared.lock().unwrap_or_else(PoisonError::into_inner);
        batches
            .into_iter()
            .map(|cb| {
                let (schema_version, batch) = versions.stamp(&cb.table, cb.batch);
                ChangeBatch {
                    table: cb.table,
                    schema_version,
                    batch,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow_array::{ArrayRef, Int32Array, StringArray};
    use arrow_schema::Field;

    use super::*;

    fn batch(fields: &[(&str, DataType)], version: &str) -> RecordBatch {
        let columns: Vec<ArrayRef> = fields
            .iter()
            .map(|(_, t)| match t {
                DataType::Int32 => Arc::new(Int32Array::from(vec![1])) as ArrayRef,
                _ => Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            })
            .collect();
        let schema = Schema::new_with_metadata(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
            HashMap::from([(VERSION_KEY.to_string(), version.to_string())]),
        );
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    #[test]
    fn layouts_are_numbered_per_table_in_order_of_appearance() {
        let mut v = SchemaVersions::default();
        let a = batch(&[("id", DataType::Int32)], "1");
        let b = batch(&[("id", DataType::Int32), ("x", DataType::Utf8)], "1");
        let c = batch(&[("id", DataType::Utf8)], "7");
        assert_eq!(v.version("t", &a.schema()), 1);
        assert_eq!(v.version("t", &b.schema()), 2);
        assert_eq!(v.version("t", &a.schema()), 1);
        assert_eq!(v.version("t", &c.schema()), 3);
        assert_eq!(v.version("u", &b.schema()), 1);
    }

    #[test]
    fn stamp_rewrites_the_metadata_only_when_it_differs() {
        let mut v = SchemaVersions::default();
        v.version("t", &batch(&[("id", DataType::Int32)], "1").schema());
        let (n, out) = v.stamp("t", batch(&[("id", DataType::Utf8)], "1"));
        assert_eq!(n, 2);
        assert_eq!(out.schema().metadata()[VERSION_KEY], "2");
        assert_eq!(out.num_rows(), 1);
        let (n, out) = v.stamp("t", batch(&[("id", DataType::Int32)], "1"));
        assert_eq!((n, out.schema().metadata()[VERSION_KEY].as_str()), (1, "1"));
    }

    #[test]
    fn decoders_sharing_a_numbering_agree() {
        let shared = SchemaVersions::shared();
        let snapshot = vec![ChangeBatch {
            table: "s.t".into(),
            schema_version: 1,
            batch: batch(&[("id", DataType::Int32)], "1"),
        }];
        // The stream's decoder met the table only after a column was added: its own number is 1.
        let stream = vec![ChangeBatch {
            table: "s.t".into(),
            schema_version: 1,
            batch: batch(&[("id", DataType::Int32), ("x", DataType::Utf8)], "1"),
        }];
        let first = SchemaVersions::stamp_all(Some(&shared), snapshot);
        let second = SchemaVersions::stamp_all(Some(&shared), stream.clone());
        assert_eq!(first[0].schema_version, 1);
        assert_eq!(second[0].schema_version, 2);
        assert_eq!(second[0].batch.schema().metadata()[VERSION_KEY], "2");
        // Without a shared numbering the decoder's own numbers stay.
        assert_eq!(SchemaVersions::stamp_all(None, stream)[0].schema_version, 1);
    }
}
