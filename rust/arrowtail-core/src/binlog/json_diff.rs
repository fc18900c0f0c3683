//! Logical JSON diffs of PARTIAL_UPDATE_ROWS events (MySQL WL#2955, `Json_diff`): a sequence of
//! (operation, path, value) applied in order to the before image. Operations: 0 REPLACE, 1 INSERT,
//! 2 REMOVE; paths are normalised MySQL JSON paths (`$.a`, `$."b c"`, `$[3]`).

use crate::reader::Reader;

use super::json::{parse, JsonValue};
use super::packed_uint;

#[derive(Debug, Clone, PartialEq)]
enum Leg {
    Key(String),
    Index(usize),
    Last,
}

fn parse_path(p: &str) -> Result<Vec<Leg>, String> {
    let bad = || format!("unsupported JSON diff path {p:?}");
    let rest = p.strip_prefix('$').ok_or_else(bad)?;
    let b = rest.as_bytes();
    let mut legs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    let mut key = String::new();
                    i += 1;
                    loop {
                        match b.get(i) {
                            None => return Err(bad()),
                            Some(b'"') => break,
                            Some(b'\\') => {
                                let c = rest.get(i + 1..).and_then(|t| t.chars().next());
                                let c = c.ok_or_else(bad)?;
                                key.push(c);
                                i += 1 + c.len_utf8();
                            }
                            Some(_) => {
                                let s = &rest[i..];
                                let c = s.chars().next().ok_or_else(bad)?;
                                key.push(c);
                                i += c.len_utf8();
                            }
                        }
                    }
                    i += 1;
                    legs.push(Leg::Key(key));
                } else {
                    let start = i;
                    while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                        i += 1;
                    }
                    legs.push(Leg::Key(rest[start..i].to_string()));
                }
            }
            b'[' => {
                let end = rest[i..].find(']').ok_or_else(bad)? + i;
                let inner = rest[i + 1..end].trim();
                legs.push(if inner == "last" {
                    Leg::Last
                } else {
                    Leg::Index(inner.parse().map_err(|_| bad())?)
                });
                i = end + 1;
            }
            b' ' => i += 1,
            _ => return Err(bad()),
        }
    }
    Ok(legs)
}

/// Key order of MySQL objects: by length, then bytes.
fn key_less(a: &str, b: &str) -> bool {
    (a.len(), a.as_bytes()) < (b.len(), b.as_bytes())
}

fn navigate<'v>(root: &'v mut JsonValue, legs: &[Leg]) -> Option<&'v mut JsonValue> {
    let mut cur = root;
    for leg in legs {
        cur = match (cur, leg) {
            (JsonValue::Object(o), Leg::Key(k)) => {
                o.iter_mut().find(|(x, _)| x == k).map(|e| &mut e.1)?
            }
            (JsonValue::Array(a), Leg::Index(i)) => a.get_mut(*i)?,
            (JsonValue::Array(a), Leg::Last) => a.last_mut()?,
            // MySQL auto-wraps a scalar as a one-element array for [0].
            (v, Leg::Index(0) | Leg::Last) => v,
            _ => return None,
        };
    }
    Some(cur)
}

