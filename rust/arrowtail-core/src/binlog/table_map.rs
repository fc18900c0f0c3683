//! TABLE_MAP events (MySQL `Table_map_log_event`): table id, database and table name, column
//! types and metadata, nullability, and the optional metadata TLVs of `binlog_row_metadata`
//! (signedness, charsets, names, ENUM/SET labels, geometry types, primary key, visibility).

use crate::reader::{Reader, Short};
use crate::types::mysql::charset::{decode_into, Charset};
use crate::types::mysql::{self, is_numeric, metadata_len, ColumnInfo};

use super::packed_uint;

/// A decoded TABLE_MAP.
#[derive(Debug, Clone, Default)]
pub struct TableMap {
    pub table_id: u64,
    pub database: String,
    pub table: String,
    pub columns: Vec<ColumnInfo>,
    /// Column names (COLUMN_NAME metadata); empty when the server did not send them.
    pub names: Vec<String>,
    /// Primary key column indexes (SIMPLE_PRIMARY_KEY or PRIMARY_KEY_WITH_PREFIX).
    pub primary_key: Vec<usize>,
    /// Whether SIGNEDNESS metadata was present.
    pub has_signedness: bool,
    /// Column visibility (COLUMN_VISIBILITY); empty when absent.
    pub visible: Vec<bool>,
    /// Geometry subtype per geometry column (GEOMETRY_TYPE).
    pub geometry_types: Vec<u64>,
}

fn bits_msb_first(data: &[u8], n: usize) -> Vec<bool> {
    (0..n)
        .map(|i| data.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0))
        .collect()
}

fn lenenc_str(r: &mut Reader<'_>) -> Result<String, Short> {
    let n = packed_uint(r)? as usize;
    Ok(String::from_utf8_lossy(r.take(n)?).into_owned())
}

/// ENUM/SET label lists as bytes: they are in the column's character set, which metadata later
/// in the event gives.
fn byte_lists<'a>(r: &mut Reader<'a>) -> Result<Vec<Vec<&'a [u8]>>, Short> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let n = packed_uint(r)? as usize;
        let mut vals = Vec::with_capacity(n.min(r.remaining()));
        for _ in 0..n {
            let len = packed_uint(r)? as usize;
            vals.push(r.take(len)?);
        }
        out.push(vals);
    }
    Ok(out)
}

/// Labels decoded in the collation the ENUM_AND_SET charset metadata gave the column (UTF-8
/// when it gave none).
fn decode_labels(raw: &[&[u8]], collation: Option<u64>) -> Vec<String> {
    let charset = collation.map_or(Charset::Utf8, Charset::from_collation);
    let mut text = String::new();
    raw.iter()
        .map(|b| {
            decode_into(charset, b, &mut text);
            text.clone()
        })
        .collect()
}

/// Applies DEFAULT_CHARSET-style metadata: a default collation then (index, collation) pairs
/// where `index` counts only the columns selected by `pick`.
fn default_charset(
    r: &mut Reader<'_>,
    cols: &mut [ColumnInfo],
    pick: fn(&ColumnInfo) -> bool,
) -> Result<(), Short> {
    let default = packed_uint(r)?;
    let mut overrides = Vec::new();
    while !r.is_empty() {
        overrides.push((packed_uint(r)? as usize, packed_uint(r)?));
    }
    for (k, c) in cols.iter_mut().filter(|c| pick(c)).enumerate() {
        c.collation = Some(
            overrides
                .iter()
                .find(|(i, _)| *i == k)
                .map_or(default, |&(_, coll)| coll),
        );
    }
    Ok(())
}

fn column_charset(
    r: &mut Reader<'_>,
    cols: &mut [ColumnInfo],
    pick: fn(&ColumnInfo) -> bool,
) -> Result<(), Short> {
    for c in cols.iter_mut().filter(|c| pick(c)) {
        if r.is_empty() {
            break;
        }
        c.collation = Some(packed_uint(r)?);
    }
    Ok(())
}

