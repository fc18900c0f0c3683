//! Rows events (WRITE/UPDATE/DELETE_ROWS v1 and v2, PARTIAL_UPDATE_ROWS, MariaDB compressed rows):
//! the event header, the present-columns bitmaps and the row images, decoded straight into a
//! [`ChangeBuilder`] (MySQL `Rows_log_event`, MariaDB KB "ROWS_EVENT_V1/V2").
//!
//! Columns absent from an image's present-columns bitmap (binlog_row_image MINIMAL/NOBLOB) are
//! appended as null *and* listed in `_unchanged`; a present column whose null bit is set is a
//! real NULL.

use crate::arrow::{ChangeBuilder, ColumnBuilder, Op, RowMeta};
use crate::reader::{Reader, Short};
use crate::types::mysql::value::{self, Scratch, Step};
use crate::types::mysql::Codec;

use super::json::{self, JsonValue};
use super::packed_uint;

/// Which change a rows event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsKind {
    Write,
    Update,
    Delete,
    /// PARTIAL_UPDATE_ROWS: an update whose after image may hold JSON diffs.
    PartialUpdate,
}

/// Rows event flag STMT_END_F: the last event of a statement.
pub const STMT_END: u16 = 0x1;

/// The fixed part of a rows event.
#[derive(Debug, Clone)]
pub struct RowsHeader<'a> {
    pub table_id: u64,
    pub flags: u16,
    /// Everything after the post-header and the v2 extra data (possibly compressed).
    pub rest: &'a [u8],
}

/// Parses the post-header of a rows event. `v2` events have a 2-byte extra-data length
/// (counting itself) after the flags.
pub fn parse_header(body: &[u8], post_len: usize, v2: bool) -> Result<RowsHeader<'_>, Short> {
    let mut r = Reader::new(body);
    let table_id = if post_len == 6 {
        u64::from(r.u32_le()?)
    } else {
        r.uint_le(6)?
    };
    let flags = r.u16_le()?;
    if v2 {
        let extra = usize::from(r.u16_le()?);
        r.skip(extra.saturating_sub(2))?;
    }
    Ok(RowsHeader {
        table_id,
        flags,
        rest: r.take_rest(),
    })
}

/// Where the row images start in a rows event body: after the packed column count and the
/// present-columns bitmap (two for updates).
pub fn images_offset(data: &[u8], update: bool) -> Result<usize, String> {
    let mut r = Reader::new(data);
    let n = packed_uint(&mut r).map_err(|e| e.to_string())? as usize;
    let bitmaps = n.div_ceil(8) * if update { 2 } else { 1 };
    r.skip(bitmaps).map_err(|e| e.to_string())?;
    Ok(r.pos())
}

/// A table map resolved for decoding: codecs per column and where rows go.
#[derive(Debug)]
pub struct ResolvedTable {
    /// `database.table`.
    pub name: String,
    pub codecs: Vec<Codec>,
    /// The decoding step of each codec, chosen once here rather than per value.
    pub steps: Vec<Step>,
    /// For each column, its index among the table's JSON columns (PARTIAL_UPDATE bits).
    pub json_index: Vec<Option<usize>>,
    pub json_count: usize,
    /// Index of the change builder rows of this table map go to.
    pub builder: usize,
    /// Primary-key column indexes.
    pub pk: Vec<usize>,
}

impl ResolvedTable {
    /// Builds the JSON column index from the codecs.
    pub fn new(name: String, codecs: Vec<Codec>, builder: usize, pk: Vec<usize>) -> Self {
        let mut json_count = 0;
        let json_index = codecs
            .iter()
            .map(|c| {
                matches!(c, Codec::Json { .. }).then(|| {
                    json_count += 1;
                    json_count - 1
                })
            })
            .collect();
        let steps = codecs.iter().map(Step::of).collect();
        Self {
            name,
            codecs,
            steps,
            json_index,
            json_count,
            builder,
            pk,
        }
    }
}

/// A present-columns bitmap of `n` columns, read where it stands in the event (not copied into a
/// vector per event).
#[derive(Debug, Clone, Copy)]
struct Present<'a> {
    bits: &'a [u8],
    n: usize,
}

impl Present<'_> {
    fn read<'a>(r: &mut Reader<'a>, n: usize) -> Result<Present<'a>, Short> {
        Ok(Present {
            bits: r.take(n.div_ceil(8))?,
            n,
        })
    }

    /// Is column `i` in the image? Columns past the event's column count are not.
    fn has(&self, i: usize) -> bool {
        i < self.n && bit(self.bits, i)
    }

    /// How many columns are in the image (bits past `n` in the last byte do not count).
    fn count(&self) -> usize {
        let whole = self.n / 8;
        let mut c: usize = self.bits[..whole]
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum();
        if self.n % 8 != 0 {
            let mask = (1u8 << (self.n % 8)) - 1;
            c += (self.bits[whole] & mask).count_ones() as usize;
        }
        c
    }
}

