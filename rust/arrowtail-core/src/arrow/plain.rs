//! Plain column storage: a column's values in an ordinary `Vec` (offsets and bytes for binary
//! and text values) and its nulls as runs of row indexes, turned into an Arrow array only when
//! the column is finished.
//!
//! Arrow's builders keep their values in 64-byte aligned buffers, which grow by allocating anew
//! and copying; a `Vec` of the values' own alignment grows through the allocator's `realloc`,
//! which for large blocks moves pages instead of copying them. A value that is not null costs
//! one push and nothing else: most columns hold few nulls, so the validity bitmap is written
//! only at finish, and only when there is a null. The finished buffers are the vectors
//! themselves (no copy), and the next batch's vectors start with the capacity the last one
//! needed (unless the owner says otherwise), so a steady stream does not grow them again from
//! empty every batch.
//!
//! Text (`utf8`) is stored the same way as binary strings: each value's UTF-8 is checked by the
//! decoder as it is pushed (so a bad value fails at its own row), and the array is made at finish
//! by `StringArray::try_new`, whose check of the whole values buffer is one pass over bytes that
//! are already known to be good (the safe way to make a string array from plain vectors).

use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Time64MicrosecondType, TimestampMicrosecondType, UInt32Type,
};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, BinaryArray, BooleanArray, FixedSizeBinaryArray, PrimitiveArray,
    StringArray,
};
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer};
use arrow_schema::{ArrowError, DataType, TimeUnit};

/// The values of a plain column, one variant per storage type.
#[derive(Debug)]
pub enum PlainValues {
    Bool(Vec<bool>),
    I16(Vec<i16>),
    /// `int32` and `date32`.
    I32(Vec<i32>),
    /// `int64`, `timestamp[us]` (with or without a zone) and `time64[us]`.
    I64(Vec<i64>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// `decimal128(p, s)`.
    I128(Vec<i128>),
    /// `fixed_size_binary(16)` (uuid): 16 bytes a value, back to back.
    Fixed16(Vec<u8>),
    /// `binary`: `offsets` has one more entry than there are values.
    Bytes {
        offsets: Vec<i32>,
        bytes: Vec<u8>,
    },
    /// `utf8`, laid out as `Bytes`; every value pushed is valid UTF-8 (see
    /// [`PlainColumn::push_str`]).
    Str {
        offsets: Vec<i32>,
        bytes: Vec<u8>,
    },
}

/// One user column stored in plain vectors (see the module documentation).
#[derive(Debug)]
pub struct PlainColumn {
    data_type: DataType,
    /// The values; a null row holds the type's default value (as Arrow's builders store it).
    pub values: PlainValues,
    /// The capacity finish leaves the vectors with (see [`keep_capacity`](Self::keep_capacity)).
    keep: Capacity,
    /// The null rows as runs `(first row, count)`, ascending: rows without an old image make
    /// long runs of nulls in the `_before` columns, which cost one entry this way.
    nulls: Vec<(usize, usize)>,
}

impl PlainColumn {
    /// A plain column for `data_type`, or `None` for types kept in Arrow's builders.
    pub fn new(data_type: &DataType) -> Option<Self> {
        let values = match data_type {
            DataType::Boolean => PlainValues::Bool(Vec::new()),
            DataType::Int16 => PlainValues::I16(Vec::new()),
            DataType::Int32 | DataType::Date32 => PlainValues::I32(Vec::new()),
            DataType::Int64
            | DataType::Timestamp(TimeUnit::Microsecond, _)
            | DataType::Time64(TimeUnit::Microsecond) => PlainValues::I64(Vec::new()),
            DataType::UInt32 => PlainValues::U32(Vec::new()),
            DataType::Float32 => PlainValues::F32(Vec::new()),
            DataType::Float64 => PlainValues::F64(Vec::new()),
            DataType::Decimal128(_, _) => PlainValues::I128(Vec::new()),
            DataType::FixedSizeBinary(16) => PlainValues::Fixed16(Vec::new()),
            DataType::Binary => PlainValues::Bytes {
                offsets: vec![0],
                bytes: Vec::new(),
            },
            DataType::Utf8 => PlainValues::Str {
                offsets: vec![0],
                bytes: Vec::new(),
            },
            _ => return None,
        };
        Some(Self {
            data_type: data_type.clone(),
            values,
            keep: Capacity::Last,
            nulls: Vec::new(),
        })
    }

