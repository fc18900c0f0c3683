//! The Avro serializer of the core (`arrowtail_core::serialize::avro`) for the Kafka sink: the
//! schemas of a batch's table, to register, then the batch's messages in the Confluent wire format
//! with the registry's ids (arrays in and out through the Arrow PyCapsule interface, GIL released),
//! as functions and as `AvroSerializer`, the stream form `DebeziumSerializer` is for JSON.

// The core's error enum is large; it crosses here once per batch.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use arrowtail_core::serialize::avro::{self, SchemaIds};
use arrowtail_core::serialize::Serialized;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::PyTuple;
use pyo3_arrow::PyRecordBatch;

use crate::arrow::{to_pyarrow, BatchImporter};
use crate::error::{config, guard, IntoPyResult};
use crate::serialize::{arrays_tuple, lists_tuple, options, Settings};

/// The Avro schemas of a change batch's table: `(key_schema, value_schema, key_name,
/// value_name)`, the key schema None for a table without a key; the names are the full record
/// names (`<prefix>.<schema>.<table>.Key` and `.Envelope`). Takes the options of `avro_serialize`
/// (`topic_prefix` and `decimals` shape the schemas; `schemas` is ignored).
#[pyfunction]
#[pyo3(signature = (
    batch, *, topic_prefix = "arrowtail", database = "", decimals = "precise",
    unavailable = "placeholder", tombstones = true, schemas = false,
    binlog_basename = "mysql-bin", server_id = 0, ts_ms = None,
))]
#[allow(clippy::too_many_arguments)]
fn avro_schemas<'py>(
    py: Python<'py>,
    batch: PyRecordBatch,
    topic_prefix: &str,
    database: &str,
    decimals: &str,
    unavailable: &str,
    tombstones: bool,
    schemas: bool,
    binlog_basename: &str,
    server_id: u32,
    ts_ms: Option<i64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let _ = schemas;
    let opts = options(
        topic_prefix,
        database,
        decimals,
        unavailable,
        tombstones,
        false,
        binlog_basename,
        server_id,
        ts_ms,
    )?;
    let batch = batch.into_inner();
    guard("avro_schemas", || {
        let s = avro::schemas(&batch, &opts).py_err()?;
        (s.key, s.value, s.key_name, s.value_name).into_pyobject(py)
    })
}

/// Serializes a change batch into Avro Kafka messages in the Confluent wire format (magic byte 0,
/// the 4-byte big-endian schema id, the Avro datum), with the ids the registry gave the schemas of
/// `avro_schemas`. Returns `(keys, values, rows, partitions)` as `debezium_serialize` does.
#[pyfunction]
#[pyo3(signature = (
    batch, *, value_schema_id, key_schema_id = None, topic_prefix = "arrowtail", database = "",
    decimals = "precise", unavailable = "placeholder", tombstones = true, schemas = false,
    binlog_basename = "mysql-bin", server_id = 0, ts_ms = None, partitions = None,
))]
#[allow(clippy::too_many_arguments)]
fn avro_serialize<'py>(
    py: Python<'py>,
    batch: PyRecordBatch,
    value_schema_id: u32,
    key_schema_id: Option<u32>,
    topic_prefix: &str,
    database: &str,
    decimals: &str,
    unavailable: &str,
    tombstones: bool,
    schemas: bool,
    binlog_basename: &str,
    server_id: u32,
    ts_ms: Option<i64>,
    partitions: Option<i32>,
) -> PyResult<Bound<'py, PyTuple>> {
    let _ = schemas;
    if partitions.is_some_and(|n| n <= 0) {
        return Err(config("partition count must be positive"));
    }
    let opts = arrowtail_core::serialize::DebeziumOptions {
        partitions,
        ..options(
            topic_prefix,
            database,
            decimals,
            unavailable,
            tombstones,
            false,
            binlog_basename,
            server_id,
            ts_ms,
        )?
    };
    let ids = SchemaIds {
        key: key_schema_id,
        value: value_schema_id,
    };
    let batch = batch.into_inner();
    guard("avro_serialize", || {
        let out = py.detach(|| avro::serialize(&batch, &opts, ids)).py_err()?;
        let parts = match out.partitions {
            Some(p) => to_pyarrow(py, Arc::new(p), "partition")?,
            None => py.None().into_bound(py),
        };
        PyTuple::new(
            py,
            [
                to_pyarrow(py, Arc::new(out.keys), "key")?,
                to_pyarrow(py, Arc::new(out.values), "value")?,
                to_pyarrow(py, Arc::new(out.rows), "row")?,
                parts,
            ],
        )
    })
}

