//! Tests of the change builder: rows with and without old images, partial and discarded rows,
//! positions set at commit; and, in [`cuts`], the cuts at the byte limit.

use super::*;
use arrow_array::{Array, Int64Array, ListArray};

fn table() -> Arc<TableSchema> {
    Arc::new(TableSchema {
        source: SourceKind::Postgres,
        table: "public.t".into(),
        schema_version: 1,
        columns: vec![
            Field::new("id", DataType::Int64, false),
            Field::new("note", DataType::Utf8, true),
        ],
        primary_key: vec!["id".into()],
        extra_metadata: vec![],
    })
}

fn meta(op: Op, seq: u32) -> RowMeta {
    RowMeta {
        op,
        pos: 100,
        seq,
        xid: 7,
        commit_ts_us: 1_700_000_000_000_000,
    }
}

fn push(b: &mut ChangeBuilder, id: i64, note: Option<&str>) {
    if let ColumnBuilder::Int64(c) = &mut b.columns[0] {
        c.append_value(id);
    }
    if let ColumnBuilder::Utf8(c) = &mut b.columns[1] {
        c.append_option(note);
    }
}

/// Appends a row's old image (the caller then finishes the row with `has_before`).
fn push_old(b: &mut ChangeBuilder, id: i64, note: Option<&str>) {
    if let ColumnBuilder::Int64(c) = &mut b.before_mut()[0] {
        c.append_value(id);
    }
    if let ColumnBuilder::Utf8(c) = &mut b.before_mut()[1] {
        c.append_option(note);
    }
}

#[test]
fn rows_with_and_without_before_image() {
    let mut b = ChangeBuilder::new(table()).unwrap();
    push(&mut b, 1, Some("a"));
    b.finish_row(meta(Op::Insert, 0), false, &[]);
    push(&mut b, 1, None);
    push_old(&mut b, 1, Some("a"));
    b.finish_row(meta(Op::Update, 1), true, &[1]);
    let batches = b.flush().unwrap();
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(op_column(batch).unwrap().value(1), "u");
    let md = batch.schema().metadata().clone();
    assert_eq!(md["arrowtail.table"], "public.t");
    assert_eq!(md["arrowtail.primary_key"], "id");
    assert_eq!(
        old_images(batch),
        vec![(None, None), (Some(1), Some(vec!["note".to_string()]))]
    );
    assert!(b.flush().unwrap().is_empty());
}

/// `_before` and `_unchanged` of a batch: (old image ids, unchanged names) per row, None for a
/// null; checks that every `_before` child is as long as the batch and null where `_before` is.
fn old_images(batch: &RecordBatch) -> Vec<(Option<i64>, Option<Vec<String>>)> {
    let before = batch
        .column_by_name("_before")
        .unwrap()
        .as_any()
        .downcast_ref::<StructArray>()
        .unwrap();
    let unchanged = batch
        .column_by_name("_unchanged")
        .unwrap()
        .as_any()
        .downcast_ref::<ListArray>()
        .unwrap();
    let n = batch.num_rows();
    assert_eq!((before.len(), unchanged.len()), (n, n));
    for child in before.columns() {
        assert_eq!(child.len(), n);
        for row in 0..n {
            assert!(before.is_valid(row) || child.is_null(row), "row {row}");
        }
    }
    let ids = before
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    (0..n)
        .map(|row| {
            let id = before.is_valid(row).then(|| ids.value(row));
            let names = unchanged.is_valid(row).then(|| {
                let v = unchanged.value(row);
                let v = v.as_any().downcast_ref::<StringArray>().unwrap();
                v.iter().map(|s| s.unwrap().to_string()).collect()
            });
            (id, names)
        })
        .collect()
}

