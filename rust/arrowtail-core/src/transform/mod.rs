//! Column transforms applied to whole change batches before they reach a sink: dropping columns,
//! redacting them (every value becomes null, the type stays) and keyed hashing (HMAC-SHA256, hex),
//! so personal data never leaves the process while joins on hashed keys still work.
//!
//! A transform applies to the user column *and* to the same field inside `_before`, otherwise the
//! old image would leak what the new one hides.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch, StructArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::arrow::change::names;
use crate::{Error, Result};

/// What to do with the columns of one table.
#[derive(Debug, Clone, Default)]
pub struct ColumnRules {
    pub drop: HashSet<String>,
    pub redact: HashSet<String>,
    pub hash: HashSet<String>,
}

impl ColumnRules {
    /// True when the rules change nothing.
    pub fn is_empty(&self) -> bool {
        self.drop.is_empty() && self.redact.is_empty() && self.hash.is_empty()
    }
}

/// Applies `rules` to a change batch (user columns and `_before`). `key` is the HMAC key of hashed
/// columns; it must be non-empty when any column is hashed.
pub fn apply(batch: &RecordBatch, rules: &ColumnRules, key: &[u8]) -> Result<RecordBatch> {
    if rules.is_empty() {
        return Ok(batch.clone());
    }
    if !rules.hash.is_empty() && key.is_empty() {
        return Err(Error::Config(
            "column hashing needs a non-empty key (set the masking key's environment variable)"
                .into(),
        ));
    }
    let schema = batch.schema();
    let mut fields: Vec<FieldRef> = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if field.name() == names::BEFORE {
            if let DataType::Struct(_) = field.data_type() {
                let (f, c) = apply_struct(field, column, rules, key)?;
                fields.push(f);
                columns.push(c);
                continue;
            }
        }
        if field.name().starts_with('_') {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        if let Some((f, c)) = apply_column(field, column, rules, key)? {
            fields.push(f);
            columns.push(c);
        }
    }
    let schema = Arc::new(Schema::new_with_metadata(
        Fields::from(fields),
        schema.metadata().clone(),
    ));
    RecordBatch::try_new(schema, columns).map_err(|e| Error::Config(e.to_string()))
}

fn apply_column(
    field: &FieldRef,
    column: &ArrayRef,
    rules: &ColumnRules,
    key: &[u8],
) -> Result<Option<(FieldRef, ArrayRef)>> {
    let name = field.name();
    if rules.drop.contains(name) {
        return Ok(None);
    }
    if rules.redact.contains(name) {
        let f = Arc::new(field.as_ref().clone().with_nullable(true));
        return Ok(Some((f, new_null_array(field.data_type(), column.len()))));
    }
    if rules.hash.contains(name) {
        let f = Arc::new(Field::new(name, DataType::Utf8, true));
        return Ok(Some((f, hash_array(column, key, name)?)));
    }
    Ok(Some((field.clone(), column.clone())))
}

fn apply_struct(
    field: &FieldRef,
    column: &ArrayRef,
    rules: &ColumnRules,
    key: &[u8],
) -> Result<(FieldRef, ArrayRef)> {
    let st = column.as_struct();
    let mut fields = Vec::new();
    let mut children = Vec::new();
    for (f, c) in st.fields().iter().zip(st.columns()) {
        if let Some((f, c)) = apply_column(f, c, rules, key)? {
            fields.push(f);
            children.push(c);
        }
    }
    let fields = Fields::from(fields);
    let array = if fields.is_empty() {
        StructArray::new_empty_fields(st.len(), st.nulls().cloned())
    } else {
        StructArray::try_new(fields.clone(), children, st.nulls().cloned())
            .map_err(|e| Error::Config(e.to_string()))?
    };
    let f = Arc::new(Field::new(
        field.name(),
        DataType::Struct(fields),
        field.is_nullable(),
    ));
    Ok((f, Arc::new(array)))
}

