//! PostgreSQL values the change batch carries as their text output and Debezium's PostgreSQL
//! connector reshapes (the field's `arrowtail.logical_type` names the type): bit strings, `hstore`
//! and `point`. Both serializers (JSON and Avro) write them from what these functions read.
//!
//! - A bit string (`bit(n)`, `bit varying(n)`) of more than one bit is `io.debezium.data.Bits`:
//!   the string read as a base-2 number, its bytes little-endian and as few as its highest set
//!   bit needs (none for zero). Of one bit it is a boolean.
//! - `hstore` is the text of a JSON object (`hstore.handling.mode=json`), a `NULL` value as
//!   `null`. Debezium reads the pairs into a Java `HashMap` and writes them in its iteration
//!   order, so the pairs are written in that order too ([`java_hash_map_order`]).
//! - `point` is `io.debezium.data.geometry.Point`: `x`, `y`, the point's WKB (little-endian, type
//!   1) and a null `srid`.

/// The bytes of a bit string's text (`0` and `1` only) as Debezium's `Bits` holds them; `None`
/// for other text.
pub fn bit_bytes(text: &str) -> Option<Vec<u8>> {
    let mut out = vec![0u8; text.len().div_ceil(8)];
    for (i, c) in text.bytes().rev().enumerate() {
        match c {
            b'0' => {}
            b'1' => out[i / 8] |= 1 << (i % 8),
            _ => return None,
        }
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Some(out)
}

/// Whether a bit string's text has a bit set (a one-bit string as a boolean).
pub fn bit_set(text: &str) -> bool {
    text.bytes().any(|c| c == b'1')
}

/// Appends the JSON object of an `hstore` value's text (`"k"=>"v", "k2"=>NULL`); `None` (with
/// nothing appended) when the text is not in that form.
pub fn write_hstore_json(out: &mut Vec<u8>, text: &str) -> Option<()> {
    let mut pairs: Vec<(String, Option<String>)> = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if !pairs.is_empty() {
            rest = rest.strip_prefix(',')?.trim_start();
        }
        let (key, after) = quoted(rest)?;
        rest = after.trim_start().strip_prefix("=>")?.trim_start();
        let value = match rest.strip_prefix("NULL") {
            Some(after) => {
                rest = after;
                None
            }
            None => {
                let (value, after) = quoted(rest)?;
                rest = after;
                Some(value)
            }
        };
        pairs.push((key, value));
        rest = rest.trim_start();
    }
    out.push(b'{');
    let order = java_hash_map_order(pairs.iter().map(|(k, _)| k.as_str()));
    for (n, i) in order.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let (key, value) = &pairs[i];
        super::json::write_str(out, key);
        out.push(b':');
        match value {
            Some(v) => super::json::write_str(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    Some(())
}

/// The order a Java `HashMap<String, _>` (default capacity and load factor) iterates keys put
/// in the given order, as indexes into them: by bucket of the final table (the spread
/// `String.hashCode`), in order of insertion within a bucket. The table doubles from 16 when it
/// holds more than three quarters of its size, and also while smaller than 64 when a bucket
/// takes a ninth key. (A bucket of nine or more keys in a table of 64 or more becomes a tree,
/// whose order this does not follow.)
pub fn java_hash_map_order<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let hashes: Vec<u32> = keys
        .map(|k| {
            let h = k.encode_utf16().fold(0i32, |h, unit| {
                h.wrapping_mul(31).wrapping_add(i32::from(unit))
            }) as u32;
            h ^ (h >> 16)
        })
        .collect();
    let mut capacity = 16usize;
    for n in 0..hashes.len() {
        let bucket = hashes[n] as usize & (capacity - 1);
        let before = hashes[..n]
            .iter()
            .filter(|&&h| h as usize & (capacity - 1) == bucket)
            .count();
        if before >= 8 && capacity < 64 {
            capacity *= 2;
        }
        if n + 1 > capacity / 4 * 3 {
            capacity *= 2;
        }
    }
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    order.sort_by_key(|&i| hashes[i] as usize & (capacity - 1));
    order
}

/// A double-quoted hstore string at the start of `s` (`\` escapes the next character), and what
/// follows it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &body[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            _ => value.push(c),
        }
    }
    None
}

/// The coordinates of a `point`'s text, `(x,y)`.
pub fn point(text: &str) -> Option<(f64, f64)> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (x, y) = inner.split_once(',')?;
    Some((parse_float(x)?, parse_float(y)?))
}

