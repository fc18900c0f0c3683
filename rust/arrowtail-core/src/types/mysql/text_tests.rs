//! Each type family: the text a `SELECT` returns and the binlog's stored bytes of the same value
//! give the same Arrow type and value.

use arrow_array::{Array, ArrayRef};

use super::*;
use crate::reader::Reader;
use crate::types::mysql::value::decode;

fn col(data_type: &str, column_type: &str, p: Option<u32>, s: Option<u32>) -> TextColumn {
    TextColumn {
        name: "c".into(),
        data_type: data_type.into(),
        column_type: column_type.into(),
        precision: p,
        scale: s,
        charset: None,
    }
}

fn from_text(tc: &TextCodec, values: &[Option<&[u8]>]) -> (ArrayRef, Scratch) {
    let mut b = ColumnBuilder::new(&tc.codec.arrow_type()).unwrap();
    let mut scratch = Scratch::default();
    for v in values {
        match v {
            Some(v) => append(tc, v, &mut b, &mut scratch).unwrap(),
            None => b.append_null(),
        }
    }
    (b.finish().unwrap(), scratch)
}

/// Values decoded from binlog row bytes with `codec` (the one a TABLE_MAP gives the column).
fn from_binlog(codec: &Codec, values: &[Option<&[u8]>]) -> ArrayRef {
    let mut b = ColumnBuilder::new(&codec.arrow_type()).unwrap();
    let mut scratch = Scratch::default();
    for v in values {
        match v {
            Some(v) => {
                let mut r = Reader::new(v);
                decode(codec, &mut r, &mut b, &mut scratch).unwrap();
                assert!(r.is_empty());
            }
            None => b.append_null(),
        }
    }
    b.finish().unwrap()
}

/// Asserts that text values through `column` equal binlog values through `binlog`.
fn same(column: TextColumn, binlog: Codec, text: &[Option<&[u8]>], stored: &[Option<&[u8]>]) {
    let tc = column.resolve();
    assert_eq!(tc.codec.arrow_type(), binlog.arrow_type(), "{column:?}");
    let (a, _) = from_text(&tc, text);
    let b = from_binlog(&binlog, stored);
    assert_eq!(a.to_data(), b.to_data(), "{column:?}: {a:?} vs {b:?}");
}

#[test]
fn integers() {
    let i32_neg = (-8_388_608i32).to_le_bytes();
    same(
        col("mediumint", "mediumint(9)", Some(7), Some(0)),
        Codec::Int {
            bytes: 3,
            unsigned: false,
        },
        &[Some(b"-8388608"), None],
        &[Some(&i32_neg[..3]), None],
    );
    let u64_max = u64::MAX.to_le_bytes();
    same(
        col("bigint", "bigint(20) unsigned", Some(20), Some(0)),
        Codec::Int {
            bytes: 8,
            unsigned: true,
        },
        &[Some(b"18446744073709551615")],
        &[Some(&u64_max)],
    );
    let tc = col("tinyint", "tinyint(4)", None, None).resolve();
    let mut b = ColumnBuilder::new(&tc.codec.arrow_type()).unwrap();
    assert!(append(&tc, b"300", &mut b, &mut Scratch::default()).is_err());
}

#[test]
fn floats() {
    same(
        col("float", "float", Some(12), None),
        Codec::Float,
        &[Some(b"-1.5")],
        &[Some(&(-1.5f32).to_le_bytes())],
    );
    same(
        col("double", "double", Some(22), None),
        Codec::Double,
        &[Some(b"1e300")],
        &[Some(&1e300f64.to_le_bytes())],
    );
}

#[test]
fn decimals() {
    // DECIMAL(14,4) 1234567890.1234 and its negation, stored as in decimal2bin.
    let pos = [0x81u8, 0x0D, 0xFB, 0x38, 0xD2, 0x04, 0xD2];
    let neg: Vec<u8> = pos.iter().map(|x| !x).collect();
    same(
        col("decimal", "decimal(14,4)", Some(14), Some(4)),
        Codec::Decimal {
            precision: 14,
            scale: 4,
        },
        &[Some(b"1234567890.1234"), Some(b"-1234567890.1234")],
        &[Some(&pos), Some(&neg)],
    );
    // Above 38 digits the text stays as the server writes it.
    let tc = col("decimal", "decimal(50,20)", Some(50), Some(20)).resolve();
    let (a, _) = from_text(&tc, &[Some(b"-0.00001000000000000000")]);
    let a = a
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(a.value(0), "-0.00001000000000000000");
    assert_eq!(decimal_i128("12.5", 2).unwrap(), 1250);
    assert!(decimal_i128("1.234", 2).is_err());
    assert!(decimal_i128("x", 2).is_err());
}

