//! Kafka's key partitioning of the core (`arrowtail_core::partition`) for the Kafka sink: the
//! Java client's murmur2 and the partition of every key of an array, GIL released.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, Int32Array};
use arrow_schema::DataType;
use arrowtail_core::partition::{murmur2 as core_murmur2, partition_for_key};
use pyo3::prelude::*;
use pyo3_arrow::PyArray;

use crate::arrow::to_pyarrow;
use crate::error::{config, guard};

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

/// Adds the partitioning functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(murmur2, m)?)?;
    m.add_function(wrap_pyfunction!(partitions, m)?)?;
    Ok(())
}
