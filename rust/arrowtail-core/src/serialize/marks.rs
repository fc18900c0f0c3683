//! Debezium's `source.snapshot` marker of each row, from what the snapshot readers write into a
//! batch's schema metadata.
//!
//! Debezium marks the first record of a snapshot `first`, the first of each further table
//! `first_in_data_collection`, the last of each table `last_in_data_collection`, the very last
//! record `last`, the others `true`, and rows of an incremental snapshot `incremental`; streamed
//! changes say `false`. Only the reader knows where a table or the snapshot ends, so it names
//! the rows that carry a marker other than `true` in `arrowtail.snapshot_marks`, as
//! `seq:marker` pairs (`0:first,41:last_in_data_collection`) keyed by the row's `_seq`, which a
//! snapshot numbers per table from 0: a batch sliced or filtered on its way keeps the marker on
//! the row it names. `arrowtail.snapshot = incremental` makes `incremental` the marker of every
//! snapshot row of the batch.

use std::collections::HashMap;

use arrow_schema::Schema;

use super::keys::bad;
use crate::Result;

/// The schema metadata key naming the marked rows of a snapshot batch.
pub const MARKS_KEY: &str = "arrowtail.snapshot_marks";
/// The schema metadata key telling an incremental snapshot's batch (`incremental`).
pub const SNAPSHOT_KEY: &str = "arrowtail.snapshot";

/// The markers a snapshot row may carry besides `true`, as Debezium names them.
const MARKERS: [&str; 4] = [
    "first",
    "first_in_data_collection",
    "last_in_data_collection",
    "last",
];

/// The `source.snapshot` marker of each row of one batch.
#[derive(Debug, Default)]
pub(super) struct SnapshotMarks {
    /// `_seq` -> marker, for the rows the reader marked.
    by_seq: HashMap<u32, &'static str>,
    /// The marker of the other snapshot rows: `true`, or `incremental`.
    other: &'static str,
}

impl SnapshotMarks {
    /// Reads the markers of a batch from its schema metadata.
    pub fn new(schema: &Schema) -> Result<Self> {
        let md = schema.metadata();
        let other = if md.get(SNAPSHOT_KEY).map(String::as_str) == Some("incremental") {
            "incremental"
        } else {
            "true"
        };
        let mut by_seq = HashMap::new();
        for pair in md
            .get(MARKS_KEY)
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|p| !p.is_empty())
        {
            let parsed = pair.split_once(':').and_then(|(seq, name)| {
                let seq = seq.parse::<u32>().ok()?;
                let name = MARKERS.iter().find(|m| **m == name)?;
                Some((seq, *name))
            });
            let (seq, name) =
                parsed.ok_or_else(|| bad(format!("{MARKS_KEY} has the entry {pair:?}")))?;
            by_seq.insert(seq, name);
        }
        Ok(Self { by_seq, other })
    }

    /// The marker of a row: `false` for a change from the log, else the reader's marker for the
    /// row's `_seq`, else `true` (`incremental`).
    pub fn marker(&self, op: &str, seq: u32) -> &'static str {
        if op != "r" {
            return "false";
        }
        self.by_seq.get(&seq).copied().unwrap_or(self.other)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn schema(md: &[(&str, &str)]) -> Schema {
        Schema::empty().with_metadata(
            md.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn marked_rows_are_found_by_seq_and_others_are_true() {
        let m = SnapshotMarks::new(&schema(&[(MARKS_KEY, "0:first,7:last_in_data_collection")]))
            .unwrap();
        assert_eq!(m.marker("r", 0), "first");
        assert_eq!(m.marker("r", 3), "true");
        assert_eq!(m.marker("r", 7), "last_in_data_collection");
        assert_eq!(m.marker("c", 0), "false");
        assert_eq!(m.marker("t", 7), "false");
    }

    #[test]
    fn an_incremental_batch_marks_its_rows_incremental() {
        let m = SnapshotMarks::new(&schema(&[(SNAPSHOT_KEY, "incremental")])).unwrap();
        assert_eq!(m.marker("r", 0), "incremental");
        assert_eq!(m.marker("u", 0), "false");
        let initial = SnapshotMarks::new(&schema(&[(SNAPSHOT_KEY, "true")])).unwrap();
        assert_eq!(initial.marker("r", 0), "true");
    }

    #[test]
    fn an_unknown_marker_is_an_error() {
        for bad_marks in ["0:firstish", "x:first", "0"] {
            let err = SnapshotMarks::new(&schema(&[(MARKS_KEY, bad_marks)])).unwrap_err();
            assert!(err.to_string().contains(MARKS_KEY), "{err}");
        }
    }
}
