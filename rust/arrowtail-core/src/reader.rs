//! A bounds-checked cursor over input bytes. Every read returns an error value instead of panicking
//! when the input is too short, so decoders can turn truncation into a [`crate::Error::Decode`]
//! with their own position.

/// The input ended before a read could complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    /// Offset in the buffer where the read started.
    pub at: usize,
    /// Bytes the read needed.
    pub needed: usize,
    /// Bytes that were left.
    pub available: usize,
}

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "needed {} bytes at offset {} but only {} remain",
            self.needed, self.at, self.available
        )
    }
}

/// A cursor over a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

macro_rules! read_int {
    ($name:ident, $t:ty, $from:ident) => {
        /// Reads one integer of this width and byte order.
        #[inline]
        pub fn $name(&mut self) -> Result<$t, Short> {
            const N: usize = std::mem::size_of::<$t>();
            let b = self.take(N)?;
            let mut a = [0u8; N];
            a.copy_from_slice(b);
            Ok(<$t>::$from(a))
        }
    };
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current offset from the start of the buffer.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte was read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        if n > self.remaining() {
            return Err(Short {
                at: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    #[inline]
    pub fn skip(&mut self, n: usize) -> Result<(), Short> {
        self.take(n).map(|_| ())
    }

    /// Takes everything that is left.
    #[inline]
    pub fn take_rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }

    /// Reads a NUL-terminated string (without the NUL).
    pub fn cstr(&mut self) -> Result<&'a [u8], Short> {
        match self.rest().iter().position(|&b| b == 0) {
            Some(i) => {
                let s = &self.buf[self.pos..self.pos + i];
                self.pos += i + 1;
                Ok(s)
            }
            None => Err(Short {
                at: self.pos,
                needed: self.remaining() + 1,
                available: self.remaining(),
            }),
        }
    }

    /// Reads an unsigned little-endian integer of `n` bytes (1..=8).
    #[inline]
    pub fn uint_le(&mut self, n: usize) -> Result<u64, Short> {
        debug_assert!(n <= 8);
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    /// Reads an unsigned big-endian integer of `n` bytes (1..=8).
    #[inline]
    pub fn uint_be(&mut self, n: usize) -> Result<u64, Short> {
        debug_assert!(n <= 8);
        let b = self.take(n)?;
        Ok(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    read_int!(u16_be, u16, from_be_bytes);
    read_int!(u32_be, u32, from_be_bytes);
    read_int!(u64_be, u64, from_be_bytes);
    read_int!(i16_be, i16, from_be_bytes);
    read_int!(i32_be, i32, from_be_bytes);
    read_int!(i64_be, i64, from_be_bytes);
    read_int!(u16_le, u16, from_le_bytes);
    read_int!(u32_le, u32, from_le_bytes);
    read_int!(u64_le, u64, from_le_bytes);
    read_int!(i16_le, i16, from_le_bytes);
    read_int!(i32_le, i32, from_le_bytes);
    read_int!(i64_le, i64, from_le_bytes);
    read_int!(f32_be, f32, from_be_bytes);
    read_int!(f64_be, f64, from_be_bytes);
    read_int!(f32_le, f32, from_le_bytes);
    read_int!(f64_le, f64, from_le_bytes);
}

/// Moves from the front of `data` into `carry` the bytes `carry` lacks to hold `need` bytes (as
/// many as `data` has), so a unit cut by the end of one input is completed from the next without
/// copying the rest of it. True once `carry` holds `need` bytes; false means `data` ran out.
pub(crate) fn top_up(carry: &mut Vec<u8>, data: &mut &[u8], need: usize) -> bool {
    let take = need.saturating_sub(carry.len()).min(data.len());
    carry.extend_from_slice(&data[..take]);
    *data = &data[take..];
    carry.len() >= need
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_short_input() {
        let mut r = Reader::new(&[0, 0, 1, 2, b'h', b'i', 0, 9]);
        assert_eq!(r.u16_be().unwrap(), 0);
        assert_eq!(r.u16_le().unwrap(), 0x0201);
        assert_eq!(r.cstr().unwrap(), b"hi");
        assert_eq!(r.u8().unwrap(), 9);
        let e = r.u32_be().unwrap_err();
        assert_eq!(
            e,
            Short {
                at: 8,
                needed: 4,
                available: 0
            }
        );
    }

    #[test]
    fn variable_width_integers() {
        let mut r = Reader::new(&[0x01, 0x02, 0x03, 0x01, 0x02, 0x03]);
        assert_eq!(r.uint_le(3).unwrap(), 0x030201);
        assert_eq!(r.uint_be(3).unwrap(), 0x010203);
    }
}