impl TableMap {
    /// Parses a TABLE_MAP body (after the common header). `post_len` is its post-header length
    /// (6 means a 4-byte table id, as written by MySQL 5.1.x before GA).
    pub fn parse(body: &[u8], post_len: usize) -> Result<Self, String> {
        let e = |s: Short| s.to_string();
        let mut r = Reader::new(body);
        let table_id = if post_len == 6 {
            u64::from(r.u32_le().map_err(e)?)
        } else {
            r.uint_le(6).map_err(e)?
        };
        r.skip(2 + post_len.saturating_sub(8)).map_err(e)?;
        let dlen = usize::from(r.u8().map_err(e)?);
        let database = String::from_utf8_lossy(r.take(dlen).map_err(e)?).into_owned();
        r.skip(1).map_err(e)?;
        let tlen = usize::from(r.u8().map_err(e)?);
        let table = String::from_utf8_lossy(r.take(tlen).map_err(e)?).into_owned();
        r.skip(1).map_err(e)?;
        let n = packed_uint(&mut r).map_err(e)? as usize;
        if n > r.remaining() {
            return Err(format!("{n} columns in a {}-byte event", body.len()));
        }
        let types = r.take(n).map_err(e)?;
        let meta_len = packed_uint(&mut r).map_err(e)? as usize;
        let mut m = Reader::new(r.take(meta_len).map_err(e)?);
        let mut columns = Vec::with_capacity(n);
        for &t in types {
            let len = if t == mysql::code::TYPED_ARRAY {
                // Multi-valued index columns: the element type byte, then its metadata.
                let inner = m.u8().map_err(e)?;
                metadata_len(inner).ok_or_else(|| format!("typed array of type {inner}"))?
            } else {
                metadata_len(t).ok_or_else(|| format!("unknown column type {t}"))?
            };
            let raw = m.take(len).map_err(e)?;
            let mut meta = [0u8; 2];
            meta[..len].copy_from_slice(raw);
            columns.push(ColumnInfo {
                type_code: t,
                meta,
                ..Default::default()
            });
        }
        r.skip(n.div_ceil(8)).map_err(e)?; // null bitmap
        let mut tm = TableMap {
            table_id,
            database,
            table,
            columns,
            ..Default::default()
        };
        // Optional metadata TLVs (MySQL 8.0.1+, MariaDB 10.5+).
        let mut labels = Vec::new();
        while !r.is_empty() {
            let t = r.u8().map_err(e)?;
            let len = packed_uint(&mut r).map_err(e)? as usize;
            let mut v = Reader::new(r.take(len).map_err(e)?);
            if t == 5 || t == 6 {
                labels.push((t, byte_lists(&mut v).map_err(e)?));
            } else {
                tm.apply_optional(t, &mut v).map_err(e)?;
            }
        }
        for (t, lists) in labels {
            let want = if t == 5 {
                mysql::code::SET
            } else {
                mysql::code::ENUM
            };
            let cols = tm.columns.iter_mut().filter(|c| c.real_type() == want);
            for (c, raw) in cols.zip(lists) {
                let l = decode_labels(&raw, c.collation);
                if t == 5 {
                    c.set_values = Some(l);
                } else {
                    c.enum_values = Some(l);
                }
            }
        }
        Ok(tm)
    }

