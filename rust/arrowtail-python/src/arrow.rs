//! Arrow across the boundary: finished change batches (the core's `arrow::ChangeBatch`) and
//! arrays go to Python through the Arrow PyCapsule interface (zero copy); batches of a stream
//! come in through [`BatchImporter`], which keeps the last schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::ffi::from_ffi_and_data_type;
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StructArray};
use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::{DataType, Field, SchemaRef};
use arrowtail_core::arrow::{ChangeBatch, SchemaVersions, SharedSchemaVersions};
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
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

/// The schema of the last batch a [`BatchImporter`] took, as pyarrow and as arrow-rs hold it.
struct LastSchema {
    pyarrow: Py<PyAny>,
    schema: SchemaRef,
    /// `pyarrow.RecordBatch`: only its instances take the array-only crossing.
    batch_type: Py<PyType>,
}

/// Takes batch after batch from Python for an object that serializes a stream of them. A stream
/// hands on batches of one schema after another, so the schema of the last batch is kept: a
/// pyarrow batch whose schema equals it (metadata included) crosses as its arrays alone
/// (pyarrow's C data export without the schema) under the kept schema; any other batch crosses
/// through the PyCapsule interface as everywhere else.
#[derive(Default)]
pub struct BatchImporter {
    last: Mutex<Option<LastSchema>>,
}

impl BatchImporter {
    /// The batch in arrow-rs form, its schema the kept one when pyarrow's equals it.
    pub fn import(&self, batch: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
        let py = batch.py();
        // Held across calls into pyarrow: another thread waits for it detached from the
        // interpreter, so the two cannot wait on each other.
        let mut last = self
            .last
            .lock_py_attached(py)
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = last.as_ref() {
            if let Some(imported) = Self::import_arrays(batch, cached)? {
                return Ok(imported);
            }
        }
        let imported = batch.extract::<PyRecordBatch>()?.into_inner();
        let pyarrow = py.import(intern!(py, "pyarrow"))?;
        let batch_type = pyarrow
            .getattr(intern!(py, "RecordBatch"))?
            .cast_into::<PyType>()?;
        *last = match batch.is_instance(&batch_type)? {
            true => Some(LastSchema {
                pyarrow: batch.getattr(intern!(py, "schema"))?.unbind(),
                schema: imported.schema(),
                batch_type: batch_type.unbind(),
            }),
            false => None,
        };
        Ok(imported)
    }

    /// The batch's arrays under the cached schema, or None when `batch` is not a pyarrow batch
    /// of that schema.
    fn import_arrays(
        batch: &Bound<'_, PyAny>,
        cached: &LastSchema,
    ) -> PyResult<Option<RecordBatch>> {
        let py = batch.py();
        if !batch.is_instance(cached.batch_type.bind(py))? {
            return Ok(None);
        }
        let schema = batch.getattr(intern!(py, "schema"))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "check_metadata"), true)?;
        let equal = cached
            .pyarrow
            .bind(py)
            .call_method(intern!(py, "equals"), (schema,), Some(&kwargs))?
            .is_truthy()?;
        if !equal {
            return Ok(None);
        }
        let mut array = FFI_ArrowArray::empty();
        let address = std::ptr::addr_of_mut!(array) as usize;
        // pyarrow fills the struct at `address` with the batch as a struct array (the C data
        // interface), and the struct's release callback owns it from then on.
        batch.call_method1(intern!(py, "_export_to_c"), (address,))?;
        let data_type = DataType::Struct(cached.schema.fields().clone());
        // SAFETY: pyarrow exported a batch whose schema equals the one `cached.schema` was
        // imported from, so the array's layout is that struct type's.
        let data = unsafe { from_ffi_and_data_type(array, data_type) }
            .map_err(|e| crate::error::internal("BatchImporter", &e.to_string()))?;
        let rows = data.len();
        let columns = StructArray::from(data).columns().to_vec();
        let batch = RecordBatch::try_new_with_options(
            cached.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| crate::error::internal("BatchImporter", &e.to_string()))?;
        Ok(Some(batch))
    }
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