/// A float8 as PostgreSQL prints it (`Infinity`, `-Infinity` and `NaN` included).
fn parse_float(s: &str) -> Option<f64> {
    match s.trim() {
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

/// The well-known binary form of a point: byte order 1 (little-endian), geometry type 1, x, y.
pub fn point_wkb(x: f64, y: f64) -> [u8; 21] {
    let mut wkb = [0u8; 21];
    wkb[0] = 1;
    wkb[1..5].copy_from_slice(&1u32.to_le_bytes());
    wkb[5..13].copy_from_slice(&x.to_le_bytes());
    wkb[13..21].copy_from_slice(&y.to_le_bytes());
    wkb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_strings_read_as_base_two_numbers_in_few_little_endian_bytes() {
        assert_eq!(bit_bytes("101"), Some(vec![0x05]));
        assert_eq!(bit_bytes("10100101"), Some(vec![0xa5]));
        // 0b11_1100_0011 = 0x3c3
        assert_eq!(bit_bytes("1111000011"), Some(vec![0xc3, 0x03]));
        assert_eq!(bit_bytes("0000000100000000"), Some(vec![0x00, 0x01]));
        assert_eq!(bit_bytes("00000000"), Some(vec![]));
        assert_eq!(bit_bytes(""), Some(vec![]));
        assert_eq!(bit_bytes("10x"), None);
        assert!(bit_set("0010") && !bit_set("000"));
    }

    fn hstore(text: &str) -> Option<String> {
        let mut out = Vec::new();
        write_hstore_json(&mut out, text).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn hstore_text_becomes_a_json_object_in_java_hash_map_order() {
        assert_eq!(
            hstore(r#""a"=>"1", "b"=>NULL"#).as_deref(),
            Some(r#"{"a":"1","b":null}"#)
        );
        assert_eq!(hstore("").as_deref(), Some("{}"));
        // "bb".hashCode() = 3136, bucket 0 of 16; "a" = 97, bucket 1.
        assert_eq!(
            hstore(r#""a"=>"2", "bb"=>"1""#).as_deref(),
            Some(r#"{"bb":"1","a":"2"}"#)
        );
        // "NULL".hashCode() = 2407815, spread 2407815 ^ 36 = 2407843, bucket 3; "ü" (U+00FC) =
        // 252, bucket 12; "k \"q\"" = 105555266, spread ^ 1610 = 105556680, bucket 8.
        assert_eq!(
            hstore(r#""k \"q\""=>"x\\y", "NULL"=>"NULL", "ü"=>"""#).as_deref(),
            Some(r#"{"NULL":"NULL","k \"q\"":"x\\y","ü":""}"#)
        );
        assert_eq!(hstore(r#""a"=>"1" "b"=>"2""#), None);
        assert_eq!(hstore(r#""a"=>"1"#), None);
        let mut out = b"x".to_vec();
        assert_eq!(write_hstore_json(&mut out, r#""a"=>"#), None);
        assert_eq!(out, b"x");
    }

    #[test]
    fn java_hash_map_order_follows_the_final_table() {
        // Single letters: buckets by code, 'a' = 97 -> 1 ... 'p' = 112 -> 0 of 16.
        let keys = ["b", "a", "p"];
        assert_eq!(java_hash_map_order(keys.iter().copied()), vec![2, 1, 0]);
        // Thirteen keys grow the table to 32: 'a' (97) -> bucket 1, 'q' (113) -> 17.
        let keys: Vec<String> = ('a'..='m').map(String::from).chain(["q".into()]).collect();
        let order = java_hash_map_order(keys.iter().map(String::as_str));
        let names: String = order.iter().map(|&i| keys[i].as_str()).collect();
        assert_eq!(names, "abcdefghijklmq");
        let keys: Vec<String> = ["q", "a"].iter().map(|s| s.to_string()).collect();
        // In a table of 16 both are in bucket 1, in insertion order.
        assert_eq!(
            java_hash_map_order(keys.iter().map(String::as_str)),
            vec![0, 1]
        );
    }

    #[test]
    fn points_and_their_wkb() {
        assert_eq!(point("(1.5,-2)"), Some((1.5, -2.0)));
        assert_eq!(point("(-Infinity,0)"), Some((f64::NEG_INFINITY, 0.0)));
        assert_eq!(point("1,2"), None);
        let wkb = point_wkb(1.5, -2.0);
        assert_eq!(&wkb[..5], &[1, 1, 0, 0, 0]);
        assert_eq!(f64::from_le_bytes(wkb[5..13].try_into().unwrap()), 1.5);
        assert_eq!(f64::from_le_bytes(wkb[13..].try_into().unwrap()), -2.0);
    }
}