    fn apply_optional(&mut self, t: u8, v: &mut Reader<'_>) -> Result<(), Short> {
        let cols = &mut self.columns;
        match t {
            1 => {
                let numeric = cols.iter().filter(|c| is_numeric(c.real_type())).count();
                let bits = bits_msb_first(v.take_rest(), numeric);
                for (c, u) in cols
                    .iter_mut()
                    .filter(|c| is_numeric(c.real_type()))
                    .zip(bits)
                {
                    c.unsigned = Some(u);
                }
                self.has_signedness = true;
            }
            2 => default_charset(v, cols, ColumnInfo::is_character)?,
            3 => column_charset(v, cols, ColumnInfo::is_character)?,
            4 => {
                while !v.is_empty() {
                    self.names.push(lenenc_str(v)?);
                }
            }
            7 => {
                while !v.is_empty() {
                    self.geometry_types.push(packed_uint(v)?);
                }
            }
            8 => {
                while !v.is_empty() {
                    self.primary_key.push(packed_uint(v)? as usize);
                }
            }
            9 => {
                while !v.is_empty() {
                    self.primary_key.push(packed_uint(v)? as usize);
                    packed_uint(v)?; // prefix length
                }
            }
            10 => default_charset(v, cols, ColumnInfo::is_enum_or_set)?,
            11 => column_charset(v, cols, ColumnInfo::is_enum_or_set)?,
            12 => self.visible = bits_msb_first(v.take_rest(), cols.len()),
            // Unknown metadata types are skipped: the length says how far.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_map_with_names_and_signedness() {
        let mut b = vec![42, 0, 0, 0, 0, 0, 1, 0];
        b.extend_from_slice(&[2, b'd', b'b', 0, 1, b't', 0]);
        b.extend_from_slice(&[2, mysql::code::LONG, mysql::code::VARCHAR]);
        b.extend_from_slice(&[2, 0x2c, 0x01]); // VARCHAR(300)
        b.push(0b10); // nullable bitmap
        b.extend_from_slice(&[1, 1, 0x80]); // signedness: the INT is unsigned
        b.extend_from_slice(&[2, 1, 255]); // default charset utf8mb4
        b.extend_from_slice(&[4, 6, 2, b'i', b'd', 2, b'v', b'c']);
        b.extend_from_slice(&[8, 1, 0]);
        let tm = TableMap::parse(&b, 8).unwrap();
        assert_eq!(tm.table_id, 42);
        assert_eq!((tm.database.as_str(), tm.table.as_str()), ("db", "t"));
        assert_eq!(tm.names, vec!["id", "vc"]);
        assert_eq!(tm.primary_key, vec![0]);
        assert_eq!(tm.columns[0].unsigned, Some(true));
        assert_eq!(tm.columns[1].collation, Some(255));
        assert!(TableMap::parse(&b[..20], 8).is_err());
    }

    #[test]
    fn geometry_takes_its_place_in_the_column_charsets() {
        // GEOMETRY, VARCHAR(100), BLOB with COLUMN_CHARSET binary, utf8mb4, binary: the server
        // lists GEOMETRY's collation too, so the VARCHAR is text and the BLOB binary.
        let mut b = vec![7, 0, 0, 0, 0, 0, 1, 0];
        b.extend_from_slice(&[2, b'd', b'b', 0, 1, b't', 0]);
        b.extend_from_slice(&[
            3,
            mysql::code::GEOMETRY,
            mysql::code::VARCHAR,
            mysql::code::BLOB,
        ]);
        b.extend_from_slice(&[4, 4, 100, 0, 2]); // geometry and blob: 4 and 2 length bytes
        b.push(0b111);
        b.extend_from_slice(&[3, 3, 63, 45, 63]); // COLUMN_CHARSET
        let tm = TableMap::parse(&b, 8).unwrap();
        let got: Vec<_> = tm.columns.iter().map(|c| c.collation).collect();
        assert_eq!(got, vec![Some(63), Some(45), Some(63)]);
    }
    #[test]
    fn enum_and_set_labels_are_read_in_their_column_charset() {
        // ENUM('é','ü') in latin1 and SET('ä','ö') in ucs2: the label metadata comes before the
        // ENUM_AND_SET_COLUMN_CHARSET that says how to read it.
        let mut b = vec![9, 0, 0, 0, 0, 0, 1, 0];
        b.extend_from_slice(&[2, b'd', b'b', 0, 1, b't', 0]);
        b.extend_from_slice(&[2, mysql::code::STRING, mysql::code::STRING]);
        b.extend_from_slice(&[4, mysql::code::ENUM, 1, mysql::code::SET, 1]);
        b.push(0b11);
        b.extend_from_slice(&[5, 7, 2, 2, 0x00, 0xe4, 2, 0x00, 0xf6]); // SET_STR_VALUE
        b.extend_from_slice(&[6, 5, 2, 1, 0xe9, 1, 0xfc]); // ENUM_STR_VALUE
        b.extend_from_slice(&[11, 2, 8, 35]); // ENUM_AND_SET_COLUMN_CHARSET: latin1, ucs2
        let tm = TableMap::parse(&b, 8).unwrap();
        assert_eq!(
            tm.columns[0].enum_values,
            Some(vec!["é".into(), "ü".into()])
        );
        assert_eq!(tm.columns[1].set_values, Some(vec!["ä".into(), "ö".into()]));
    }
}
