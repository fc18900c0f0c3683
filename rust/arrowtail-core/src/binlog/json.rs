//! MySQL binary JSON (`sql-common/json_binary.cc`, WL#8132) to JSON text, and the logical JSON
//! diffs of PARTIAL_UPDATE_ROWS events (WL#2955) applied to a before image.
//!
//! Values are read by offset from the start of their container, never sequentially, because a
//! partially updated document may contain unused gaps. Text output follows MySQL's own rendering
//! (`{"a": 1, "b": [true, null]}`), with object keys in storage order (sorted by length, then
//! bytes). Opaque DATE/TIME/DATETIME/DECIMAL values are rendered as MySQL renders them; other
//! opaque values as `"base64:type<N>:<data>"`.

use std::fmt::Write;

use crate::reader::Reader;
use crate::types::mysql::{code, decimal, temporal};

/// A decoded JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    String(String),
    /// An opaque value already rendered to its JSON text (a quoted string).
    Opaque(String),
    Array(Vec<JsonValue>),
    Object(Vec<(String, JsonValue)>),
}

const MAX_DEPTH: usize = 150;

fn sub(buf: &[u8], from: usize) -> Result<&[u8], String> {
    buf.get(from..)
        .ok_or_else(|| format!("JSON offset {from} beyond a {}-byte value", buf.len()))
}