#[test]
fn batches_without_old_images_have_null_before_and_unchanged_of_their_length() {
    // Batches of every size around the shared arrays' (a first small one, one that outgrows
    // them, one they cover again, one past the bytes they may hold, which gets arrays of its
    // own), and old images before, between and after. An id and a text offset are about 13
    // bytes a row: with 64 KiB the arrays grow to 2,048 rows and 8,192 would be too many; with
    // 1 KiB nothing is ever kept.
    for limit in [64 << 10, 1 << 10] {
        let mut b = ChangeBuilder::new(table()).unwrap();
        b.nulls.before.limit = limit;
        b.nulls.unchanged.limit = limit;
        let mut id = 0;
        for (rows, with_old) in [
            (3, None),
            (1500, None),
            (2, None),
            (5000, None),
            (4, Some(2)),
            (7, None),
            (5, Some(0)),
            (1, None),
        ] {
            let mut want = Vec::new();
            for row in 0..rows {
                id += 1;
                push(&mut b, id, Some("x"));
                if with_old == Some(row) {
                    push_old(&mut b, -id, None);
                    b.finish_row(meta(Op::Update, row as u32), true, &[1]);
                    want.push((Some(-id), Some(vec!["note".to_string()])));
                } else {
                    b.finish_row(meta(Op::Insert, row as u32), false, &[]);
                    want.push((None, None));
                }
            }
            let batches = b.flush().unwrap();
            let got: Vec<_> = batches.iter().flat_map(old_images).collect();
            assert_eq!(got, want, "{rows} rows, old image at {with_old:?}");
            let kept = match (limit, rows) {
                (1024, _) => 0,
                (_, 3) => 1024,
                _ => 2048,
            };
            assert_eq!(b.nulls.before.len, kept, "limit {limit}, after {rows} rows");
        }
    }
}

#[test]
fn partial_row_is_never_emitted() {
    let mut b = ChangeBuilder::new(table()).unwrap();
    push(&mut b, 1, Some("a"));
    b.finish_row(meta(Op::Insert, 0), false, &[]);
    // Half a row: only the id column got a value before the (simulated) decode error.
    if let ColumnBuilder::Int64(c) = &mut b.columns[0] {
        c.append_value(2);
    }
    b.abandon_partial_row().unwrap();
    push(&mut b, 3, Some("c"));
    b.finish_row(meta(Op::Insert, 1), false, &[]);
    let batches = b.flush().unwrap();
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|bt| {
            let a = bt.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            a.values().to_vec()
        })
        .collect();
    assert_eq!(ids, vec![1, 3]);
}

#[test]
fn discarded_rows_never_appear() {
    let mut b = ChangeBuilder::new(table()).unwrap();
    push(&mut b, 1, Some("a"));
    b.finish_row(meta(Op::Insert, 0), false, &[]);
    push(&mut b, 2, Some("b"));
    b.finish_row(meta(Op::Insert, 1), false, &[]);
    b.set_xid(1, 99);
    b.discard_rows_from(1).unwrap();
    push(&mut b, 3, None);
    b.finish_row(meta(Op::Insert, 0), false, &[]);
    let batches = b.flush().unwrap();
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|bt| {
            let a = bt.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            a.values().to_vec()
        })
        .collect();
    assert_eq!(ids, vec![1, 3]);
    let xid = batches[0]
        .column_by_name("_xid")
        .unwrap()
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap();
    assert_eq!(xid.value(0), 7);
}

#[test]
fn set_commit_fills_positions_later() {
    let mut b = ChangeBuilder::new(table()).unwrap();
    push(&mut b, 1, None);
    b.finish_row(meta(Op::Insert, 0), false, &[]);
    b.set_commit(0, 555, 42);
    let batch = &b.flush().unwrap()[0];
    let pos = batch
        .column_by_name("_pos")
        .unwrap()
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap();
    assert_eq!(pos.value(0), 555);
}