fn apply_one(
    root: &mut JsonValue,
    op: u8,
    legs: &[Leg],
    value: Option<JsonValue>,
) -> Result<(), String> {
    let Some((last, parent_legs)) = legs.split_last() else {
        // The path `$`: only REPLACE of the whole document makes sense.
        return match (op, value) {
            (0, Some(v)) => {
                *root = v;
                Ok(())
            }
            _ => Err("JSON diff on the document root".into()),
        };
    };
    let parent =
        navigate(root, parent_legs).ok_or("JSON diff path not found in the before image")?;
    match (op, parent, last) {
        (0 | 1, JsonValue::Object(o), Leg::Key(k)) => {
            let v = value.ok_or("JSON diff without a value")?;
            match o.iter_mut().find(|(x, _)| x == k) {
                Some(e) => e.1 = v,
                None => {
                    let at = o
                        .iter()
                        .position(|(x, _)| key_less(k, x))
                        .unwrap_or(o.len());
                    o.insert(at, (k.clone(), v));
                }
            }
        }
        (0, JsonValue::Array(a), Leg::Index(_) | Leg::Last) => {
            let v = value.ok_or("JSON diff without a value")?;
            let i = match last {
                Leg::Index(i) => *i,
                _ => a.len().saturating_sub(1),
            };
            *a.get_mut(i)
                .ok_or("JSON diff REPLACE past the end of an array")? = v;
        }
        (1, JsonValue::Array(a), Leg::Index(_) | Leg::Last) => {
            let v = value.ok_or("JSON diff without a value")?;
            let i = match last {
                Leg::Index(i) => (*i).min(a.len()),
                _ => a.len(),
            };
            a.insert(i, v);
        }
        (2, JsonValue::Object(o), Leg::Key(k)) => o.retain(|(x, _)| x != k),
        (2, JsonValue::Array(a), Leg::Index(i)) if *i < a.len() => {
            a.remove(*i);
        }
        (2, JsonValue::Array(a), Leg::Last) => {
            a.pop();
        }
        _ => {
            return Err(format!(
                "JSON diff operation {op} does not fit the before image"
            ))
        }
    }
    Ok(())
}

/// Applies the diffs in `diffs` to the document `doc` and returns the result.
pub fn apply_diffs(mut doc: JsonValue, diffs: &[u8]) -> Result<JsonValue, String> {
    let mut r = Reader::new(diffs);
    let e = |s: crate::reader::Short| s.to_string();
    while !r.is_empty() {
        let op = r.u8().map_err(e)?;
        if op > 2 {
            return Err(format!("unknown JSON diff operation {op}"));
        }
        let plen = usize::try_from(packed_uint(&mut r).map_err(e)?).map_err(|_| "path length")?;
        let path = String::from_utf8_lossy(r.take(plen).map_err(e)?).into_owned();
        let value = if op == 2 {
            None
        } else {
            let vlen =
                usize::try_from(packed_uint(&mut r).map_err(e)?).map_err(|_| "value length")?;
            Some(parse(r.take(vlen).map_err(e)?)?)
        };
        apply_one(&mut doc, op, &parse_path(&path)?, value)?;
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::json::write_text;

    #[test]
    fn replace_insert_remove() {
        // {"a": 1} as a small object.
        let before = [0x00, 1, 0, 12, 0, 11, 0, 1, 0, 0x05, 1, 0, b'a'];
        let mut text = String::new();
        write_text(&parse(&before).unwrap(), &mut text);
        assert_eq!(text, "{\"a\": 1}");
        // REPLACE $.a with true, INSERT $.bb = 2, then REMOVE $.a.
        let diffs = [
            0, 3, b'$', b'.', b'a', 2, 0x04, 0x01, //
            1, 4, b'$', b'.', b'b', b'b', 3, 0x05, 2, 0, //
            2, 3, b'$', b'.', b'a',
        ];
        let v = apply_diffs(parse(&before).unwrap(), &diffs).unwrap();
        text.clear();
        write_text(&v, &mut text);
        assert_eq!(text, "{\"bb\": 2}");
    }

    #[test]
    fn random_bytes_never_panic() {
        // A fixed linear congruential sequence: reproducible garbage for parser and diffs.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) as u8
        };
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len % 64).map(|_| next()).collect();
            let _ = parse(&bytes);
            let mut diff = vec![next() % 3, 3, b'$', b'.', b'a'];
            diff.extend(bytes.iter().take(len % 7));
            let _ = apply_diffs(
                JsonValue::Object(vec![("a".into(), JsonValue::Null)]),
                &diff,
            );
            let text: String = bytes.iter().map(|&b| char::from(b)).collect();
            let _ = parse_path(&text);
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("$.\"a b\"[2].c").unwrap(),
            vec![Leg::Key("a b".into()), Leg::Index(2), Leg::Key("c".into())]
        );
        assert!(parse_path("x").is_err());
        assert_eq!(parse_path("$.\"\\é\"").unwrap(), vec![Leg::Key("é".into())]);
        assert!(parse_path("$.\"\\").is_err());
    }
}
