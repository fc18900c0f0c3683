//! Typed Arrow column builders for the user columns of a change batch.
//!
//! A decoder resolves each source column to an Arrow [`DataType`] once (when it learns the table's
//! schema) and creates a [`ColumnBuilder`] for it; per row it matches on the builder variant and
//! appends the decoded value directly, so no per-value boxing or dynamic dispatch happens on the hot
//! path. Lists (PostgreSQL arrays, MySQL SET) nest a child builder of the element type.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, DurationMicrosecondBuilder,
    FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, Int8Builder, IntervalMonthDayNanoBuilder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder, UInt16Builder, UInt32Builder,
    UInt64Builder, UInt8Builder,
};
use arrow_array::{ArrayRef, ListArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, IntervalUnit, TimeUnit};

use super::plain::PlainColumn;

/// A builder for one user column, one variant per Arrow type of the type mapping in docs/design.md.
#[derive(Debug)]
pub enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    UInt8(UInt8Builder),
    UInt16(UInt16Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal128(Decimal128Builder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    FixedSizeBinary(FixedSizeBinaryBuilder),
    Date32(Date32Builder),
    /// `timestamp[us]` or `timestamp[us, tz]`; the time zone is carried by the builder.
    Timestamp(TimestampMicrosecondBuilder),
    Time64(Time64MicrosecondBuilder),
    Duration(DurationMicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    List(Box<ListColumnBuilder>),
    /// Values in plain vectors, made an array at finish (see [`super::plain`]); created only by
    /// decoders that ask for it ([`ColumnBuilder::plain`]).
    Plain(PlainColumn),
}

/// A `list<element>` builder: offsets and validity here, values in a nested [`ColumnBuilder`].
#[derive(Debug)]
pub struct ListColumnBuilder {
    /// The element field (name `item`, nullable), as it appears in the list type.
    pub field: FieldRef,
    /// Values of all lists, back to back.
    pub values: ColumnBuilder,
    offsets: Vec<i32>,
    validity: NullBufferBuilder,
}

impl ListColumnBuilder {
    /// Ends the current list value: the elements appended to `values` since the previous call
    /// belong to it. Fails only past 2^31 elements in one batch.
    pub fn append(&mut self, valid: bool) -> Result<(), ArrowError> {
        let len = i32::try_from(self.values.len())
            .map_err(|_| ArrowError::ComputeError("list column exceeds 2^31 elements".into()))?;
        self.offsets.push(len);
        self.validity.append(valid);
        Ok(())
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let values = self.values.finish()?;
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let nulls = self.validity.finish();
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        Ok(Arc::new(ListArray::try_new(
            self.field.clone(),
            offsets,
            values,
            nulls,
        )?))
    }
}

impl ColumnBuilder {
    /// Creates a builder for `data_type`. Fails for types outside the mapping table.
    pub fn new(data_type: &DataType) -> Result<Self, ArrowError> {
        Ok(match data_type {
            DataType::Boolean => Self::Boolean(BooleanBuilder::new()),
            DataType::Int8 => Self::Int8(Int8Builder::new()),
            DataType::Int16 => Self::Int16(Int16Builder::new()),
            DataType::Int32 => Self::Int32(Int32Builder::new()),
            DataType::Int64 => Self::Int64(Int64Builder::new()),
            DataType::UInt8 => Self::UInt8(UInt8Builder::new()),
            DataType::UInt16 => Self::UInt16(UInt16Builder::new()),
            DataType::UInt32 => Self::UInt32(UInt32Builder::new()),
            DataType::UInt64 => Self::UInt64(UInt64Builder::new()),
            DataType::Float32 => Self::Float32(Float32Builder::new()),
            DataType::Float64 => Self::Float64(Float64Builder::new()),
            DataType::Decimal128(p, s) => {
                Self::Decimal128(Decimal128Builder::new().with_precision_and_scale(*p, *s)?)
            }
            DataType::Utf8 => Self::Utf8(StringBuilder::new()),
            DataType::Binary => Self::Binary(BinaryBuilder::new()),
            DataType::FixedSizeBinary(n) => Self::FixedSizeBinary(FixedSizeBinaryBuilder::new(*n)),
            DataType::Date32 => Self::Date32(Date32Builder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                Self::Timestamp(TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone()))
            }
            DataType::Time64(TimeUnit::Microsecond) => {
                Self::Time64(Time64MicrosecondBuilder::new())
            }
            DataType::Duration(TimeUnit::Microsecond) => {
                Self::Duration(DurationMicrosecondBuilder::new())
            }
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                Self::Interval(IntervalMonthDayNanoBuilder::new())
            }
            DataType::List(field) => Self::List(Box::new(ListColumnBuilder {
                field: field.clone(),
                values: ColumnBuilder::new(field.data_type())?,
                offsets: vec![0],
                validity: NullBufferBuilder::new(0),
            })),
            other => {
                return Err(ArrowError::NotYetImplemented(format!(
                    "no change-batch column builder for Arrow type {other}"
                )))
            }
        })
    }

    /// A plain-vector column for `data_type` when the type has one (fixed-width types, binary
    /// and text; see [`super::plain`]), otherwise Arrow's builder as [`new`](Self::new) makes it.
    pub fn plain(data_type: &DataType) -> Result<Self, ArrowError> {
        match PlainColumn::new(data_type) {
            Some(p) => Ok(Self::Plain(p)),
            None => Self::new(data_type),
        }
    }

    /// The list type arrowtail uses for arrays and sets: `list<item: element, nullable>`.
    pub fn list_type(element: DataType) -> DataType {
        DataType::List(Arc::new(Field::new("item", element, true)))
    }

    /// Appends a null value.
    pub fn append_null(&mut self) {
        match self {
            Self::Boolean(b) => b.append_null(),
            Self::Int8(b) => b.append_null(),
            Self::Int16(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::UInt8(b) => b.append_null(),
            Self::UInt16(b) => b.append_null(),
            Self::UInt32(b) => b.append_null(),
            Self::UInt64(b) => b.append_null(),
            Self::Float32(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
            Self::Decimal128(b) => b.append_null(),
            Self::Utf8(b) => b.append_null(),
            Self::Binary(b) => b.append_null(),
            Self::FixedSizeBinary(b) => b.append_null(),
            Self::Date32(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Time64(b) => b.append_null(),
            Self::Duration(b) => b.append_null(),
            Self::Interval(b) => b.append_null(),
            Self::List(l) => {
                // Cannot fail: a null list adds no elements, so the offset does not grow.
                let _ = l.append(false);
            }
            Self::Plain(p) => p.append_null(),
        }
    }

    /// Appends `n` null values at once.
    pub fn append_nulls(&mut self, n: usize) {
        match self {
            Self::Boolean(b) => b.append_nulls(n),
            Self::Int8(b) => b.append_nulls(n),
            Self::Int16(b) => b.append_nulls(n),
            Self::Int32(b) => b.append_nulls(n),
            Self::Int64(b) => b.append_nulls(n),
            Self::UInt8(b) => b.append_nulls(n),
            Self::UInt16(b) => b.append_nulls(n),
            Self::UInt32(b) => b.append_nulls(n),
            Self::UInt64(b) => b.append_nulls(n),
            Self::Float32(b) => b.append_nulls(n),
            Self::Float64(b) => b.append_nulls(n),
            Self::Decimal128(b) => b.append_nulls(n),
            Self::Utf8(b) => b.append_nulls(n),
            Self::Binary(b) => b.append_nulls(n),
            Self::FixedSizeBinary(b) => b.append_nulls(n),
            Self::Date32(b) => b.append_nulls(n),
            Self::Timestamp(b) => b.append_nulls(n),
            Self::Time64(b) => b.append_nulls(n),
            Self::Duration(b) => b.append_nulls(n),
            Self::Interval(b) => b.append_nulls(n),
            Self::List(l) => {
                for _ in 0..n {
                    // Cannot fail: a null list adds no elements.
                    let _ = l.append(false);
                }
            }
            Self::Plain(p) => p.append_nulls(n),
        }
    }

    /// Number of values appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        use arrow_array::builder::ArrayBuilder;
        match self {
            Self::Boolean(b) => b.len(),
            Self::Int8(b) => b.len(),
            Self::Int16(b) => b.len(),
            Self::Int32(b) => b.len(),
            Self::Int64(b) => b.len(),
            Self::UInt8(b) => b.len(),
            Self::UInt16(b) => b.len(),
            Self::UInt32(b) => b.len(),
            Self::UInt64(b) => b.len(),
            Self::Float32(b) => b.len(),
            Self::Float64(b) => b.len(),
            Self::Decimal128(b) => b.len(),
            Self::Utf8(b) => b.len(),
            Self::Binary(b) => b.len(),
            Self::FixedSizeBinary(b) => b.len(),
            Self::Date32(b) => b.len(),
            Self::Timestamp(b) => b.len(),
            Self::Time64(b) => b.len(),
            Self::Duration(b) => b.len(),
            Self::Interval(b) => b.len(),
            Self::List(l) => l.len(),
            Self::Plain(p) => p.len(),
        }
    }

    /// The largest 32-bit offset this builder holds: value bytes of a string or binary column,
    /// for a list the larger of its element count and its elements' own offsets; 0 for
    /// fixed-width types. Arrow cannot finish a column whose offsets pass `i32::MAX`, so the
    /// change builder cuts its batch before this gets there (see [`super::change::BYTE_LIMIT`]).
    pub fn offset_use(&self) -> usize {
        match self {
            Self::Utf8(b) => b.values_slice().len(),
            Self::Binary(b) => b.values_slice().len(),
            Self::List(l) => l.values.len().max(l.values.offset_use()),
            Self::Plain(p) => p.offset_use(),
            // Listed one by one, so that a new variant with offsets cannot slip through.
            Self::Boolean(_)
            | Self::Int8(_)
            | Self::Int16(_)
            | Self::Int32(_)
            | Self::Int64(_)
            | Self::UInt8(_)
            | Self::UInt16(_)
            | Self::UInt32(_)
            | Self::UInt64(_)
            | Self::Float32(_)
            | Self::Float64(_)
            | Self::Decimal128(_)
            | Self::FixedSizeBinary(_)
            | Self::Date32(_)
            | Self::Timestamp(_)
            | Self::Time64(_)
            | Self::Duration(_)
            | Self::Interval(_) => 0,
        }
    }

    /// True for the types whose arrays have offsets (strings, binaries, lists).
    pub fn has_offsets(&self) -> bool {
        match self {
            Self::Utf8(_) | Self::Binary(_) | Self::List(_) => true,
            Self::Plain(p) => p.has_offsets(),
            _ => false,
        }
    }

    /// True when no value was appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finishes the column into an array and resets the builder for reuse.
    pub fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        use arrow_array::builder::ArrayBuilder;
        Ok(match self {
            Self::Boolean(b) => ArrayBuilder::finish(b),
            Self::Int8(b) => ArrayBuilder::finish(b),
            Self::Int16(b) => ArrayBuilder::finish(b),
            Self::Int32(b) => ArrayBuilder::finish(b),
            Self::Int64(b) => ArrayBuilder::finish(b),
            Self::UInt8(b) => ArrayBuilder::finish(b),
            Self::UInt16(b) => ArrayBuilder::finish(b),
            Self::UInt32(b) => ArrayBuilder::finish(b),
            Self::UInt64(b) => ArrayBuilder::finish(b),
            Self::Float32(b) => ArrayBuilder::finish(b),
            Self::Float64(b) => ArrayBuilder::finish(b),
            Self::Decimal128(b) => ArrayBuilder::finish(b),
            Self::Utf8(b) => ArrayBuilder::finish(b),
            Self::Binary(b) => ArrayBuilder::finish(b),
            Self::FixedSizeBinary(b) => ArrayBuilder::finish(b),
            Self::Date32(b) => ArrayBuilder::finish(b),
            Self::Timestamp(b) => ArrayBuilder::finish(b),
            Self::Time64(b) => ArrayBuilder::finish(b),
            Self::Duration(b) => ArrayBuilder::finish(b),
            Self::Interval(b) => ArrayBuilder::finish(b),
            Self::List(l) => l.finish()?,
            Self::Plain(p) => p.finish()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int32Array};

    #[test]
    fn list_of_int32_with_null_and_empty() {
        let mut b = ColumnBuilder::new(&ColumnBuilder::list_type(DataType::Int32)).unwrap();
        let ColumnBuilder::List(l) = &mut b else {
            panic!("expected a list builder")
        };
        if let ColumnBuilder::Int32(v) = &mut l.values {
            v.append_value(1);
            v.append_null();
        }
        l.append(true).unwrap();
        l.append(true).unwrap(); // empty list
        b.append_null();
        assert_eq!(b.len(), 3);
        let arr = b.finish().unwrap();
        let list = arr.as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list.value_length(0), 2);
        assert_eq!(list.value_length(1), 0);
        assert!(list.is_null(2));
        let first = list.value(0);
        let ints = first.as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(ints.value(0), 1);
        assert!(ints.is_null(1));
        // The builder is reusable after finish.
        assert!(b.is_empty());
    }

    #[test]
    fn unknown_type_is_an_error() {
        assert!(ColumnBuilder::new(&DataType::Float16).is_err());
    }
}
