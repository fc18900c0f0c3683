//! The Avro serializer of the core (`arrowtail_core::serialize::avro`) for the Kafka sink: the
//! schemas of a batch's table, to register, then the batch's messages in the Confluent wire format
//! with the registry's ids (arrays in and out through the Arrow PyCapsule interface, GIL released).

// The core's error enum is large; it crosses here once per batch.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use arrowtail_core::serialize::avro::{self, SchemaIds};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3_arrow::PyRecordBatch;

use crate::arrow::to_pyarrow;
use crate::error::{config, guard, IntoPyResult};
use crate::serialize::options;

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

/// Adds the Avro serializer to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(avro_schemas, m)?)?;
    m.add_function(wrap_pyfunction!(avro_serialize, m)?)?;
    Ok(())
}
