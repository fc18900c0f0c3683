//! The Debezium serializer of the core (`arrowtail_core::serialize`) for the Kafka sink, batch at a
//! time (GIL released): `DebeziumSerializer`, an object for a stream of batches that keeps its
//! checked options and the last schema, and hands messages back as pyarrow arrays or, for small
//! batches, as Python lists. The options and the output forms are shared with `AvroSerializer`.

// The core's error enum is large; it crosses here once per batch.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_array::{Array, BinaryArray, RecordBatch};
use arrowtail_core::serialize::txmeta::{TxCarry, TxRun};
use arrowtail_core::serialize::{self, DebeziumOptions, DecimalMode, Serialized, Unavailable};
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::arrow::{to_pyarrow, BatchImporter};
use crate::error::{config, guard, IntoPyResult};

/// The serializer options as a serializer object's constructor takes them from Python.
pub(crate) struct Options<'a> {
    pub topic_prefix: &'a str,
    pub database: &'a str,
    pub decimals: &'a str,
    pub unavailable: &'a str,
    pub tombstones: bool,
    pub schemas: bool,
    pub binlog_basename: &'a str,
    pub server_id: u32,
    pub ts_ms: Option<i64>,
}

/// The serializer options given from Python, checked once; the processing time of the
/// envelopes is taken at each call unless the caller fixed it (`ts_ms`).
#[derive(Debug, Clone)]
struct Settings {
    /// Every option but the time fields and `partitions`, which each call sets.
    base: DebeziumOptions,
    ts_ms: Option<i64>,
}

impl Settings {
    /// Checks the options given from Python.
    fn parse(options: &Options<'_>) -> PyResult<Self> {
        let decimals = DecimalMode::parse(options.decimals).ok_or_else(|| {
            config(format!(
                "decimals must be 'string', 'precise' or 'double', not {:?}",
                options.decimals
            ))
        })?;
        let unavailable = match options.unavailable {
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
                topic_prefix: options.topic_prefix.into(),
                database: options.database.into(),
                decimals,
                unavailable,
                tombstones: options.tombstones,
                schemas: options.schemas,
                binlog_basename: options.binlog_basename.into(),
                server_id: options.server_id,
                ts_ms: 0,
                ts_us: None,
                partitions: None,
                transactions: None,
            },
            ts_ms: options.ts_ms,
        })
    }

    /// The options of one call: the processing time now (microsecond precision) unless fixed,
    /// `partitions` (the topic's partition count, checked positive) and the transaction carry.
    fn now(
        &self,
        partitions: Option<i32>,
        transactions: Option<(u64, u64)>,
    ) -> PyResult<DebeziumOptions> {
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
            transactions: transactions.map(|(pos, events)| TxCarry { pos, events }),
            ..self.base.clone()
        })
    }
}

/// What a serializer object keeps between calls: its checked options and the schema of the last
/// batch (batches cross as [`BatchImporter`] takes them: a pyarrow batch of the last batch's
/// schema without that schema).
pub(crate) struct Stream {
    settings: Settings,
    batches: BatchImporter,
    /// The transactions of the last call that asked for transaction metadata.
    runs: Mutex<Vec<TxRun>>,
}

impl Stream {
    /// Checks the options given from Python.
    pub(crate) fn new(options: &Options<'_>) -> PyResult<Self> {
        Ok(Self {
            settings: Settings::parse(options)?,
            batches: BatchImporter::default(),
            runs: Mutex::new(Vec::new()),
        })
    }

    /// The batch in arrow-rs form and the options of this call (`partitions`: the topic's
    /// partition count, checked positive; `transactions`: the carry `(pos, events)` of the
    /// batch's table, which asks for Debezium's transaction blocks).
    pub(crate) fn take(
        &self,
        batch: &Bound<'_, PyAny>,
        partitions: Option<i32>,
        transactions: Option<(u64, u64)>,
    ) -> PyResult<(RecordBatch, DebeziumOptions)> {
        let opts = self.settings.now(partitions, transactions)?;
        Ok((self.batches.import(batch)?, opts))
    }

    /// Keeps the transactions of a call's output for [`Stream::take_runs`].
    pub(crate) fn keep_runs(&self, py: Python<'_>, out: &mut Serialized) {
        let mut runs = self
            .runs
            .lock_py_attached(py)
            .unwrap_or_else(PoisonError::into_inner);
        *runs = std::mem::take(&mut out.transactions);
    }