/// `_pos`, `_xid` and `_commit_ts` are kept per stretch of rows that share them; commits and
/// transaction ids set from any row (inside a stretch, at its start, past the end) give what
/// setting them row by row gives.
#[test]
fn positions_set_from_any_row_match_a_row_by_row_model() {
    let mut b = ChangeBuilder::new(table()).unwrap();
    let mut model: Vec<(u64, u64, i64)> = Vec::new();
    let rows: [(u64, u64, i64); 7] = [
        (0, 1, 0),
        (0, 1, 0),
        (5, 1, 9),
        (5, 2, 9),
        (5, 2, 9),
        (0, 3, 0),
        (0, 3, 0),
    ];
    for (i, &(pos, xid, ts)) in rows.iter().enumerate() {
        push(&mut b, i as i64, None);
        let m = RowMeta {
            op: Op::Insert,
            pos,
            seq: i as u32,
            xid,
            commit_ts_us: ts,
        };
        b.finish_row(m, false, &[]);
        model.push((pos, xid, ts));
    }
    for (from, pos, ts) in [
        (6, 60, 600),
        (3, 30, 300),
        (0, 1, 2),
        (4, 40, 400),
        (9, 1, 1),
    ] {
        b.set_commit(from, pos, ts);
        for r in model.iter_mut().skip(from) {
            (r.0, r.2) = (pos, ts);
        }
    }
    for (from, xid) in [(2, 20), (5, 50), (7, 70)] {
        b.set_xid(from, xid);
        for r in model.iter_mut().skip(from) {
            r.1 = xid;
        }
    }
    let batch = &b.flush().unwrap()[0];
    let col = |name: &str| -> Vec<u64> {
        let a = batch.column_by_name(name).unwrap();
        match a.as_any().downcast_ref::<UInt64Array>() {
            Some(u) => u.values().to_vec(),
            None => a
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap()
                .values()
                .iter()
                .map(|&v| v as u64)
                .collect(),
        }
    };
    let got: Vec<(u64, u64, i64)> = (col("_pos").into_iter())
        .zip(col("_xid"))
        .zip(col("_commit_ts"))
        .map(|((p, x), t)| (p, x, t as i64))
        .collect();
    assert_eq!(got, model);
    assert_eq!(got[0], (1, 1, 2));
    assert_eq!(got[6], (40, 50, 400));
}

mod cuts {
    //! Cuts at the byte limit: with a small limit, a run of rows becomes several batches, each
    //! ended by the row that brought a variable-length column to the limit, and their
    //! concatenation is the one batch the default limit gives. Row indexes given before a cut keep
    //! working after it.

    use std::sync::Arc;

    use arrow_array::{Array, Int64Array, RecordBatch, UInt64Array};
    use arrow_schema::{DataType, Field};
    use arrow_select::concat::concat_batches;

    use crate::arrow::change::{ChangeBuilder, Op, RowMeta, SourceKind, TableSchema, BYTE_LIMIT};
    use crate::arrow::column::ColumnBuilder;

    fn table() -> Arc<TableSchema> {
        Arc::new(TableSchema {
            source: SourceKind::Postgres,
            table: "public.t".into(),
            schema_version: 3,
            columns: vec![
                Field::new("id", DataType::Int64, false),
                Field::new("note", DataType::Utf8, true),
                Field::new("tags", ColumnBuilder::list_type(DataType::Utf8), true),
                Field::new("blob", DataType::Binary, true),
            ],
            primary_key: vec!["id".into()],
            extra_metadata: vec![],
        })
    }

