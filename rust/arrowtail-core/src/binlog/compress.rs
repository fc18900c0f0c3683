//! Decompression of MariaDB compressed events (zlib) and MySQL TRANSACTION_PAYLOAD (zstd).

use std::io::Read;

/// Decompresses the body of a MariaDB `*_COMPRESSED_EVENT` (MariaDB `binlog_buf_uncompress`):
/// one header byte whose low 3 bits give the size of the big-endian uncompressed length that
/// follows, then a zlib stream.
pub fn mariadb_uncompress(data: &[u8]) -> Result<Vec<u8>, String> {
    let (&head, rest) = data.split_first().ok_or("empty compressed body")?;
    let n = usize::from(head & 0x07);
    if n == 0 || n > 4 || rest.len() < n {
        return Err(format!("invalid compressed header byte {head:#04x}"));
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |a, &b| (a << 8) | usize::from(b));
    let mut out = Vec::with_capacity(len.min(1 << 20));
    flate2::read::ZlibDecoder::new(&rest[n..])
        .take(len as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib: {e}"))?;
    if out.len() != len {
        return Err(format!(
            "compressed body gives {} bytes, header says {len}",
            out.len()
        ));
    }
    Ok(out)
}

/// Decompresses a zstd frame sequence of a TRANSACTION_PAYLOAD, refusing to grow past `limit`.
pub fn zstd(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let dec = ruzstd::decoding::StreamingDecoder::new(data).map_err(|e| format!("zstd: {e}"))?;
    dec.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("zstd: {e}"))?;
    if out.len() > limit {
        return Err(format!("zstd payload larger than {limit} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn mariadb_zlib_roundtrip() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"hello binlog").unwrap();
        let body = z.finish().unwrap();
        let mut data = vec![0x81, 12];
        data.extend_from_slice(&body);
        assert_eq!(mariadb_uncompress(&data).unwrap(), b"hello binlog");
        data[1] = 13;
        assert!(mariadb_uncompress(&data).is_err());
        assert!(mariadb_uncompress(&[0x80]).is_err());
    }
}
