//! One-dimensional arrays: the text form (`{1,NULL,"a \"b\""}`, PostgreSQL docs "Arrays: Array
//! Value Input") and the binary send format (`array_send`: Int32 ndim, Int32 has-nulls flag,
//! UInt32 element OID, per dimension Int32 length and Int32 lower bound, then per element an Int32
//! length, -1 for NULL, and the element's binary form).
//!
//! Arrays map to `list<element>`. A column type cannot change from row to row, and PostgreSQL does
//! not fix the number of dimensions of an array column, so values that do not fit a flat list —
//! more than one dimension, or a lower bound other than 1 (`[0:2]={...}`) — are rejected with an
//! error naming the column rather than flattened (which would lose their shape silently).

use std::borrow::Cow;

use crate::reader::Reader;

type R<T> = Result<T, String>;

/// What a user can do about a value that does not fit a list.
macro_rules! way_on {
    () => {
        "leave the column out of the publication (a column list, PostgreSQL 15 and newer) or the \
table out of the capture"
    };
}

const MULTI_DIM: &str = concat!(
    "multi-dimensional array values cannot be stored in a list column; ",
    way_on!()
);

/// Splits an array's text form into its elements (`None` for NULL), unescaping quoted ones.
pub fn split_text(s: &str) -> R<Vec<Option<Cow<'_, str>>>> {
    if s.starts_with('[') {
        return Err(format!(
            "array {s:?} has explicit bounds; only 1-based one-dimensional arrays map to a list; {}",
            way_on!()
        ));
    }
    let inner = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .ok_or_else(|| format!("bad array text {s:?}"))?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Ok(out);
    }
    let b = inner.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        match b.get(i) {
            Some(b'{') => return Err(MULTI_DIM.into()),
            Some(b'"') => {
                let mut val = String::new();
                i += 1;
                let mut start = i;
                loop {
                    match b.get(i) {
                        None => return Err(format!("unterminated quote in array {s:?}")),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            val.push_str(&inner[start..i]);
                            // The escaped character is pushed as part of the next run.
                            start = i + 1;
                            i += 2;
                        }
                        Some(_) => i += 1,
                    }
                }
                val.push_str(inner.get(start..i).ok_or("bad escape in array")?);
                out.push(Some(Cow::Owned(val)));
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                let tok = inner[start..i].trim_end();
                if tok.eq_ignore_ascii_case("NULL") {
                    out.push(None);
                } else {
                    out.push(Some(Cow::Borrowed(tok)));
                }
            }
        }
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        match b.get(i) {
            None => return Ok(out),
            Some(b',') => i += 1,
            Some(_) => return Err(format!("bad array text {s:?}")),
        }
    }
}

/// Splits an array's binary form into element byte slices (`None` for NULL).
pub fn split_binary(data: &[u8]) -> R<Vec<Option<&[u8]>>> {
    let mut r = Reader::new(data);
    let short = |e: crate::reader::Short| format!("array: {e}");
    let ndim = r.i32_be().map_err(short)?;
    let _has_nulls = r.i32_be().map_err(short)?;
    let _elem_oid = r.u32_be().map_err(short)?;
    match ndim {
        0 => return Ok(Vec::new()),
        1 => {}
        n if n > 1 => return Err(MULTI_DIM.into()),
        n => return Err(format!("array: bad dimension count {n}")),
    }
    let len = r.i32_be().map_err(short)?;
    let lower = r.i32_be().map_err(short)?;
    if lower != 1 {
        return Err(format!(
            "array with lower bound {lower}; only 1-based one-dimensional arrays map to a list; {}",
            way_on!()
        ));
    }
    let len = usize::try_from(len).map_err(|_| format!("array: bad length {len}"))?;
    let mut out = Vec::with_capacity(len.min(r.remaining() / 4));
    for _ in 0..len {
        let n = r.i32_be().map_err(short)?;
        if n < 0 {
            out.push(None);
        } else {
            out.push(Some(r.take(n as usize).map_err(short)?));
        }
    }
    if !r.is_empty() {
        return Err(format!(
            "array: {} bytes after the last element",
            r.remaining()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<Option<String>> {
        split_text(s)
            .unwrap()
            .into_iter()
            .map(|x| x.map(|c| c.into_owned()))
            .collect()
    }

    #[test]
    fn text_arrays() {
        assert_eq!(
            texts(r#"{1,NULL,"a \"b\"",  c d ,"NULL",""}"#),
            vec![
                Some("1".into()),
                None,
                Some("a \"b\"".into()),
                Some("c d".into()),
                Some("NULL".into()),
                Some("".into())
            ]
        );
        assert_eq!(texts("{}"), Vec::<Option<String>>::new());
        assert_eq!(
            texts(r#"{"back\\slash"}"#),
            vec![Some("back\\slash".into())]
        );
        // The errors say what to do: there is no other mode that would take the value.
        for bad in ["{{1,2},{3,4}}", "[0:1]={1,2}"] {
            let err = split_text(bad).unwrap_err();
            assert!(
                err.ends_with(
                    "leave the column out of the publication (a column list, \
PostgreSQL 15 and newer) or the table out of the capture"
                ),
                "{err}"
            );
        }
        assert!(split_text(r#"{"open}"#).is_err());
    }

    #[test]
    fn binary_arrays() {
        let mut b = Vec::new();
        for x in [1i32, 1, 23, 2, 1] {
            b.extend(x.to_be_bytes());
        }
        b.extend(4i32.to_be_bytes());
        b.extend(7i32.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        let v = split_binary(&b).unwrap();
        assert_eq!(v, vec![Some(&7i32.to_be_bytes()[..]), None]);
        assert!(split_binary(&b[..b.len() - 1]).is_err());
        let mut two = Vec::new();
        for x in [2i32, 0, 23, 1, 1, 1, 1] {
            two.extend(x.to_be_bytes());
        }
        assert!(split_binary(&two)
            .unwrap_err()
            .contains("leave the column out"));
    }
}
