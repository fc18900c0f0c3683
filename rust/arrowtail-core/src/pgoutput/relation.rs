//! Relation messages: each announced relation becomes a [`RelVersion`] (Arrow fields through the
//! type codecs, key columns, replica identity). A relation whose shape changed gets the next
//! schema version of its table, and the rows decoded before the change are cut into their own
//! batches first. Also the fixed schema of the `_messages` pseudo-table.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow_schema::{DataType, Field};

use super::decoder::{arrow_err, Decoder};
use super::message::RelColumn;
use super::row_buffer::RelVersion;
use crate::arrow::{SourceKind, TableSchema};
use crate::types::postgres::PgType;
use crate::Result;

/// Relations by id. Every row change looks its relation up, so the ids are hashed by one
/// multiplication instead of SipHash: they are OIDs the server assigns, not input an attacker
/// picks to collide.
pub(super) type Relations = HashMap<u32, Arc<RelVersion>, BuildHasherDefault<RelIdHasher>>;

/// Hasher of relation ids (see [`Relations`]): Fibonacci hashing, which spreads consecutive
/// OIDs over the high bits the table's probing uses.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct RelIdHasher(u64);

impl Hasher for RelIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u32` is used for `u32` keys; this keeps other input well defined.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The `_messages` pseudo-table: logical decoding messages (`pg_logical_emit_message`).
pub(super) fn messages_rel() -> Arc<RelVersion> {
    let columns = vec![
        Field::new("prefix", DataType::Utf8, true),
        Field::new("content", DataType::Binary, true),
        Field::new("transactional", DataType::Boolean, true),
        Field::new("lsn", DataType::UInt64, true),
    ];
    Arc::new(RelVersion {
        relid: 0,
        table: Arc::new(TableSchema {
            source: SourceKind::Postgres,
            table: "_messages".into(),
            schema_version: 1,
            columns,
            primary_key: vec![],
            extra_metadata: vec![],
        }),
        types: vec![],
        shape: ("_messages".into(), vec![]),
    })
}

impl Decoder {
    pub(super) fn relation(
        &mut self,
        relid: u32,
        namespace: &str,
        name: &str,
        replica_identity: u8,
        columns: &[RelColumn],
        lsn: u64,
    ) -> Result<()> {
        let qualified = format!("{namespace}.{name}");
        match self.relids.insert(qualified.clone(), relid) {
            Some(before) if before != relid => match self.open_held_xid() {
                // In a transaction still open (streamed in progress, or prepared), the new table
                // and its rows are not yet visible to a reader: the replacement counts from its
                // commit.
                Some(xid) => {
                    let held = self.held.entry(xid).or_default();
                    held.replaced.push((qualified.clone(), before, relid));
                }
                None if !self.replaced.contains(&qualified) => {
                    self.replaced.push(qualified.clone())
                }
                None => {}
            },
            _ => {}
        }
        let shape = (
            format!("{qualified} {}", char::from(replica_identity)),
            columns
                .iter()
                .map(|c| {
                    let t = self.aliases.get(&c.type_oid).copied().unwrap_or(c.type_oid);
                    (c.name.clone(), t, c.typmod, c.flags & 1 != 0)
                })
                .collect::<Vec<_>>(),
        );
        if let Some(cur) = self.relations.get(&relid) {
            if cur.shape == shape {
                return Ok(());
            }
        }
        let version = match self.versions.get(&qualified) {
            Some(v) if v.shape == shape => {
                self.relations.insert(relid, v.clone());
                return Ok(());
            }
            Some(v) => v.table.schema_version + 1,
            None => 1,
        };
        // A new shape: cut the committed rows of the old version so rows before and after the
        // change land in different batches.
        if let Some(old) = self.relations.get(&relid) {
            let key = (relid, old.table.schema_version);
            if let Some(buf) = self.main.get_mut(&key) {
                let done = buf
                    .take_committed()
                    .map_err(|e| arrow_err(qualified.clone(), lsn, e))?;
                let done: Vec<_> = done.into_iter().map(|b| buf.batch(b)).collect();
                self.ready.extend(done);
            }
        }
        let types: Vec<PgType> = columns
            .iter()
            .map(|c| PgType::resolve(c.type_oid, c.typmod, &self.aliases))
            .collect();
        let fields = columns
            .iter()
            .zip(&types)
            .map(|(c, t)| t.field(&c.name))
            .collect();
        let rel = Arc::new(RelVersion {
            relid,
            table: Arc::new(TableSchema {
                source: SourceKind::Postgres,
                table: qualified.clone(),
                schema_version: version,
                columns: fields,
                primary_key: columns
                    .iter()
                    .filter(|c| c.flags & 1 != 0)
                    .map(|c| c.name.clone())
                    .collect(),
                // With REPLICA IDENTITY FULL every column is flagged as key, so consumers need
                // to know what the key columns stand for: d(efault), n(othing), f(ull), i(ndex).
                extra_metadata: vec![(
                    "arrowtail.replica_identity".into(),
                    char::from(replica_identity).to_string(),
                )],
            }),
            types,
            shape,
        });
        self.versions.insert(qualified, rel.clone());
        self.relations.insert(relid, rel);
        Ok(())
    }
}
