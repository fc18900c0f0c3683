//! Sink helpers of `arrowtail._core`: Kafka's murmur2 partitioning and the Debezium serializer,
//! batch at a time (arrays in and out through the Arrow PyCapsule interface, GIL released).

// The core's error enum is large; it crosses here once per batch.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Int32Array};
use arrow_schema::{DataType, Field};
use arrowtail_core::partition::{murmur2 as core_murmur2, partition_for_key};
use arrowtail_core::serialize::{self, DebeziumOptions, DecimalMode, Unavailable};
use arrowtail_core::Error;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3_arrow::{PyArray, PyRecordBatch};

use crate::error::{guard, to_py, IntoPyResult};

/// Kafka's murmur2 hash of `key` (signed, as the Java client returns it).
#[pyfunction]
fn murmur2(key: &[u8]) -> PyResult<i32> {
    guard("murmur2", || Ok(core_murmur2(key)))
}

/// Keys given either as an Arrow binary array or as a list of bytes.
#[derive(FromPyObject)]
enum Keys {
    Arrow(PyArray),
    List(Vec<Vec<u8>>),
}

fn config(msg: impl Into<String>) -> PyErr {
    to_py(Error::Config(msg.into()))
}

/// Partitions computed over an Arrow array of keys (null keys go to partition 0).
fn partitions_of(keys: &dyn Array, n: i32) -> Result<Int32Array, String> {
    let part = |k: Option<&[u8]>| k.and_then(|k| partition_for_key(k, n)).unwrap_or(0);
    Ok(match keys.data_type() {
        DataType::Binary => keys
            .as_binary::<i32>()
            .iter()
            .map(|k| Some(part(k)))
            .collect(),
        DataType::LargeBinary => keys
            .as_binary::<i64>()
            .iter()
            .map(|k| Some(part(k)))
            .collect(),
        DataType::BinaryView => keys
            .as_binary_view()
            .iter()
            .map(|k| Some(part(k)))
            .collect(),
        DataType::Utf8 => keys
            .as_string::<i32>()
            .iter()
            .map(|k| Some(part(k.map(str::as_bytes))))
            .collect(),
        DataType::LargeUtf8 => keys
            .as_string::<i64>()
            .iter()
            .map(|k| Some(part(k.map(str::as_bytes))))
            .collect(),
        other => return Err(format!("keys must be binary or string, not {other}")),
    })
}

fn to_pyarrow<'py>(py: Python<'py>, array: ArrayRef, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let field = Arc::new(Field::new(name, array.data_type().clone(), true));
    let exported = PyArray::new(array, field).into_pyobject(py)?;
    py.import("pyarrow")?.getattr("array")?.call1((exported,))
}

/// The partition of each key by Kafka's Java rule, `(murmur2(key) & 0x7fffffff) % n`, as a
/// pyarrow int32 array.
#[pyfunction]
fn partitions<'py>(py: Python<'py>, keys: Keys, n: i32) -> PyResult<Bound<'py, PyAny>> {
    if n <= 0 {
        return Err(config(format!("partition count must be positive, got {n}")));
    }
    guard("partitions", || {
        let result: Int32Array = match keys {
            Keys::Arrow(a) => {
                let (array, _) = a.into_inner();
                py.detach(|| partitions_of(array.as_ref(), n))
                    .map_err(config)?
            }
            Keys::List(list) => py.detach(|| {
                list.iter()
                    .map(|k| Some(partition_for_key(k, n).unwrap_or(0)))
                    .collect()
            }),
        };
        to_pyarrow(py, Arc::new(result), "partition")
    })
}

/// The serializer options given from Python, checked (`partitions` is set by the caller).
#[allow(clippy::too_many_arguments)]
fn options(
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
    // Processing time at microsecond precision unless the caller fixed the milliseconds.
    let ts_us = match ts_ms {
        Some(_) => None,
        None => Some(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        ),
    };
    let ts_ms = ts_ms.unwrap_or_else(|| ts_us.unwrap_or(0).div_euclid(1000));
    Ok(DebeziumOptions {
        topic_prefix: topic_prefix.into(),
        database: database.into(),
        decimals,
        unavailable,
        tombstones,
        schemas,
        binlog_basename: binlog_basename.into(),
        server_id,
        ts_ms,
        ts_us,
        partitions: None,
    })
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
    if partitions.is_some_and(|n| n <= 0) {
        return Err(config("partition count must be positive"));
    }
    let opts = DebeziumOptions {
        partitions,
        ..options(
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
    };
    let batch = batch.into_inner();
    guard("debezium_serialize", || {
        let out = py.detach(|| serialize::serialize(&batch, &opts)).py_err()?;
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

/// Adds the sink helpers to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(murmur2, m)?)?;
    m.add_function(wrap_pyfunction!(partitions, m)?)?;
    m.add_function(wrap_pyfunction!(debezium_serialize, m)?)?;
    m.add_function(wrap_pyfunction!(debezium_keys, m)?)?;
    Ok(())
}