    /// Whether [`finish`](Self::finish) leaves the vectors with as much capacity as the batch
    /// needed (the default: a steady stream reuses its size batch after batch) or empty (rows
    /// that may not come again, such as a held transaction's taken out to bound memory).
    pub fn keep_capacity(&mut self, keep: bool) {
        self.keep = if keep {
            Capacity::Last
        } else {
            Capacity::Nothing
        };
    }

    /// Makes [`finish`](Self::finish) leave the vectors with the most capacity they had, never
    /// less: for a decoder whose batches differ in size, such as a snapshot's pieces, which end
    /// with a short batch before a full one. Growing a vector back copies it into pages new to
    /// the process; a steady capacity also lets the allocator hand back the blocks of batches
    /// already written.
    pub fn keep_most_capacity(&mut self) {
        self.keep = Capacity::Most;
    }

    /// Number of values (nulls included).
    pub fn len(&self) -> usize {
        match &self.values {
            PlainValues::Bool(v) => v.len(),
            PlainValues::I16(v) => v.len(),
            PlainValues::I32(v) => v.len(),
            PlainValues::I64(v) => v.len(),
            PlainValues::U32(v) => v.len(),
            PlainValues::F32(v) => v.len(),
            PlainValues::F64(v) => v.len(),
            PlainValues::I128(v) => v.len(),
            PlainValues::Fixed16(v) => v.len() / 16,
            PlainValues::Bytes { offsets, .. } | PlainValues::Str { offsets, .. } => {
                offsets.len() - 1
            }
        }
    }

    /// True when the column holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value bytes of a binary or text column (what its 32-bit offsets must hold), 0 for the
    /// others.
    pub fn offset_use(&self) -> usize {
        match &self.values {
            PlainValues::Bytes { bytes, .. } | PlainValues::Str { bytes, .. } => bytes.len(),
            _ => 0,
        }
    }

    /// True for the binary and text columns, whose arrays have offsets.
    pub fn has_offsets(&self) -> bool {
        matches!(
            self.values,
            PlainValues::Bytes { .. } | PlainValues::Str { .. }
        )
    }

    /// Appends a binary value. Fails past 2^31 bytes in one batch, which the change builder's
    /// byte limit keeps from happening.
    pub fn push_bytes(&mut self, data: &[u8]) -> Result<(), String> {
        match &mut self.values {
            PlainValues::Bytes { offsets, bytes } => {
                bytes.extend_from_slice(data);
                let end = i32::try_from(bytes.len())
                    .map_err(|_| "binary column exceeds 2^31 bytes".to_string())?;
                offsets.push(end);
                Ok(())
            }
            _ => Err("column is not binary".into()),
        }
    }

    /// Appends a text value. `text` must be valid UTF-8 (a `str`'s bytes, or bytes the caller
    /// checked): a column holding anything else fails at [`finish`](Self::finish). Fails past
    /// 2^31 bytes in one batch, which the change builder's byte limit keeps from happening.
    #[inline]
    pub fn push_str(&mut self, text: &[u8]) -> Result<(), String> {
        match &mut self.values {
            PlainValues::Str { offsets, bytes } => {
                bytes.extend_from_slice(text);
                let end = i32::try_from(bytes.len())
                    .map_err(|_| "text column exceeds 2^31 bytes".to_string())?;
                offsets.push(end);
                Ok(())
            }
            _ => Err("column is not text".into()),
        }
    }

    /// Appends `n` nulls.
    pub fn append_nulls(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let at = self.len();
        match self.nulls.last_mut() {
            Some((first, count)) if *first + *count == at => *count += n,
            _ => self.nulls.push((at, n)),
        }
        match &mut self.values {
            PlainValues::Bool(v) => v.resize(at + n, false),
            PlainValues::I16(v) => v.resize(at + n, 0),
            PlainValues::I32(v) => v.resize(at + n, 0),
            PlainValues::I64(v) => v.resize(at + n, 0),
            PlainValues::U32(v) => v.resize(at + n, 0),
            PlainValues::F32(v) => v.resize(at + n, 0.0),
            PlainValues::F64(v) => v.resize(at + n, 0.0),
            PlainValues::I128(v) => v.resize(at + n, 0),
            PlainValues::Fixed16(v) => v.resize((at + n) * 16, 0),
            PlainValues::Bytes { offsets, bytes } | PlainValues::Str { offsets, bytes } => {
                // The byte count fit an offset when the last value was pushed.
                let end = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
                offsets.resize(at + 1 + n, end);
            }
        }
    }