fn le(buf: &[u8], at: usize, n: usize) -> Result<u64, String> {
    let b = buf
        .get(at..at + n)
        .ok_or_else(|| format!("JSON value truncated at offset {at}"))?;
    Ok(b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

/// Parses a whole binary JSON document (type byte then value). An empty document is JSON null.
pub fn parse(bytes: &[u8]) -> Result<JsonValue, String> {
    match bytes.split_first() {
        None => Ok(JsonValue::Null),
        Some((&t, rest)) => parse_value(t, rest, 0),
    }
}

fn parse_value(t: u8, data: &[u8], depth: usize) -> Result<JsonValue, String> {
    if depth > MAX_DEPTH {
        return Err("JSON nested too deeply".into());
    }
    Ok(match t {
        0x00 => parse_container(data, false, true, depth)?,
        0x01 => parse_container(data, true, true, depth)?,
        0x02 => parse_container(data, false, false, depth)?,
        0x03 => parse_container(data, true, false, depth)?,
        0x04 => literal(le(data, 0, 1)?)?,
        0x05 => JsonValue::Int(i64::from(le(data, 0, 2)? as u16 as i16)),
        0x06 => JsonValue::UInt(le(data, 0, 2)?),
        0x07 => JsonValue::Int(i64::from(le(data, 0, 4)? as u32 as i32)),
        0x08 => JsonValue::UInt(le(data, 0, 4)?),
        0x09 => JsonValue::Int(le(data, 0, 8)? as i64),
        0x0A => JsonValue::UInt(le(data, 0, 8)?),
        0x0B => JsonValue::Double(f64::from_bits(le(data, 0, 8)?)),
        0x0C => {
            let mut r = Reader::new(data);
            let len = varlen(&mut r)?;
            let s = r.take(len).map_err(|e| e.to_string())?;
            JsonValue::String(String::from_utf8_lossy(s).into_owned())
        }
        0x0F => {
            let mut r = Reader::new(data);
            let mysql_type = r.u8().map_err(|e| e.to_string())?;
            let len = varlen(&mut r)?;
            let d = r.take(len).map_err(|e| e.to_string())?;
            JsonValue::Opaque(opaque(mysql_type, d)?)
        }
        other => return Err(format!("unknown JSON value type {other:#04x}")),
    })
}

fn literal(v: u64) -> Result<JsonValue, String> {
    match v {
        0 => Ok(JsonValue::Null),
        1 => Ok(JsonValue::Bool(true)),
        2 => Ok(JsonValue::Bool(false)),
        other => Err(format!("unknown JSON literal {other}")),
    }
}

/// Variable-length length: 7 bits per byte, least significant first, high bit = more.
fn varlen(r: &mut Reader<'_>) -> Result<usize, String> {
    let mut v: usize = 0;
    for i in 0..5 {
        let b = r.u8().map_err(|e| e.to_string())?;
        v |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("JSON string length longer than 5 bytes".into())
}

fn parse_container(
    data: &[u8],
    large: bool,
    object: bool,
    depth: usize,
) -> Result<JsonValue, String> {
    let w = if large { 4 } else { 2 };
    let count = le(data, 0, w)? as usize;
    let size = le(data, w, w)? as usize;
    if size > data.len() {
        return Err(format!(
            "JSON container of {size} bytes in {} bytes",
            data.len()
        ));
    }
    let data = &data[..size];
    let key_entry = if object { w + 2 } else { 0 };
    let value_entry = 1 + w;
    let header = 2 * w + count.saturating_mul(key_entry + value_entry);
    if header > size {
        return Err(format!(
            "JSON container header of {count} entries exceeds its size"
        ));
    }
    let values_at = 2 * w + count * key_entry;
    let mut keys = Vec::with_capacity(if object { count } else { 0 });
    for i in 0..if object { count } else { 0 } {
        let at = 2 * w + i * key_entry;
        let off = le(data, at, w)? as usize;
        let len = le(data, at + w, 2)? as usize;
        let k = data
            .get(off..off + len)
            .ok_or_else(|| format!("JSON key at offset {off} out of bounds"))?;
        keys.push(String::from_utf8_lossy(k).into_owned());
    }
    let mut values = Vec::with_capacity(count);
    for i in 0..count {
        let at = values_at + i * value_entry;
        let t = le(data, at, 1)? as u8;
        let inlined = matches!(t, 0x04..=0x06) || (large && matches!(t, 0x07 | 0x08));
        let v = if inlined {
            let raw = &data[at + 1..at + 1 + w];
            parse_value(t, raw, depth + 1)?
        } else {
            let off = le(data, at + 1, w)? as usize;
            parse_value(t, sub(data, off)?, depth + 1)?
        };
        values.push(v);
    }
    Ok(if object {
        JsonValue::Object(keys.into_iter().zip(values).collect())
    } else {
        JsonValue::Array(values)
    })
}

/// Renders an opaque value (a MySQL type code and its storage) as quoted JSON text.
fn opaque(mysql_type: u8, d: &[u8]) -> Result<String, String> {
    let mut s = String::from("\"");
    match mysql_type {
        code::DATE | code::DATETIME | code::TIMESTAMP if d.len() >= 8 => {
            let (y, mo, da, h, mi, se, us) = temporal::unpack_datetime(le(d, 0, 8)? as i64);
            let _ = write!(s, "{y:04}-{mo:02}-{da:02}");
            if mysql_type != code::DATE {
                let _ = write!(s, " {h:02}:{mi:02}:{se:02}");
                if us != 0 {
                    let _ = write!(s, ".{us:06}");
                }
            }
        }
        code::TIME if d.len() >= 8 => {
            let us = temporal::packed_time_micros(le(d, 0, 8)? as i64);
            let a = us.unsigned_abs();
            let secs = a / 1_000_000;
            let sign = if us < 0 { "-" } else { "" };
            let _ = write!(
                s,
                "{sign}{:02}:{:02}:{:02}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
            if a % 1_000_000 != 0 {
                let _ = write!(s, ".{:06}", a % 1_000_000);
            }
        }
        code::NEWDECIMAL if d.len() >= 2 => {
            let mut t = String::new();
            decimal::to_text(&d[2..], d[0], d[1], &mut t)?;
            // MySQL renders a JSON decimal as a number, not a string.
            return Ok(t);
        }
        _ => {
            let _ = write!(s, "base64:type{mysql_type}:");
            base64(d, &mut s);
        }
    }
    s.push('"');
    Ok(s)
}

fn base64(d: &[u8], out: &mut String) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for c in d.chunks(3) {
        let n = c.len();
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(char::from(A[((v >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
}

/// Writes a value as MySQL-style JSON text.
pub fn write_text(v: &JsonValue, out: &mut String) {
    match v {
        JsonValue::Null => out.push_str("null"),
        JsonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JsonValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        JsonValue::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        JsonValue::Double(d) => {
            if d.is_finite() {
                let _ = write!(out, "{d:?}");
            } else {
                out.push_str("null");
            }
        }
        JsonValue::String(s) => quote(s, out),
        JsonValue::Opaque(s) => out.push_str(s),
        JsonValue::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_text(x, out);
            }
            out.push(']');
        }
        JsonValue::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quote(k, out);
                out.push_str(": ");
                write_text(x, out);
            }
            out.push('}');
        }
    }
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Converts a binary JSON document to text in `out` (cleared first).
pub fn to_text(bytes: &[u8], out: &mut String) -> Result<(), String> {
    let v = parse(bytes)?;
    out.clear();
    write_text(&v, out);
    Ok(())
}

pub use super::json_diff::apply_diffs;
