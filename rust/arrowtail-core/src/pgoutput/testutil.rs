//! Test helpers: a tiny writer of pgoutput messages in their wire form, so tests spell out golden
//! bytes field by field.

/// Builds one message.
#[derive(Default, Clone)]
pub struct W(pub Vec<u8>);

impl W {
    pub fn new(tag: u8) -> Self {
        W(vec![tag])
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn i32(mut self, v: i32) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn str(mut self, s: &str) -> Self {
        self.0.extend(s.as_bytes());
        self.0.push(0);
        self
    }
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend(b);
        self
    }
    /// A TupleData: `None` = null, `Some("\u{0}u")` = unchanged, else text (or binary when the
    /// value starts with `b:`).
    pub fn tuple(mut self, cols: &[Option<&[u8]>]) -> Self {
        self.0.extend((cols.len() as u16).to_be_bytes());
        for c in cols {
            match c {
                None => self.0.push(b'n'),
                Some(b"\0u") => self.0.push(b'u'),
                Some(v) => {
                    let (kind, v) = match v.strip_prefix(b"b:") {
                        Some(rest) => (b'b', rest),
                        None => (b't', *v),
                    };
                    self.0.push(kind);
                    self.0.extend((v.len() as i32).to_be_bytes());
                    self.0.extend(v);
                }
            }
        }
        self
    }
}

/// Unchanged-TOAST marker for [`W::tuple`].
pub const U: Option<&[u8]> = Some(b"\0u");

/// A text value for [`W::tuple`].
pub fn t(s: &str) -> Option<&[u8]> {
    Some(s.as_bytes())
}

/// A Relation message of `public.<name>` with columns `id int4` (the key) and `note text`, and
/// `extra int8` too with `extra_col`.
pub fn relation(relid: u32, name: &str, extra_col: bool) -> Vec<u8> {
    let mut w = W::new(b'R').u32(relid).str("public").str(name).u8(b'd');
    w = w.u16(if extra_col { 3 } else { 2 });
    w = w
        .u8(1)
        .str("id")
        .u32(23)
        .i32(-1)
        .u8(0)
        .str("note")
        .u32(25)
        .i32(-1);
    if extra_col {
        w = w.u8(0).str("extra").u32(20).i32(-1);
    }
    w.0
}