    /// Appends one null (a push of the type's default value, and the row noted as null).
    #[inline]
    pub fn append_null(&mut self) {
        let at = match &mut self.values {
            PlainValues::Bool(v) => push(v, false),
            PlainValues::I16(v) => push(v, 0),
            PlainValues::I32(v) => push(v, 0),
            PlainValues::I64(v) => push(v, 0),
            PlainValues::U32(v) => push(v, 0),
            PlainValues::F32(v) => push(v, 0.0),
            PlainValues::F64(v) => push(v, 0.0),
            PlainValues::I128(v) => push(v, 0),
            PlainValues::Fixed16(v) => {
                v.extend_from_slice(&[0; 16]);
                v.len() / 16 - 1
            }
            PlainValues::Bytes { offsets, .. } | PlainValues::Str { offsets, .. } => {
                let end = offsets.last().copied().unwrap_or(0);
                push(offsets, end) - 1
            }
        };
        match self.nulls.last_mut() {
            Some((first, count)) if *first + *count == at => *count += 1,
            _ => self.nulls.push((at, 1)),
        }
    }

    /// Turns the values into an array and leaves the column empty, its vectors sized for as many
    /// values as this batch held unless told not to keep capacity.
    pub fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let len = self.len();
        let nulls = self.take_nulls(len);
        let keep = self.keep;
        let dt = &self.data_type;
        Ok(match &mut self.values {
            PlainValues::Bool(v) => {
                let values = BooleanBuffer::from(take(v, keep).as_slice());
                Arc::new(BooleanArray::new(values, nulls))
            }
            PlainValues::I16(v) => primitive::<Int16Type>(take(v, keep), nulls, dt)?,
            PlainValues::I32(v) => match dt {
                DataType::Date32 => primitive::<Date32Type>(take(v, keep), nulls, dt)?,
                _ => primitive::<Int32Type>(take(v, keep), nulls, dt)?,
            },
            PlainValues::I64(v) => match dt {
                DataType::Timestamp(_, _) => {
                    primitive::<TimestampMicrosecondType>(take(v, keep), nulls, dt)?
                }
                DataType::Time64(_) => {
                    primitive::<Time64MicrosecondType>(take(v, keep), nulls, dt)?
                }
                _ => primitive::<Int64Type>(take(v, keep), nulls, dt)?,
            },
            PlainValues::U32(v) => primitive::<UInt32Type>(take(v, keep), nulls, dt)?,
            PlainValues::F32(v) => primitive::<Float32Type>(take(v, keep), nulls, dt)?,
            PlainValues::F64(v) => primitive::<Float64Type>(take(v, keep), nulls, dt)?,
            PlainValues::I128(v) => primitive::<Decimal128Type>(take(v, keep), nulls, dt)?,
            PlainValues::Fixed16(v) => Arc::new(FixedSizeBinaryArray::try_new(
                16,
                Buffer::from_vec(take(v, keep)),
                nulls,
            )?),
            PlainValues::Bytes { offsets, bytes } => {
                let o = take(offsets, keep);
                offsets.push(0);
                let b = Buffer::from_vec(take(bytes, keep));
                Arc::new(BinaryArray::try_new(OffsetBuffer::new(o.into()), b, nulls)?)
            }
            PlainValues::Str { offsets, bytes } => {
                let o = take(offsets, keep);
                offsets.push(0);
                let b = Buffer::from_vec(take(bytes, keep));
                // Checks the whole buffer once (each value was checked when pushed).
                Arc::new(StringArray::try_new(OffsetBuffer::new(o.into()), b, nulls)?)
            }
        })
    }

    /// The validity of `len` values from the null indexes; `None` when there are none.
    fn take_nulls(&mut self, len: usize) -> Option<NullBuffer> {
        if self.nulls.is_empty() {
            return None;
        }
        let mut b = BooleanBufferBuilder::new(len);
        for &(first, count) in &self.nulls {
            b.append_n(first - b.len(), true);
            b.append_n(count, false);
        }
        b.append_n(len - b.len(), true);
        self.nulls.clear();
        Some(NullBuffer::new(b.finish()))
    }
}

/// Pushes a value and gives its index.
#[inline]
fn push<T>(v: &mut Vec<T>, x: T) -> usize {
    v.push(x);
    v.len() - 1
}