    /// One row's values.
    #[derive(Clone, Copy, Default)]
    struct Row<'a> {
        note: Option<&'a str>,
        tags: &'a [&'a str],
        blob: Option<&'a [u8]>,
        /// Old image: the note of the `_before` struct.
        before_note: Option<&'a str>,
        unchanged: &'a [usize],
    }

    fn append(cols: &mut [ColumnBuilder], id: i64, note: Option<&str>, row: &Row<'_>) {
        let [ColumnBuilder::Int64(i), ColumnBuilder::Utf8(n), ColumnBuilder::List(l), ColumnBuilder::Binary(b)] =
            cols
        else {
            panic!("unexpected builders");
        };
        i.append_value(id);
        n.append_option(note);
        if let ColumnBuilder::Utf8(v) = &mut l.values {
            for t in row.tags {
                v.append_value(t);
            }
        }
        l.append(true).unwrap();
        b.append_option(row.blob);
    }

    fn push(b: &mut ChangeBuilder, id: i64, row: &Row<'_>) {
        append(&mut b.columns, id, row.note, row);
        if let Some(old) = row.before_note {
            append(b.before_mut(), id, Some(old), &Row::default());
        }
        let meta = RowMeta {
            op: Op::Update,
            pos: 100,
            seq: id as u32,
            xid: 7,
            commit_ts_us: 1_700_000_000_000_000,
        };
        b.finish_row(meta, row.before_note.is_some(), row.unchanged);
    }

    fn run(limit: Option<usize>, rows: &[Row<'_>]) -> Vec<RecordBatch> {
        let mut b = ChangeBuilder::new(table()).unwrap();
        if let Some(l) = limit {
            b.set_byte_limit(l);
        }
        for (i, r) in rows.iter().enumerate() {
            push(&mut b, i as i64, r);
        }
        b.flush().unwrap()
    }

    fn ids(batches: &[RecordBatch]) -> Vec<Vec<i64>> {
        batches
            .iter()
            .map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                a.values().to_vec()
            })
            .collect()
    }

    /// The batches with a limit, checked against the one batch of the default limit.
    fn cut(limit: usize, rows: &[Row<'_>]) -> Vec<RecordBatch> {
        let whole = run(None, rows);
        assert_eq!(whole.len(), 1);
        let parts = run(Some(limit), rows);
        for p in &parts {
            assert_eq!(p.schema(), whole[0].schema());
        }
        let joined = concat_batches(&whole[0].schema(), &parts).unwrap();
        assert_eq!(joined, whole[0]);
        parts
    }

    #[test]
    fn the_limit_leaves_headroom_for_one_row_under_i32_max() {
        assert_eq!(BYTE_LIMIT + crate::arrow::ROW_HEADROOM, i32::MAX as usize);
    }

    #[test]
    fn a_text_column_ends_the_batch_at_the_row_that_reaches_the_limit() {
        let row = Row {
            note: Some("abcd"),
            ..Row::default()
        };
        // 4, 8, 12 >= 10: the third row ends each batch.
        let parts = cut(10, &[row; 7]);
        assert_eq!(ids(&parts), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    }

    #[test]
    fn list_elements_and_binary_bytes_count_too() {
        let tags = Row {
            tags: &["a", "b"],
            ..Row::default()
        };
        // Elements 2, 4, 6 >= 5 (their bytes stay under it).
        assert_eq!(ids(&cut(5, &[tags; 4])), vec![vec![0, 1, 2], vec![3]]);
        let blob = Row {
            blob: Some(b"xyz"),
            ..Row::default()
        };
        assert_eq!(ids(&cut(5, &[blob; 4])), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn old_images_and_unchanged_names_count_too() {
        let before = Row {
            before_note: Some("123456"),
            ..Row::default()
        };
        let plain = Row::default();
        // The old images' note column reaches 12 >= 10 at the second old image.
        assert_eq!(
            ids(&cut(10, &[before, plain, before, plain, before])),
            vec![vec![0, 1, 2], vec![3, 4]]
        );
        let unsent = Row {
            unchanged: &[1],
            ..Row::default()
        };
        // `_unchanged` holds "note" per row: 4, 8, 12.
        assert_eq!(ids(&cut(10, &[unsent; 4])), vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn the_op_column_counts_as_well() {
        // One byte of `_op` per row, nothing else variable.
        let parts = cut(3, &[Row::default(); 7]);
        assert_eq!(ids(&parts), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    }

    #[test]
    fn positions_set_later_reach_rows_before_the_cut() {
        let row = Row {
            note: Some("abcd"),
            ..Row::default()
        };
        let mut b = ChangeBuilder::new(table()).unwrap();
        b.set_byte_limit(10);
        for i in 0..5 {
            push(&mut b, i, &row);
        }
        assert_eq!(b.current_rows(), 5);
        b.set_commit(1, 999, 5);
        b.set_xid(1, 42);
        let parts = b.flush().unwrap();
        assert_eq!(ids(&parts), vec![vec![0, 1, 2], vec![3, 4]]);
        let col = |name: &str| -> Vec<u64> {
            parts
                .iter()
                .flat_map(|p| {
                    let a = p.column_by_name(name).unwrap();
                    a.as_any()
                        .downcast_ref::<UInt64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .collect()
        };
        assert_eq!(col("_pos"), vec![100, 999, 999, 999, 999]);
        assert_eq!(col("_xid"), vec![7, 42, 42, 42, 42]);
    }

    #[test]
    fn gtids_follow_their_rows_across_cuts_and_discards() {
        let row = Row {
            note: Some("abcd"),
            ..Row::default()
        };
        let mut b = ChangeBuilder::new(table()).unwrap();
        b.enable_gtid();
        b.set_byte_limit(10);
        for i in 0..5 {
            b.set_row_gtid((i != 3).then(|| Arc::from(format!("0-1-{i}"))));
            push(&mut b, i, &row);
        }
        b.discard_rows_from(4).unwrap();
        b.set_row_gtid(Some(Arc::from("0-1-9")));
        push(&mut b, 9, &row);
        let parts = b.flush().unwrap();
        let gtids: Vec<Option<String>> = parts
            .iter()
            .flat_map(|p| {
                let a = p.column_by_name(crate::arrow::change::names::GTID).unwrap();
                let a = a
                    .as_any()
                    .downcast_ref::<arrow_array::StringArray>()
                    .unwrap();
                (0..a.len())
                    .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(ids(&parts).concat(), vec![0, 1, 2, 3, 9]);
        assert_eq!(
            gtids,
            vec![
                Some("0-1-0".into()),
                Some("0-1-1".into()),
                Some("0-1-2".into()),
                None,
                Some("0-1-9".into())
            ]
        );
        // Without enable_gtid there is no column, and set_row_gtid does nothing.
        let mut b = ChangeBuilder::new(table()).unwrap();
        b.set_row_gtid(Some(Arc::from("0-1-1")));
        push(&mut b, 1, &row);
        assert!(b.flush().unwrap()[0]
            .column_by_name(crate::arrow::change::names::GTID)
            .is_none());
    }

    #[test]
    fn discarding_rows_reaches_back_across_a_cut() {
        let row = Row {
            note: Some("abcd"),
            ..Row::default()
        };
        let mut b = ChangeBuilder::new(table()).unwrap();
        b.set_byte_limit(10);
        for i in 0..5 {
            push(&mut b, i, &row);
        }
        b.discard_rows_from(2).unwrap();
        push(&mut b, 9, &row);
        assert_eq!(ids(&b.flush().unwrap()), vec![vec![0, 1], vec![9]]);

        for i in 0..5 {
            push(&mut b, i, &row);
        }
        b.discard_rows_from(4).unwrap();
        assert_eq!(ids(&b.flush().unwrap()), vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn a_partial_row_after_a_cut_never_appears() {
        let row = Row {
            note: Some("abcd"),
            ..Row::default()
        };
        let mut b = ChangeBuilder::new(table()).unwrap();
        b.set_byte_limit(10);
        for i in 0..4 {
            push(&mut b, i, &row);
        }
        if let ColumnBuilder::Int64(c) = &mut b.columns[0] {
            c.append_value(4);
        }
        b.abandon_partial_row().unwrap();
        push(&mut b, 5, &row);
        assert_eq!(b.len(), 5);
        assert_eq!(
            ids(&b.flush().unwrap()),
            vec![vec![0, 1, 2], vec![3], vec![5]]
        );
    }

    #[test]
    fn the_limit_stays_between_one_and_the_default() {
        let mut b = ChangeBuilder::new(table()).unwrap();
        assert_eq!(b.byte_limit(), BYTE_LIMIT);
        b.set_byte_limit(0);
        assert_eq!(b.byte_limit(), 1);
        b.set_byte_limit(usize::MAX);
        assert_eq!(b.byte_limit(), BYTE_LIMIT);
    }
}
