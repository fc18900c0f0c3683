//! Shared by the cut tests: a whole-input decode as the reference, and the check that some
//! batches are exactly its rows in a range of commit positions, table by table, in order.

use std::collections::BTreeMap;

use arrow_array::{RecordBatch, UInt64Array};
use arrow_select::concat::concat_batches;
use arrowtail_core::arrow::ChangeBatch;

/// The rows of a whole-input decode per `table@schema_version`, with their `_pos`.
pub struct Reference {
    tables: BTreeMap<String, (RecordBatch, Vec<u64>)>,
}

fn key(b: &ChangeBatch) -> String {
    format!("{}@{}", b.table, b.schema_version)
}

fn positions(b: &RecordBatch) -> Vec<u64> {
    b.column_by_name("_pos")
        .expect("a change batch has _pos")
        .as_any()
        .downcast_ref::<UInt64Array>()
        .expect("_pos is uint64")
        .values()
        .to_vec()
}

impl Reference {
    pub fn new(batches: &[ChangeBatch]) -> Self {
        let mut per: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
        for b in batches {
            per.entry(key(b)).or_default().push(b.batch.clone());
        }
        let tables = per
            .into_iter()
            .map(|(t, v)| {
                let all = concat_batches(&v[0].schema(), &v).expect("batches of one schema");
                let pos = positions(&all);
                assert!(
                    pos.windows(2).all(|w| w[0] <= w[1]),
                    "{t}: rows of a table come in commit order"
                );
                (t, (all, pos))
            })
            .collect();
        Self { tables }
    }

    pub fn rows(&self) -> usize {
        self.tables.values().map(|(b, _)| b.num_rows()).sum()
    }

    /// Ok when `got` holds, per table and in order, exactly the reference rows whose `_pos` is
    /// in `after < pos <= upto`: none missing, none added, none repeated, every value equal.
    pub fn check(&self, got: &[ChangeBatch], after: u64, upto: u64) -> Result<(), String> {
        let mut per: BTreeMap<String, Vec<&RecordBatch>> = BTreeMap::new();
        for b in got {
            if b.batch.num_rows() > 0 {
                per.entry(key(b)).or_default().push(&b.batch);
            }
        }
        let mut problems = Vec::new();
        for (t, (all, pos)) in &self.tables {
            let from = pos.partition_point(|&p| p <= after);
            let to = pos.partition_point(|&p| p <= upto);
            let mut at = from;
            for b in per.remove(t).unwrap_or_default() {
                let n = b.num_rows();
                if at + n > to {
                    problems.push(format!(
                        "{t}: rows {at}..{} given, only {from}..{to} are in range (positions {:?})",
                        at + n,
                        positions(b)
                            .iter()
                            .map(|p| p & 0xFFFF_FFFF)
                            .collect::<Vec<_>>()
                    ));
                    at = usize::MAX / 2;
                    break;
                }
                if *b != all.slice(at, n) {
                    problems.push(format!(
                        "{t}: rows {at}..{} differ from the reference",
                        at + n
                    ));
                }
                at += n;
            }
            if at < to {
                problems.push(format!(
                    "{t}: rows {at}..{to} missing (positions {:?})",
                    pos[at..to]
                        .iter()
                        .map(|p| p & 0xFFFF_FFFF)
                        .collect::<Vec<_>>()
                ));
            }
        }
        for t in per.keys() {
            problems.push(format!("{t}: not in the reference at all"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}