/// The capacity a plain column's vectors keep when finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capacity {
    Nothing,
    /// As much as the batch needed.
    Last,
    /// As much as the vector had, the batch's growth included.
    Most,
}

/// Takes a vector's values out, leaving an empty one with the capacity `keep` says.
fn take<T>(v: &mut Vec<T>, keep: Capacity) -> Vec<T> {
    let cap = match keep {
        Capacity::Nothing => 0,
        Capacity::Last => v.len(),
        Capacity::Most => v.capacity(),
    };
    std::mem::replace(v, Vec::with_capacity(cap))
}

fn primitive<T: ArrowPrimitiveType>(
    values: Vec<T::Native>,
    nulls: Option<NullBuffer>,
    dt: &DataType,
) -> Result<ArrayRef, ArrowError> {
    Ok(Arc::new(
        PrimitiveArray::<T>::try_new(values.into(), nulls)?.with_data_type(dt.clone()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int64Array};

    fn capacity(p: &PlainColumn) -> usize {
        match &p.values {
            PlainValues::I64(v) => v.capacity(),
            _ => unreachable!("an int64 column"),
        }
    }

    #[test]
    fn finish_keeps_capacity_only_when_asked() {
        for keep in [true, false] {
            let mut p = PlainColumn::new(&DataType::Int64).unwrap();
            p.keep_capacity(keep);
            if let PlainValues::I64(v) = &mut p.values {
                v.extend(0..1000);
            }
            p.append_nulls(24);
            let a = p.finish().unwrap();
            let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
            assert_eq!((a.len(), a.null_count(), a.value(999)), (1024, 24, 999));
            assert!(p.is_empty());
            assert_eq!(capacity(&p) >= 1024, keep, "keep {keep}");
            assert_eq!(capacity(&p) == 0, !keep, "keep {keep}");
        }
    }

    #[test]
    fn most_capacity_survives_a_short_batch() {
        let mut p = PlainColumn::new(&DataType::Int64).unwrap();
        p.keep_most_capacity();
        for (rows, at_least) in [(1000, 1000), (10, 1000), (2000, 2000), (5, 2000)] {
            if let PlainValues::I64(v) = &mut p.values {
                v.extend(0..rows);
            }
            let a = p.finish().unwrap();
            assert_eq!(a.len(), rows as usize);
            assert!(
                capacity(&p) >= at_least,
                "{} after {rows} rows",
                capacity(&p)
            );
        }
        p.keep_capacity(true);
        if let PlainValues::I64(v) = &mut p.values {
            v.extend(0..10);
        }
        p.finish().unwrap();
        assert_eq!(capacity(&p), 10);
    }

    #[test]
    fn null_runs_become_one_bitmap() {
        let mut p = PlainColumn::new(&DataType::Binary).unwrap();
        p.append_nulls(3);
        p.push_bytes(b"ab").unwrap();
        p.append_null();
        p.append_nulls(2);
        p.push_bytes(b"").unwrap();
        p.append_null();
        assert_eq!((p.len(), p.offset_use()), (9, 2));
        let a = p.finish().unwrap();
        let valid: Vec<bool> = (0..a.len()).map(|i| a.is_valid(i)).collect();
        assert_eq!(
            valid,
            [false, false, false, true, false, false, false, true, false]
        );
        assert!(PlainColumn::new(&DataType::Utf8View).is_none());
    }

    #[test]
    fn text_values_become_a_string_array() {
        let mut p = PlainColumn::new(&DataType::Utf8).unwrap();
        assert!(p.push_bytes(b"x").is_err());
        p.push_str("é".as_bytes()).unwrap();
        p.append_nulls(2);
        p.push_str(b"").unwrap();
        p.push_str(b"ab").unwrap();
        assert_eq!((p.len(), p.offset_use(), p.has_offsets()), (5, 4, true));
        let a = p.finish().unwrap();
        let s = a.as_any().downcast_ref::<StringArray>().unwrap();
        let got: Vec<Option<&str>> = s.iter().collect();
        assert_eq!(got, [Some("é"), None, None, Some(""), Some("ab")]);
        // Bytes that are not UTF-8 (which the decoder never pushes) fail at finish, not later.
        p.push_str(b"\xff").unwrap();
        let err = p.finish().unwrap_err().to_string();
        assert!(err.contains("non UTF-8"), "{err}");
        assert!(p.is_empty());
    }
}