fn bit(b: &[u8], i: usize) -> bool {
    b.get(i / 8).is_some_and(|x| x & (1 << (i % 8)) != 0)
}

/// Last known JSON documents of a table's rows, by primary-key bytes, for PARTIAL_UPDATE diffs
/// whose before image does not carry the JSON column (binlog_row_image=MINIMAL).
pub type JsonCache = std::collections::HashMap<Vec<u8>, Vec<Option<JsonValue>>>;

/// Entries kept per table before the cache is reset.
const JSON_CACHE_LIMIT: usize = 1_000_000;

/// One decoded image's side results.
#[derive(Default)]
struct ImageOut {
    /// Byte span of each present, non-null column value in the event data.
    spans: Vec<Option<(usize, usize)>>,
    /// JSON documents of present columns (Some(Null) for SQL NULL), when tracked.
    json: Vec<Option<JsonValue>>,
}

impl ImageOut {
    fn reset(&mut self, n: usize) {
        self.spans.clear();
        self.spans.resize(n, None);
        self.json.clear();
        self.json.resize(n, None);
    }

    /// The primary-key bytes, if every key column is present.
    fn key(&self, data: &[u8], pk: &[usize]) -> Option<Vec<u8>> {
        let mut k = Vec::new();
        for &i in pk {
            let (a, b) = (*self.spans.get(i)?)?;
            k.extend_from_slice(data.get(a..b)?);
            k.push(0xFF);
        }
        Some(k)
    }
}

/// A PARTIAL_UPDATE after image: the bitmap of JSON columns sent as diffs, the before image,
/// and the cached documents of the row.
type Partial<'x> = (&'x [u8], &'x ImageOut, Option<&'x Vec<Option<JsonValue>>>);

#[allow(clippy::too_many_arguments)]
fn read_image(
    r: &mut Reader<'_>,
    present: Present<'_>,
    table: &ResolvedTable,
    builders: &mut [ColumnBuilder],
    scratch: &mut Scratch,
    unchanged: &mut Vec<usize>,
    out: &mut ImageOut,
    partial: Option<Partial<'_>>,
) -> Result<(), String> {
    let e = |s: Short| s.to_string();
    let npresent = present.count();
    let nulls = r.take(npresent.div_ceil(8)).map_err(e)?;
    // With every column of the table present (binlog_row_image=FULL, the usual case) the null
    // bit of column i is bit i, and no column is looked up in the present-columns bitmap.
    let all_present = npresent == table.codecs.len();
    let mut k = 0;
    for (i, ((codec, &step), b)) in table
        .codecs
        .iter()
        .zip(&table.steps)
        .zip(builders.iter_mut())
        .enumerate()
    {
        if !all_present && !present.has(i) {
            b.append_null();
            unchanged.push(i);
            continue;
        }
        let is_null = bit(nulls, k);
        k += 1;
        if is_null {
            b.append_null();
            if table.json_index[i].is_some() {
                if let Some(slot) = out.json.get_mut(i) {
                    *slot = Some(JsonValue::Null);
                }
            }
            continue;
        }
        let start = r.pos();
        if step != Step::Other {
            value::decode_step(step, codec, r, b, scratch)
                .map_err(|d| format!("column {}: {d}", i + 1))?;
        } else if let Codec::Json { len_bytes } = codec {
            let raw = value::take_len_prefixed(r, *len_bytes)?;
            let is_diff = match (partial, table.json_index[i]) {
                (Some((bits, _, _)), Some(j)) => bit(bits, j),
                _ => false,
            };
            let doc = if is_diff {
                let before = partial.and_then(|(_, before, cached)| {
                    before
                        .json
                        .get(i)
                        .and_then(Option::as_ref)
                        .or_else(|| cached.and_then(|c| c.get(i)).and_then(Option::as_ref))
                });
                let before = before.ok_or(
                    "JSON diff for a row whose previous document is unknown (before image without \
                     the column and no earlier image of the row seen); use \
                     binlog_row_image=FULL or binlog_row_value_options=''",
                )?;
                json::apply_diffs(before.clone(), raw)?
            } else {
                json::parse(raw)?
            };
            scratch.text.clear();
            json::write_text(&doc, &mut scratch.text);
            match b {
                ColumnBuilder::Utf8(sb) => sb.append_value(&scratch.text),
                ColumnBuilder::Plain(p) => p.push_str(scratch.text.as_bytes())?,
                _ => return Err("internal error: JSON column without a string builder".into()),
            }
            if let Some(slot) = out.json.get_mut(i) {
                *slot = Some(doc);
            }
        } else {
            value::decode(codec, r, b, scratch).map_err(|d| format!("column {}: {d}", i + 1))?;
        }
        if let Some(slot) = out.spans.get_mut(i) {
            *slot = Some((start, r.pos()));
        }
    }
    Ok(())
}