    /// `[(pos, xid, commit_ts_us, events, first_lsn, last_commit, id), ...]` of the last call, in
    /// order; taken once.
    pub(crate) fn take_runs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let runs = std::mem::take(
            &mut *self
                .runs
                .lock_py_attached(py)
                .unwrap_or_else(PoisonError::into_inner),
        );
        PyList::new(
            py,
            runs.into_iter().map(|r| {
                (
                    r.pos,
                    r.xid,
                    r.commit_ts_us,
                    r.events,
                    r.first_lsn,
                    r.last_commit,
                    r.id,
                )
            }),
        )
    }
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

/// `arrowtail._core.DebeziumSerializer`: the Debezium JSON serializer with its options checked
/// once, for a sink that serializes batch after batch (a [`Stream`]).
#[pyclass(name = "DebeziumSerializer", module = "arrowtail._core", frozen)]
pub struct PyDebeziumSerializer {
    stream: Stream,
}

impl PyDebeziumSerializer {
    fn serialized(
        &self,
        batch: &Bound<'_, PyAny>,
        partitions: Option<i32>,
        transactions: Option<(u64, u64)>,
    ) -> PyResult<Serialized> {
        let py = batch.py();
        let (batch, opts) = self.stream.take(batch, partitions, transactions)?;
        let mut out = py.detach(|| serialize::serialize(&batch, &opts)).py_err()?;
        self.stream.keep_runs(py, &mut out);
        Ok(out)
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
        let stream = Stream::new(&Options {
            topic_prefix,
            database,
            decimals,
            unavailable,
            tombstones,
            schemas,
            binlog_basename,
            server_id,
            ts_ms,
        })?;
        Ok(Self { stream })
    }

    /// `(keys, values, rows, partitions)` of the batch's Debezium JSON messages: pyarrow binary
    /// arrays of keys (null: no key) and values (null: tombstone), the uint32 batch row of each
    /// message, and int32 partitions when `partitions` (the topic's partition count) is given,
    /// else None. `transactions=(pos, events)`: streamed events carry Debezium's `transaction`
    /// block, the table's counts going on from that carry; `take_transactions` then gives the
    /// batch's transactions.
    #[pyo3(signature = (batch, *, partitions = None, transactions = None))]
    fn serialize<'py>(
        &self,
        batch: &Bound<'py, PyAny>,
        partitions: Option<i32>,
        transactions: Option<(u64, u64)>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        guard("DebeziumSerializer.serialize", || {
            let out = self.serialized(batch, partitions, transactions)?;
            arrays_tuple(batch.py(), out)
        })
    }

    /// `[(pos, xid, commit_ts_us, events, first_lsn, last_commit, id), ...]`: the transactions
    /// of the last call given `transactions`, in order, with the count of the table's events in
    /// each (the carry's included when the batch went on with the carried transaction), of the
    /// first of them in the batch its WAL position and `_last_commit_lsn`, and a MySQL/MariaDB
    /// transaction's id (None for PostgreSQL's). Taken once.
    fn take_transactions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.stream.take_runs(py)
    }

    /// `(keys, values, partitions, largest)`: the same messages as Python lists (`bytes`, None
    /// for no key or a tombstone; the partition of each) and the largest message's key + value
    /// bytes.
    #[pyo3(signature = (batch, *, partitions, transactions = None))]
    fn messages<'py>(
        &self,
        batch: &Bound<'py, PyAny>,
        partitions: i32,
        transactions: Option<(u64, u64)>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        guard("DebeziumSerializer.messages", || {
            let out = self.serialized(batch, Some(partitions), transactions)?;
            lists_tuple(batch.py(), &out)
        })
    }

    /// The Debezium key of every row of the batch (one per row, the key of the row's last
    /// message: a key-changing update has its new key; null without a primary key or for a
    /// truncate), as a pyarrow binary array. No value is serialized: this is the partitioning
    /// pass of sinks that send the rows in another form (Arrow IPC). Of the options only
    /// `topic_prefix`, `decimals` and `schemas` change key bytes.
    fn keys<'py>(&self, batch: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = batch.py();
        guard("DebeziumSerializer.keys", || {
            let (batch, opts) = self.stream.take(batch, None, None)?;
            let keys = py.detach(|| serialize::row_keys(&batch, &opts)).py_err()?;
            to_pyarrow(py, Arc::new(keys), "key")
        })
    }
}

/// Adds the Debezium serializer to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDebeziumSerializer>()?;
    Ok(())
}
