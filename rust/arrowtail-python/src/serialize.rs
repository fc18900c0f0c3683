//! The Debezium serializer of the core (`arrowtail_core::serialize`) for the Kafka sink, batch at a
//! time (arrays in and out through the Arrow PyCapsule interface, GIL released), as functions and
//! as `DebeziumSerializer`, an object for a stream of batches that keeps its checked options and
//! the last schema, and hands small outputs back as Python lists.

// The core's error enum is large; it crosses here once per batch.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_array::{Array, BinaryArray};
use arrowtail_core::serialize::{self, DebeziumOptions, DecimalMode, Serialized, Unavailable};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use pyo3_arrow::PyRecordBatch;

use crate::arrow::{to_pyarrow, BatchImporter};
use crate::error::{config, guard, IntoPyResult};

/// The serializer options given from Python, checked once; the processing time of the
/// envelopes is taken at each call unless the caller fixed it (`ts_ms`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Every option but the time fields and `partitions`, which each call sets.
    base: DebeziumOptions,
    ts_ms: Option<i64>,
}

impl Settings {
    /// Checks the options given from Python.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn parse(
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
        let decimals = DecimalMode::parse(decimals).ok_or_else(|| {
            config(format!(
                "decimals must be 'string', 'precise' or 'double', not {decimals:?}"
            ))
        })?;
        let unavailable = match unavailable {
            "placeholder" => Unavailable::Placeholder,
            "omit" => Unavailable::Omit,
            other => {
                return Err(config(format!(
                    "unavailable must be 'placeholder' or 'omit', not {other:?}"
                )))
            }
        };
        Ok(Self {
            base: DebeziumOptions {
                topic_prefix: topic_prefix.into(),
                database: database.into(),
                decimals,
                unavailable,
                tombstones,
                schemas,
                binlog_basename: binlog_basename.into(),
                server_id,
                ts_ms: 0,
                ts_us: None,
                partitions: None,
            },
            ts_ms,
        })
    }

    /// The options of one call: the processing time now (microsecond precision) unless fixed,
    /// and `partitions` (the topic's partition count, checked positive).
    pub(crate) fn now(&self, partitions: Option<i32>) -> PyResult<DebeziumOptions> {
        if partitions.is_some_and(|n| n <= 0) {
            return Err(config("partition count must be positive"));
        }
        let ts_us = match self.ts_ms {
            Some(_) => None,
            None => Some(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
                    .unwrap_or(0),
            ),
        };
        let ts_ms = self
            .ts_ms
            .unwrap_or_else(|| ts_us.unwrap_or(0).div_euclid(1000));
        Ok(DebeziumOptions {
            ts_ms,
            ts_us,
            partitions,
            ..self.base.clone()
        })
    }
}

/// The serializer options given from Python, checked, for one call (`partitions` is set by the
/// caller).
#[allow(clippy::too_many_arguments)]
pub(crate) fn options(
    topic_prefix: &str,
    database: &str,
    decimals: &str,
    unavailable: &str,
    tombstones: bool,
    schemas: bool,
    binlog_basename: &str,
    server_id: u32,
    ts_ms: Option<i64>,
) -> PyResult<DebeziumOptions> {
    Settings::parse(
        topic_prefix,
        database,
        decimals,
        unavailable,
        tombstones,
        schemas,
        binlog_basename,
        server_id,
        ts_ms,
    )?
    .now(None)
}

/// `(keys, values, rows, partitions)` of serialized messages as pyarrow arrays (partitions None
/// when not computed).
pub(crate) fn arrays_tuple<'py>(py: Python<'py>, out: Serialized) -> PyResult<Bound<'py, PyTuple>> {
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
}

/// `(keys, values, partitions, largest)` of serialized messages as Python lists (`bytes`, None
/// for no key or a tombstone; partition ints) and the largest message's key + value bytes.
/// Plain lists are what the producer takes: no array crosses, nothing is converted again.
pub(crate) fn lists_tuple<'py>(py: Python<'py>, out: &Serialized) -> PyResult<Bound<'py, PyTuple>> {
    let bytes = |a: &BinaryArray| PyList::new(py, a.iter().map(|v| v.map(|b| PyBytes::new(py, b))));
    let len = |a: &BinaryArray, i: usize| if a.is_null(i) { 0 } else { a.value(i).len() };
    let largest = (0..out.keys.len())
        .map(|i| len(&out.keys, i) + len(&out.values, i))
        .max()
        .unwrap_or(0);
    let parts = match &out.partitions {
        Some(p) => PyList::new(py, p.values().iter())?.into_any(),
        None => py.None().into_bound(py),
    };
    (bytes(&out.keys)?, bytes(&out.values)?, parts, largest).into_pyobject(py)
}

