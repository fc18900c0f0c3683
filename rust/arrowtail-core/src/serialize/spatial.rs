//! MySQL/MariaDB spatial values as Debezium's MySQL and MariaDB connectors send them. The change
//! batch holds a spatial column's value as the server stores it: the SRID as four little-endian
//! bytes, then the geometry's WKB. A `POINT` column (`arrowtail.logical_type` `point`) becomes
//! `io.debezium.data.geometry.Point` (`x`, `y` read from the WKB, the WKB, the SRID), every other
//! spatial column (`geometry`) `io.debezium.data.geometry.Geometry` (the WKB and the SRID). An SRID
//! of 0 is written as null, as those connectors do.

use super::json;

/// The SRID (`None` for 0) and the WKB of a stored spatial value; fewer than four bytes (which no
/// server stores) are a WKB without SRID.
pub fn split(stored: &[u8]) -> (Option<i32>, &[u8]) {
    match stored.split_first_chunk::<4>() {
        Some((srid, wkb)) => {
            let srid = i32::from_le_bytes(*srid);
            ((srid != 0).then_some(srid), wkb)
        }
        None => (None, stored),
    }
}

/// Appends a stored spatial value as the JSON of Debezium's `Point` (`point`; a WKB that is no
/// two-dimensional point, which no `POINT` column holds, has the origin's coordinates) or
/// `Geometry` struct.
pub fn write_json(out: &mut Vec<u8>, stored: &[u8], point: bool) {
    let (srid, wkb) = split(stored);
    let xy = point.then(|| point_xy(wkb).unwrap_or((0.0, 0.0)));
    write_struct_json(out, xy, wkb, srid);
}

/// Appends the JSON of Debezium's `Point` (with `xy`) or `Geometry` struct (without): the
/// coordinates, the WKB and the SRID (null for none). PostgreSQL's `point` writes it too.
pub fn write_struct_json(out: &mut Vec<u8>, xy: Option<(f64, f64)>, wkb: &[u8], srid: Option<i32>) {
    out.push(b'{');
    if let Some((x, y)) = xy {
        out.extend_from_slice(b"\"x\":");
        json::write_f64(out, x);
        out.extend_from_slice(b",\"y\":");
        json::write_f64(out, y);
        out.push(b',');
    }
    out.extend_from_slice(b"\"wkb\":");
    json::write_base64(out, wkb);
    out.extend_from_slice(b",\"srid\":");
    match srid {
        Some(srid) => json::write_i64(out, i64::from(srid)),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

/// The coordinates of a two-dimensional WKB point (byte order, type 1, x, y); `None` for any
/// other WKB.
pub fn point_xy(wkb: &[u8]) -> Option<(f64, f64)> {
    if wkb.len() != 21 {
        return None;
    }
    let little = match wkb[0] {
        1 => true,
        0 => false,
        _ => return None,
    };
    let word = |at: usize| -> [u8; 4] { wkb[at..at + 4].try_into().unwrap_or_default() };
    let float = |at: usize| -> f64 {
        let bytes: [u8; 8] = wkb[at..at + 8].try_into().unwrap_or_default();
        if little {
            f64::from_le_bytes(bytes)
        } else {
            f64::from_be_bytes(bytes)
        }
    };
    let kind = if little {
        u32::from_le_bytes(word(1))
    } else {
        u32::from_be_bytes(word(1))
    };
    (kind == 1).then(|| (float(5), float(13)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(little: bool, x: f64, y: f64) -> Vec<u8> {
        let mut wkb = vec![u8::from(little)];
        if little {
            wkb.extend_from_slice(&1u32.to_le_bytes());
            wkb.extend_from_slice(&x.to_le_bytes());
            wkb.extend_from_slice(&y.to_le_bytes());
        } else {
            wkb.extend_from_slice(&1u32.to_be_bytes());
            wkb.extend_from_slice(&x.to_be_bytes());
            wkb.extend_from_slice(&y.to_be_bytes());
        }
        wkb
    }

    #[test]
    fn a_stored_value_splits_into_its_srid_and_wkb() {
        let mut stored = 4326i32.to_le_bytes().to_vec();
        stored.extend_from_slice(&point(true, 1.5, -2.0));
        let (srid, wkb) = split(&stored);
        assert_eq!(srid, Some(4326));
        assert_eq!(wkb, &stored[4..]);
        assert_eq!(split(&[0, 0, 0, 0, 1]), (None, &[1u8][..]));
        assert_eq!(split(&[0, 0, 0]), (None, &[0u8, 0, 0][..]));
    }

    #[test]
    fn points_read_in_either_byte_order_and_nothing_else_does() {
        assert_eq!(point_xy(&point(true, 1.5, -2.0)), Some((1.5, -2.0)));
        assert_eq!(point_xy(&point(false, -0.5, 1e-300)), Some((-0.5, 1e-300)));
        let mut line = point(true, 1.0, 2.0);
        line[1] = 2;
        assert_eq!(point_xy(&line), None);
        assert_eq!(point_xy(&point(true, 1.0, 2.0)[..20]), None);
        let mut order = point(true, 1.0, 2.0);
        order[0] = 7;
        assert_eq!(point_xy(&order), None);
    }

    #[test]
    fn values_write_as_debeziums_point_and_geometry_structs() {
        let mut stored = 3857i32.to_le_bytes().to_vec();
        stored.extend_from_slice(&point(true, 7.0, -8.5));
        let wkb = json_of(|o| json::write_base64(o, &stored[4..]));
        let mut out = Vec::new();
        write_json(&mut out, &stored, true);
        let want = format!(r#"{{"x":7.0,"y":-8.5,"wkb":{wkb},"srid":3857}}"#);
        assert_eq!(String::from_utf8(out).unwrap(), want);
        stored[..4].copy_from_slice(&[0; 4]);
        let mut out = Vec::new();
        write_json(&mut out, &stored, false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(r#"{{"wkb":{wkb},"srid":null}}"#)
        );
    }

    fn json_of(write: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }
}