fn remember(
    cache: &mut JsonCache,
    key: Vec<u8>,
    mut docs: Vec<Option<JsonValue>>,
    newer: &ImageOut,
) {
    for (d, n) in docs.iter_mut().zip(&newer.json) {
        if n.is_some() {
            d.clone_from(n);
        }
    }
    if cache.len() >= JSON_CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, docs);
}

/// Decodes every row of a rows event body (`data` = after the post-header, uncompressed) into
/// `builder`. `meta` gives the metadata of each row in turn. Returns the number of rows.
pub fn decode_rows(
    kind: RowsKind,
    data: &[u8],
    table: &ResolvedTable,
    builder: &mut ChangeBuilder,
    scratch: &mut Scratch,
    cache: &mut JsonCache,
    mut meta: impl FnMut(Op) -> RowMeta,
) -> Result<usize, String> {
    let e = |s: Short| s.to_string();
    let mut r = Reader::new(data);
    let n = packed_uint(&mut r).map_err(e)? as usize;
    if n > table.codecs.len() {
        return Err(format!(
            "rows event has {n} columns, its TABLE_MAP {}",
            table.codecs.len()
        ));
    }
    let present = Present::read(&mut r, n).map_err(e)?;
    let is_update = matches!(kind, RowsKind::Update | RowsKind::PartialUpdate);
    let present_after = if is_update {
        Present::read(&mut r, n).map_err(e)?
    } else {
        present
    };
    // JSON documents are remembered by key only for tables that can receive JSON diffs.
    let track = table.json_count > 0 && !table.pk.is_empty();
    // Spans and JSON documents of the images are kept only when something needs them.
    let keep = track || kind == RowsKind::PartialUpdate;
    let ncols = table.codecs.len();
    let (mut before, mut after) = (ImageOut::default(), ImageOut::default());
    let mut unchanged = Vec::new();
    let mut ignored = Vec::new();
    let mut rows = 0;
    while !r.is_empty() {
        let row_start = r.pos();
        unchanged.clear();
        ignored.clear();
        if keep {
            before.reset(ncols);
            after.reset(ncols);
        }
        let result = (|| -> Result<(), String> {
            match kind {
                RowsKind::Update | RowsKind::PartialUpdate => {
                    read_image(
                        &mut r,
                        present,
                        table,
                        builder.before_mut(),
                        scratch,
                        &mut ignored,
                        &mut before,
                        None,
                    )?;
                    let mut bits = None;
                    if kind == RowsKind::PartialUpdate {
                        let options = packed_uint(&mut r).map_err(e)?;
                        if options & 1 != 0 {
                            bits = Some(r.take(table.json_count.div_ceil(8)).map_err(e)?);
                        }
                    }
                    let old_key = if track {
                        before.key(data, &table.pk)
                    } else {
                        None
                    };
                    let cached = old_key.as_ref().and_then(|k| cache.remove(k));
                    let partial = bits.map(|b| (b, &before, cached.as_ref()));
                    read_image(
                        &mut r,
                        present_after,
                        table,
                        &mut builder.columns,
                        scratch,
                        &mut unchanged,
                        &mut after,
                        partial,
                    )?;
                    builder.finish_row(meta(Op::Update), true, &unchanged);
                    if track {
                        let key = after.key(data, &table.pk).or(old_key);
                        if let Some(key) = key {
                            let mut docs = cached.unwrap_or_else(|| vec![None; ncols]);
                            for (d, b) in docs.iter_mut().zip(&before.json) {
                                if b.is_some() {
                                    d.clone_from(b);
                                }
                            }
                            remember(cache, key, docs, &after);
                        }
                    }
                }
                RowsKind::Write | RowsKind::Delete => {
                    read_image(
                        &mut r,
                        present,
                        table,
                        &mut builder.columns,
                        scratch,
                        &mut unchanged,
                        &mut after,
                        None,
                    )?;
                    let op = if kind == RowsKind::Write {
                        Op::Insert
                    } else {
                        Op::Delete
                    };
                    builder.finish_row(meta(op), false, &unchanged);
                    // The key is built (an allocation) only for tables whose JSON is tracked.
                    if let Some(key) = track.then(|| after.key(data, &table.pk)).flatten() {
                        if kind == RowsKind::Write {
                            remember(cache, key, vec![None; ncols], &after);
                        } else {
                            cache.remove(&key);
                        }
                    }
                }
            }
            Ok(())
        })();
        if let Err(d) = result {
            return Err(format!("row {}: {d}", rows + 1));
        }
        rows += 1;
        if r.pos() == row_start {
            // Only possible with no present column: the image would repeat forever.
            return Err(format!("row {rows} is empty: no column is present"));
        }
    }
    Ok(rows)
}