/// HMAC-SHA256 of each value, as lowercase hex. Strings and binaries are hashed as their bytes,
/// other types as their canonical Arrow display text, so equal values give equal hashes.
fn hash_array(column: &ArrayRef, key: &[u8], name: &str) -> Result<ArrayRef> {
    let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|e| Error::Config(format!("invalid masking key for {name}: {e}")))?;
    let mut out = StringBuilder::with_capacity(column.len(), column.len() * 64);
    let mut hex = String::with_capacity(64);
    let mut text = String::new();
    let display = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
        .map_err(|e| Error::Config(format!("cannot hash column {name}: {e}")))?;
    for i in 0..column.len() {
        if column.is_null(i) {
            out.append_null();
            continue;
        }
        let mut m = mac.clone();
        match column.data_type() {
            DataType::Utf8 => m.update(column.as_string::<i32>().value(i).as_bytes()),
            DataType::LargeUtf8 => m.update(column.as_string::<i64>().value(i).as_bytes()),
            DataType::Binary => m.update(column.as_binary::<i32>().value(i)),
            DataType::LargeBinary => m.update(column.as_binary::<i64>().value(i)),
            DataType::FixedSizeBinary(_) => m.update(column.as_fixed_size_binary().value(i)),
            _ => {
                text.clear();
                let _ = write!(text, "{}", display.value(i));
                m.update(text.as_bytes());
            }
        }
        hex.clear();
        for b in m.finalize().into_bytes() {
            let _ = write!(hex, "{b:02x}");
        }
        out.append_value(&hex);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::{ChangeBuilder, ColumnBuilder, Op, RowMeta, SourceKind, TableSchema};

    fn batch() -> RecordBatch {
        let table = Arc::new(TableSchema {
            source: SourceKind::Postgres,
            table: "public.users".into(),
            schema_version: 1,
            columns: vec![
                Field::new("id", DataType::Int64, false),
                Field::new("email", DataType::Utf8, true),
                Field::new("ssn", DataType::Utf8, true),
                Field::new("notes", DataType::Utf8, true),
            ],
            primary_key: vec!["id".into()],
            extra_metadata: vec![],
        });
        let mut b = ChangeBuilder::new(table).unwrap();
        if let ColumnBuilder::Int64(c) = &mut b.columns[0] {
            c.append_value(7);
        }
        for (i, v) in [(1, "a@example.com"), (2, "123-45-6789"), (3, "hello")] {
            if let ColumnBuilder::Utf8(c) = &mut b.columns[i] {
                c.append_value(v);
            }
        }
        if let ColumnBuilder::Int64(c) = &mut b.before_mut()[0] {
            c.append_value(7);
        }
        for (i, v) in [(1, "old@example.com"), (2, "123-45-6789"), (3, "bye")] {
            if let ColumnBuilder::Utf8(c) = &mut b.before_mut()[i] {
                c.append_value(v);
            }
        }
        b.finish_row(
            RowMeta {
                op: Op::Update,
                pos: 1,
                seq: 0,
                xid: 1,
                commit_ts_us: 0,
            },
            true,
            &[],
        );
        b.flush().unwrap().remove(0)
    }

    fn rules() -> ColumnRules {
        ColumnRules {
            drop: ["notes".to_string()].into(),
            redact: ["ssn".to_string()].into(),
            hash: ["email".to_string(), "id".to_string()].into(),
        }
    }

    #[test]
    fn masks_user_columns_and_the_before_image() {
        let out = apply(&batch(), &rules(), b"k3y").unwrap();
        let schema = out.schema();
        assert!(schema.field_with_name("notes").is_err());
        assert!(out.column_by_name("ssn").unwrap().is_null(0));
        let email = out
            .column_by_name("email")
            .unwrap()
            .as_string::<i32>()
            .value(0);
        assert_eq!(email.len(), 64);
        assert_ne!(email, "a@example.com");
        let before = out.column_by_name("_before").unwrap().as_struct();
        assert!(before.column_by_name("notes").is_none());
        assert!(before.column_by_name("ssn").unwrap().is_null(0));
        let old_email = before
            .column_by_name("email")
            .unwrap()
            .as_string::<i32>()
            .value(0);
        assert_ne!(old_email, "old@example.com");
        assert_ne!(old_email, email);
        assert_eq!(schema.metadata()["arrowtail.table"], "public.users");
    }

    #[test]
    fn hashes_are_keyed_and_stable() {
        let a = apply(&batch(), &rules(), b"k3y").unwrap();
        let b = apply(&batch(), &rules(), b"k3y").unwrap();
        let c = apply(&batch(), &rules(), b"other").unwrap();
        let get = |x: &RecordBatch| {
            x.column_by_name("id")
                .unwrap()
                .as_string::<i32>()
                .value(0)
                .to_string()
        };
        assert_eq!(get(&a), get(&b));
        assert_ne!(get(&a), get(&c));
        // HMAC-SHA256 with key "k3y" of the text "7", computed with Python's hmac module.
        assert_eq!(
            get(&a),
            "170589a2128a78d92a4a0ed2e52a7e24f8efdd8b14cd04af2e546d715994260b"
        );
    }

    #[test]
    fn hashing_without_key_is_a_config_error() {
        assert!(matches!(
            apply(&batch(), &rules(), b""),
            Err(Error::Config(_))
        ));
    }
}
