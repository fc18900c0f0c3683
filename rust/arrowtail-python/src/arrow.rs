//! Arrow across the boundary: finished change batches (the core's `arrow::ChangeBatch`) and
//! arrays go to Python through the Arrow PyCapsule interface (zero copy).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::{Field, SchemaRef};
use arrowtail_core::arrow::{ChangeBatch, SchemaVersions, SharedSchemaVersions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3_arrow::{PyArray, PyRecordBatch};

/// Converts change batches into a Python list of `(table, schema_version, pyarrow.RecordBatch)`.
#[allow(dead_code)] // Shared helper, unused until the first decoder binding.
pub fn change_batches<'py>(
    py: Python<'py>,
    batches: Vec<ChangeBatch>,
) -> PyResult<Bound<'py, PyList>> {
    change_batches_with(py, batches, &mut KnownSchemas::default())
}

/// [`change_batches`] with the schemas registered in `known`.
pub fn change_batches_with<'py>(
    py: Python<'py>,
    batches: Vec<ChangeBatch>,
    known: &mut KnownSchemas,
) -> PyResult<Bound<'py, PyList>> {
    let items = batches
        .into_iter()
        .map(|cb| {
            let batch = known.batch(py, &cb.table, cb.batch)?;
            PyTuple::new(
                py,
                [
                    cb.table.into_pyobject(py)?.into_any(),
                    cb.schema_version.into_pyobject(py)?.into_any(),
                    batch,
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Converts an array into a pyarrow array named `name` (nullable).
pub fn to_pyarrow<'py>(
    py: Python<'py>,
    array: ArrayRef,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let field = Arc::new(Field::new(name, array.data_type().clone(), true));
    let exported = PyArray::new(array, field).into_pyobject(py)?;
    py.import("pyarrow")?.getattr("array")?.call1((exported,))
}

/// `arrowtail._core.SchemaVersions`: the run-wide numbering of schema versions
/// (`arrowtail_core::arrow::SchemaVersions`). A source creates one and hands it to each decoder
/// it runs (`versions=`), so their batches share one numbering; `assign` numbers a batch built
/// elsewhere the same way.
#[pyclass(name = "SchemaVersions", module = "arrowtail._core", frozen)]
pub struct PySchemaVersions {
    pub inner: SharedSchemaVersions,
}

#[pymethods]
impl PySchemaVersions {
    #[new]
    fn new() -> Self {
        Self {
            inner: SchemaVersions::shared(),
        }
    }

    /// `(version, batch)`: the version of `batch`'s column layout for `table` (numbered when
    /// new), and the batch with that version in its `arrowtail.schema_version` metadata.
    fn assign<'py>(
        &self,
        py: Python<'py>,
        table: &str,
        batch: PyRecordBatch,
    ) -> PyResult<(u32, Bound<'py, PyAny>)> {
        crate::error::guard("SchemaVersions.assign", || {
            let batch = batch.into_inner();
            let (version, batch) = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .stamp(table, batch);
            Ok((version, PyRecordBatch::new(batch).into_pyarrow(py)?))
        })
    }
}

/// Schemas the caller asked a decoder to hand its batches on with: per table, the decoder's own
/// schema (`before`) and the schema to use instead (`after`, the same columns with other
/// metadata: the catalog facts the source learns). A batch whose schema is exactly `before`
/// crosses as its arrays alone, imported against the pyarrow schema already built for
/// `after`, which spares building, exporting and parsing the schema for every batch.
#[derive(Default)]
pub struct KnownSchemas {
    tables: HashMap<String, KnownSchema>,
    /// `pyarrow.RecordBatch._import_from_c`, looked up once.
    import: Option<Py<PyAny>>,
}

struct KnownSchema {
    before: SchemaRef,
    after: Py<PyAny>,
}

impl KnownSchemas {
    /// Hands `table`'s batches of schema `before` on with `after`, which must have the same
    /// columns (names, types and nullability) and differ only in metadata.
    pub fn register(
        &mut self,
        table: String,
        before: SchemaRef,
        after: SchemaRef,
        py_after: Py<PyAny>,
    ) -> PyResult<()> {
        let same_columns = before.fields().len() == after.fields().len()
            && before.fields().iter().zip(after.fields()).all(|(b, a)| {
                b.name() == a.name()
                    && b.data_type() == a.data_type()
                    && b.is_nullable() == a.is_nullable()
            });
        if !same_columns {
            return Err(PyValueError::new_err(format!(
                "schema for {table} does not have the decoder's columns"
            )));
        }
        self.tables.insert(
            table,
            KnownSchema {
                before,
                after: py_after,
            },
        );
        Ok(())
    }

    /// Forgets `table`'s registered schema.
    pub fn forget(&mut self, table: &str) {
        self.tables.remove(table);
    }

    /// `batch` as a pyarrow RecordBatch: with the registered schema of `table` when the batch's
    /// schema is exactly that table's `before`, else with its own.
    pub fn batch<'py>(
        &mut self,
        py: Python<'py>,
        table: &str,
        batch: RecordBatch,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(known) = self.tables.get(table) else {
            return PyRecordBatch::new(batch).into_pyarrow(py);
        };
        if *batch.schema_ref() != known.before {
            return PyRecordBatch::new(batch).into_pyarrow(py);
        }
        let import = match &self.import {
            Some(import) => import.bind(py).clone(),
            None => {
                let import = py
                    .import("pyarrow")?
                    .getattr("RecordBatch")?
                    .getattr("_import_from_c")?;
                self.import = Some(import.clone().unbind());
                import
            }
        };
        let data = StructArray::from(batch).into_data();
        let exported = Box::new(FFI_ArrowArray::new(&data));
        // pyarrow moves the array out of the struct at this address (leaving it released, so
        // dropping the box frees nothing twice); on a failure before that, the drop frees it.
        let address = std::ptr::from_ref::<FFI_ArrowArray>(&exported) as usize;
        import.call1((address, known.after.bind(py)))
    }
}
