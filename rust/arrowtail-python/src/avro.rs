//! The Avro serializer of the core (`arrowtail_core::serialize::avro`) for the Kafka sink: the
//! schemas of a batch's table, to register, then the batch's messages in the Confluent wire format
//! with the registry's ids (GIL released), through `AvroSerializer`, the object `DebeziumSerializer`
//! is for JSON: the same options, the same kept schema of the last batch, the same output forms.

// The core's error enum is large; it crosses here once per batch.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex, PoisonError};

use arrow_schema::SchemaRef;
use arrowtail_core::serialize::avro::{self, SchemaIds};
use arrowtail_core::serialize::Serialized;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::PyTuple;

use crate::error::{guard, IntoPyResult};
use crate::serialize::{arrays_tuple, lists_tuple, Options, Stream};

/// The Avro schemas of the last schema an [`PyAvroSerializer`] was asked about.
type LastSchemas = (SchemaRef, Py<PyTuple>);

/// `arrowtail._core.AvroSerializer`: the Avro serializer with its options checked once, for a
/// sink that serializes batch after batch (a [`Stream`]); the schemas of the last schema asked
/// about are kept.
#[pyclass(name = "AvroSerializer", module = "arrowtail._core", frozen)]
pub struct PyAvroSerializer {
    stream: Stream,
    schemas: Mutex<Option<LastSchemas>>,
}

impl PyAvroSerializer {
    fn serialized(
        &self,
        batch: &Bound<'_, PyAny>,
        value_schema_id: u32,
        key_schema_id: Option<u32>,
        partitions: Option<i32>,
        transactions: Option<(u64, u64)>,
    ) -> PyResult<Serialized> {
        let py = batch.py();
        let (batch, opts) = self.stream.take(batch, partitions, transactions)?;
        let ids = SchemaIds {
            key: key_schema_id,
            value: value_schema_id,
        };
        let mut out = py.detach(|| avro::serialize(&batch, &opts, ids)).py_err()?;
        self.stream.keep_runs(py, &mut out);
        Ok(out)
    }
}

#[pymethods]
impl PyAvroSerializer {
    /// The options of `DebeziumSerializer`, decimals exact by default (Connect's Decimal);
    /// `schemas` is taken and ignored (the registry holds the schemas).
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
        let stream = Stream::new(&Options {
            topic_prefix,
            database,
            decimals,
            unavailable,
            tombstones,
            schemas: false,
            binlog_basename,
            server_id,
            ts_ms,
        })?;
        Ok(Self {
            stream,
            schemas: Mutex::new(None),
        })
    }

    /// `(key_schema, value_schema, key_name, value_name)`: the Avro schemas of the batch's
    /// table, to register (the key schema None for a table without a key; the names are the full
    /// record names, `<prefix>.<schema>.<table>.Key` and `.Envelope`). `topic_prefix` and
    /// `decimals` shape them.
    fn schemas<'py>(&self, batch: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let py = batch.py();
        guard("AvroSerializer.schemas", || {
            let (batch, opts) = self.stream.take(batch, None, None)?;
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
            let s = avro::schemas(&batch, &opts).py_err()?;
            let out = (s.key, s.value, s.key_name, s.value_name).into_pyobject(py)?;
            *last = Some((batch.schema(), out.clone().unbind()));
            Ok(out)
        })
    }

    /// `(keys, values, rows, partitions)` of the batch's messages in the Confluent wire format
    /// (magic byte 0, the 4-byte big-endian schema id, the Avro datum), with the ids the registry
    /// gave the schemas of `schemas`, as `DebeziumSerializer.serialize` returns them.
    #[pyo3(signature = (
        batch, *, value_schema_id, key_schema_id = None, partitions = None, transactions = None,
    ))]
    fn serialize<'py>(
        &self,
        batch: &Bound<'py, PyAny>,
        value_schema_id: u32,
        key_schema_id: Option<u32>,
        partitions: Option<i32>,
        transactions: Option<(u64, u64)>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        guard("AvroSerializer.serialize", || {
            let out = self.serialized(
                batch,
                value_schema_id,
                key_schema_id,
                partitions,
                transactions,
            )?;
            arrays_tuple(batch.py(), out)
        })
    }

    /// `[(pos, xid, commit_ts_us, events, first_lsn, last_commit, id), ...]` as
    /// `DebeziumSerializer.take_transactions`.
    fn take_transactions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        self.stream.take_runs(py)
    }

    /// `(keys, values, partitions, largest)` as `DebeziumSerializer.messages` returns them.
    #[pyo3(signature = (
        batch, *, value_schema_id, partitions, key_schema_id = None, transactions = None,
    ))]
    fn messages<'py>(
        &self,
        batch: &Bound<'py, PyAny>,
        value_schema_id: u32,
        partitions: i32,
        key_schema_id: Option<u32>,
        transactions: Option<(u64, u64)>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        guard("AvroSerializer.messages", || {
            let out = self.serialized(
                batch,
                value_schema_id,
                key_schema_id,
                Some(partitions),
                transactions,
            )?;
            lists_tuple(batch.py(), &out)
        })
    }
}

/// Adds the Avro serializer to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAvroSerializer>()?;
    Ok(())
}
