//! The Debezium serializer of the core (`arrowtail_core::serialize`) for the Kafka sink, batch at a
//! time (arrays in and out through the Arrow PyCapsule interface, GIL released).

// The core's error enum is large; it crosses here once per batch.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrowtail_core::serialize::{self, DebeziumOptions, DecimalMode, Unavailable};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3_arrow::PyRecordBatch;

use crate::arrow::to_pyarrow;
use crate::error::{config, guard, IntoPyResult};

/// The serializer options given from Python, checked (`partitions` is set by the caller).
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

/// Adds the Debezium serializer to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(debezium_serialize, m)?)?;
    m.add_function(wrap_pyfunction!(debezium_keys, m)?)?;
    Ok(())
}