#[test]
fn dates_and_times() {
    // DATE 2024-02-29: day | month << 5 | year << 9, and the zero date.
    let d = (29u32 | 2 << 5 | 2024 << 9).to_le_bytes();
    same(
        col("date", "date", None, None),
        Codec::Date,
        &[Some(b"2024-02-29"), Some(b"0000-00-00")],
        &[Some(&d[..3]), Some(&[0, 0, 0])],
    );
    // DATETIME(6) 2024-01-02 03:04:05.000006 as DATETIME2: the packed form, 5 + 3 bytes.
    let ym = 2024u64 * 13 + 1;
    let int = (1u64 << 39) | (ym << 22) | (2 << 17) | (3 << 12) | (4 << 6) | 5;
    let mut dt = int.to_be_bytes()[3..].to_vec();
    dt.extend_from_slice(&6u32.to_be_bytes()[1..]);
    same(
        col("datetime", "datetime(6)", None, None),
        Codec::DateTime2 { fsp: 6 },
        &[Some(b"2024-01-02 03:04:05.000006")],
        &[Some(&dt)],
    );
    // TIMESTAMP(0): seconds since the epoch; the zero value is null.
    same(
        col("timestamp", "timestamp", None, None),
        Codec::Timestamp2 { fsp: 0 },
        &[Some(b"1970-01-02 00:00:01"), Some(b"0000-00-00 00:00:00")],
        &[Some(&86_401u32.to_be_bytes()), Some(&[0, 0, 0, 0])],
    );
    // TIME(0) -838:59:59 and 01:00:00 (TIME2: 0x800000 offset, big-endian).
    let t = |v: i64| ((v + 0x80_0000) as u32).to_be_bytes()[1..].to_vec();
    let hms = |h: i64, m: i64, s: i64| (h << 12) | (m << 6) | s;
    let (lo, one) = (t(-hms(838, 59, 59)), t(hms(1, 0, 0)));
    same(
        col("time", "time", None, None),
        Codec::Time2 { fsp: 0 },
        &[Some(b"-838:59:59"), Some(b"01:00:00")],
        &[Some(&lo), Some(&one)],
    );
    same(
        col("year", "year(4)", None, None),
        Codec::Year,
        &[Some(b"2155"), Some(b"0000")],
        &[Some(&[255]), Some(&[0])],
    );
    let tc = col("time", "time(6)", None, None).resolve();
    let (a, _) = from_text(&tc, &[Some(b"-00:59:59.5")]);
    let a = a
        .as_any()
        .downcast_ref::<arrow_array::DurationMicrosecondArray>()
        .unwrap();
    assert_eq!(a.value(0), -3_599_500_000);
    let tc = col("datetime", "datetime", None, None).resolve();
    let (_, scratch) = from_text(&tc, &[Some(b"0000-00-00 00:00:00")]);
    assert_eq!(scratch.stats.invalid_temporal, 1);
}

#[test]
fn text_and_bytes() {
    let mut c = col("varchar", "varchar(30)", None, None);
    c.charset = Some("utf8mb4".into());
    same(
        c,
        Codec::String {
            len_bytes: 1,
            charset: Some(Charset::Utf8),
            pad_to: None,
        },
        &[Some("héllo".as_bytes())],
        &[Some(b"\x06h\xc3\xa9llo")],
    );
    // BINARY(4): the binlog leaves out trailing zeros, the SELECT returns them.
    same(
        col("binary", "binary(4)", None, None),
        Codec::String {
            len_bytes: 1,
            charset: Some(Charset::Binary),
            pad_to: Some(4),
        },
        &[Some(b"a\0\0\0")],
        &[Some(b"\x01a")],
    );
    same(
        col("longblob", "longblob", None, None),
        Codec::Blob {
            len_bytes: 4,
            charset: Some(Charset::Binary),
        },
        &[Some(b"\xff\x00")],
        &[Some(b"\x02\0\0\0\xff\x00")],
    );
    // MariaDB's JSON is LONGTEXT.
    let mut j = col("longtext", "longtext", None, None);
    j.charset = Some("utf8mb4".into());
    same(
        j,
        Codec::Blob {
            len_bytes: 4,
            charset: Some(Charset::Utf8),
        },
        &[Some(br#"{"a": [1, 2]}"#)],
        &[Some(b"\x0d\0\0\0{\"a\": [1, 2]}")],
    );
    same(
        col("point", "point", None, None),
        Codec::Geometry { len_bytes: 4 },
        &[Some(b"\0\0\0\0\x01")],
        &[Some(b"\x05\0\0\0\0\0\0\0\x01")],
    );
}

#[test]
fn labels_and_bits() {
    let labels: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
    same(
        col("enum", "enum('x','y','z')", None, None),
        Codec::Enum {
            bytes: 1,
            labels: labels.clone(),
        },
        &[Some(b"y"), Some(b"")],
        &[Some(&[2]), Some(&[0])],
    );
    same(
        col("set", "set('x','y','z')", None, None),
        Codec::Set { bytes: 1, labels },
        &[Some(b"x,z"), Some(b""), None],
        &[Some(&[0b101]), Some(&[0]), None],
    );
    same(
        col("bit", "bit(9)", Some(9), None),
        Codec::Bit { bytes: 2 },
        &[Some(b"\x01\x02")],
        &[Some(b"\x01\x02")],
    );
}

#[test]
fn mariadb_uuid_and_inet() {
    let stored = Codec::String {
        len_bytes: 1,
        charset: Some(Charset::Binary),
        pad_to: Some(16),
    };
    let mut uuid = vec![16u8];
    uuid.extend_from_slice(&[
        0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40,
        0x00,
    ]);
    same(
        col("uuid", "uuid", None, None),
        stored.clone(),
        &[Some(b"123e4567-e89b-12d3-a456-426614174000")],
        &[Some(&uuid)],
    );
    let mut inet = vec![16u8];
    inet.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    same(
        col("inet6", "inet6", None, None),
        stored,
        &[Some(b"2001:db8::1")],
        &[Some(&inet)],
    );
    same(
        col("inet4", "inet4", None, None),
        Codec::String {
            len_bytes: 1,
            charset: Some(Charset::Binary),
            pad_to: Some(4),
        },
        &[Some(b"10.0.0.1")],
        &[Some(&[4, 10, 0, 0, 1])],
    );
    let tc = col("uuid", "uuid", None, None).resolve();
    let mut b = ColumnBuilder::new(&tc.codec.arrow_type()).unwrap();
    assert!(append(&tc, b"not-a-uuid", &mut b, &mut Scratch::default()).is_err());
}