/// Serializes a change batch into Debezium JSON Kafka messages. Returns
/// `(keys, values, rows, partitions)`: pyarrow binary arrays of keys (null: no key) and values
/// (null: tombstone), the uint32 batch row of each message, and int32 partitions when `partitions`
/// (the topic's partition count) is given, else None.
#[pyfunction]
#[pyo3(signature = (
    batch, *, topic_prefix = "arrowtail", database = "", decimals = "string",
    unavailable = "placeholder", tombstones = true, schemas = false,
    binlog_basename = "mysql-bin", server_id = 0, ts_ms = None, partitions = None,
))]
#[allow(clippy::too_many_arguments)]
fn debezium_serialize<'py>(
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
    partitions: Option<i32>,
) -> PyResult<Bound<'py, PyTuple>> {
    let opts = Settings::parse(
        topic_prefix,
        database,
        decimals,
        unavailable,
        tombstones,
        schemas,
        binlog_basename,
        server_id,
        ts_ms,
    )?
    .now(partitions)?;
    let batch = batch.into_inner();
    guard("debezium_serialize", || {
        let out = py.detach(|| serialize::serialize(&batch, &opts)).py_err()?;
        arrays_tuple(py, out)
    })
}

/// The Debezium key of every row of a change batch (one per row, the key of the row's last
/// message: a key-changing update has its new key; null without a primary key or for a
/// truncate), as a pyarrow binary array. No value is serialized: this is the partitioning pass
/// of sinks that send the rows in another form (Arrow IPC). Takes the same options as
/// `debezium_serialize` (only `topic_prefix`, `decimals` and `schemas` change key bytes).
#[pyfunction]
#[pyo3(signature = (
    batch, *, topic_prefix = "arrowtail", database = "", decimals = "string",
    unavailable = "placeholder", tombstones = true, schemas = false,
    binlog_basename = "mysql-bin", server_id = 0, ts_ms = None,
))]
#[allow(clippy::too_many_arguments)]
fn debezium_keys<'py>(
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
) -> PyResult<Bound<'py, PyAny>> {
    let opts = options(
        topic_prefix,
        database,
        decimals,
        unavailable,
        tombstones,
        schemas,
        binlog_basename,
        server_id,
        ts_ms,
    )?;
    let batch = batch.into_inner();
    guard("debezium_keys", || {
        let keys = py.detach(|| serialize::row_keys(&batch, &opts)).py_err()?;
        to_pyarrow(py, Arc::new(keys), "key")
    })
}

/// `arrowtail._core.DebeziumSerializer`: the Debezium JSON serializer with its options checked
/// once, for a sink that serializes batch after batch (batches cross as [`BatchImporter`] takes
/// them: a pyarrow batch of the last batch's schema without that schema).
#[pyclass(name = "DebeziumSerializer", module = "arrowtail._core", frozen)]
pub struct PyDebeziumSerializer {
    settings: Settings,
    batches: BatchImporter,
}

impl PyDebeziumSerializer {
    fn serialized(
        &self,
        batch: &Bound<'_, PyAny>,
        partitions: Option<i32>,
    ) -> PyResult<Serialized> {
        let py = batch.py();
        let opts = self.settings.now(partitions)?;
        let batch = self.batches.import(batch)?;
        py.detach(|| serialize::serialize(&batch, &opts)).py_err()
    }
}

#[pymethods]
impl PyDebeziumSerializer {
    #[new]
    #[pyo3(signature = (
        *, topic_prefix = "arrowtail", database = "", decimals = "string",
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
        Ok(Self {
            settings: Settings::parse(
                topic_prefix,
                database,
                decimals,
                unavailable,
                tombstones,
                schemas,
                binlog_basename,
                server_id,
                ts_ms,
            )?,
            batches: BatchImporter::default(),
        })
    }

    /// `(keys, values, rows, partitions)` as pyarrow arrays, as `debezium_serialize` returns
    /// them.
    #[pyo3(signature = (batch, *, partitions = None))]
    fn serialize<'py>(
        &self,
        batch: &Bound<'py, PyAny>,
        partitions: Option<i32>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        guard("DebeziumSerializer.serialize", || {
            let out = self.serialized(batch, partitions)?;
            arrays_tuple(batch.py(), out)
        })
    }

    /// `(keys, values, partitions, largest)`: the same messages as Python lists (`bytes`, None
    /// for no key or a tombstone; the partition of each) and the largest message's key + value
    /// bytes.
    #[pyo3(signature = (batch, *, partitions))]
    fn messages<'py>(
        &self,
        batch: &Bound<'py, PyAny>,
        partitions: i32,
    ) -> PyResult<Bound<'py, PyTuple>> {
        guard("DebeziumSerializer.messages", || {
            let out = self.serialized(batch, Some(partitions))?;
            lists_tuple(batch.py(), &out)
        })
    }
}

/// Adds the Debezium serializer to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(debezium_serialize, m)?)?;
    m.add_function(wrap_pyfunction!(debezium_keys, m)?)?;
    m.add_class::<PyDebeziumSerializer>()?;
    Ok(())
}