/// The Avro schemas of the last schema an [`PyAvroSerializer`] was asked about.
type LastSchemas = (SchemaRef, Py<PyTuple>);

/// `arrowtail._core.AvroSerializer`: the Avro serializer with its options checked once, for a
/// sink that serializes batch after batch. Batches cross as [`BatchImporter`] takes them (a
/// pyarrow batch of the last batch's schema without that schema), and the schemas of the last
/// schema asked about are kept.
#[pyclass(name = "AvroSerializer", module = "arrowtail._core", frozen)]
pub struct PyAvroSerializer {
    settings: Settings,
    batches: BatchImporter,
    schemas: Mutex<Option<LastSchemas>>,
}

impl PyAvroSerializer {
    fn serialized(
        &self,
        batch: &Bound<'_, PyAny>,
        value_schema_id: u32,
        key_schema_id: Option<u32>,
        partitions: Option<i32>,
    ) -> PyResult<Serialized> {
        let py = batch.py();
        let opts = self.settings.now(partitions)?;
        let ids = SchemaIds {
            key: key_schema_id,
            value: value_schema_id,
        };
        let batch: RecordBatch = self.batches.import(batch)?;
        py.detach(|| avro::serialize(&batch, &opts, ids)).py_err()
    }
}

#[pymethods]
impl PyAvroSerializer {
    #[new]
    #[pyo3(signature = (
        *, topic_prefix = "arrowtail", database = "", decimals = "precise",
        unavailable = "placeholder", tombstones = true, schemas = false,
        binlog_basename = "mysql-bin", server_id = 0, ts_ms = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        topic_prefix: &str,
        database: &str,
        decimals: &str,
        unavailable: &str,
        tombstones: bool,
        schemas: bool,
        binlog_basename: &str,
        server_id: u32,
        ts_ms: Option<i64>,
    ) -> PyResult<Self> {
        let _ = schemas;
        Ok(Self {
            settings: Settings::parse(
                topic_prefix,
                database,
                decimals,
                unavailable,
                tombstones,
                false,
                binlog_basename,
                server_id,
                ts_ms,
            )?,
            batches: BatchImporter::default(),
            schemas: Mutex::new(None),
        })
    }

    /// `(key_schema, value_schema, key_name, value_name)` as `avro_schemas` returns them.
    fn schemas<'py>(&self, batch: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let py = batch.py();
        guard("AvroSerializer.schemas", || {
            let batch = self.batches.import(batch)?;
            let mut last = self
                .schemas
                .lock_py_attached(py)
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((schema, out)) = last.as_ref() {
                // The importer hands on the very schema it kept for a batch of an equal one.
                if Arc::ptr_eq(schema, batch.schema_ref()) {
                    return Ok(out.bind(py).clone());
                }
            }
            let s = avro::schemas(&batch, &self.settings.now(None)?).py_err()?;
            let out = (s.key, s.value, s.key_name, s.value_name).into_pyobject(py)?;
            *last = Some((batch.schema(), out.clone().unbind()));
            Ok(out)
        })
    }

    /// `(keys, values, rows, partitions)` as pyarrow arrays, as `avro_serialize` returns them.
    #[pyo3(signature = (batch, *, value_schema_id, key_schema_id = None, partitions = None))]
    fn serialize<'py>(
        &self,
        batch: &Bound<'py, PyAny>,
        value_schema_id: u32,
        key_schema_id: Option<u32>,
        partitions: Option<i32>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        guard("AvroSerializer.serialize", || {
            let out = self.serialized(batch, value_schema_id, key_schema_id, partitions)?;
            arrays_tuple(batch.py(), out)
        })
    }

    /// `(keys, values, partitions, largest)` as `DebeziumSerializer.messages` returns them.
    #[pyo3(signature = (batch, *, value_schema_id, partitions, key_schema_id = None))]
    fn messages<'py>(
        &self,
        batch: &Bound<'py, PyAny>,
        value_schema_id: u32,
        partitions: i32,
        key_schema_id: Option<u32>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        guard("AvroSerializer.messages", || {
            let out = self.serialized(batch, value_schema_id, key_schema_id, Some(partitions))?;
            lists_tuple(batch.py(), &out)
        })
    }
}

/// Adds the Avro serializer to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(avro_schemas, m)?)?;
    m.add_function(wrap_pyfunction!(avro_serialize, m)?)?;
    m.add_class::<PyAvroSerializer>()?;
    Ok(())
}
