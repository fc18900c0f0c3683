//! Parsing of `pgoutput` messages, protocol versions 1 to 4 (PostgreSQL docs, "Logical
//! Replication Message Formats"). Parsing is by context: inside a streamed block (between Stream
//! Start and Stream Stop) the data messages carry the xid of their (sub)transaction first, and the
//! letters `K` and `r` only mean Commit Prepared and Rollback Prepared at the start of a message
//! (inside Update/Delete `K` marks an old key tuple).
//!
//! Messages borrow from the input; tuples are kept as validated raw slices and read column by
//! column by the decoder, so parsing allocates nothing per row. The decoder parses with
//! [`parse_for_decode`], which leaves the new tuple of an Insert or Update (the last part of its
//! message) to be checked while its values are decoded, so that each of its bytes is walked once.

use crate::reader::{Reader, Short};
use crate::{Error, Location, Result};

/// One column value of a TupleData (docs: "TupleData").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `n`: SQL NULL.
    Null,
    /// `u`: an unchanged TOASTed value the server did not send.
    Unchanged,
    /// `t`: text output form.
    Text(&'a [u8]),
    /// `b`: binary send form.
    Binary(&'a [u8]),
}

/// A TupleData: Int16 column count, then per column a kind byte and, for `t`/`b`, Int32 length and
/// bytes. Validated when the message is parsed by [`parse`]; the new tuple of a message parsed by
/// [`parse_for_decode`] holds the rest of its message unchecked (see [`Values::rest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple<'a> {
    ncols: u16,
    raw: &'a [u8],
}

impl<'a> Tuple<'a> {
    /// Number of columns.
    pub fn len(&self) -> usize {
        usize::from(self.ncols)
    }

    /// True for a tuple without columns.
    pub fn is_empty(&self) -> bool {
        self.ncols == 0
    }

    fn parse(r: &mut Reader<'a>) -> std::result::Result<Self, String> {
        let ncols = r.u16_be().map_err(short)?;
        let start = r.rest();
        match Self::frame(start, ncols) {
            Some(len) => {
                r.skip(len).map_err(short)?;
                Ok(Tuple {
                    ncols,
                    raw: start.get(..len).ok_or("tuple bounds")?,
                })
            }
            // Malformed: the careful walk below says what is wrong and where.
            None => Self::parse_checked(r, ncols),
        }
    }

    /// The length of `ncols` well-formed values at the start of `b`, or `None` when they are not
    /// all there. Every tuple of every row change passes here, so it is a plain walk over the
    /// bytes; a failure is explained by [`Tuple::parse_checked`].
    #[inline]
    fn frame(b: &[u8], ncols: u16) -> Option<usize> {
        let mut at = 0usize;
        for _ in 0..ncols {
            match *b.get(at)? {
                b'n' | b'u' => at += 1,
                b't' | b'b' => {
                    let len = b.get(at + 1..at + 5)?;
                    let n = usize::try_from(i32::from_be_bytes(len.try_into().ok()?)).ok()?;
                    at = at.checked_add(5 + n)?;
                    if at > b.len() {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        Some(at)
    }

    /// The tuple at the reader, taken as the rest of the message without walking it.
    fn rest(r: &mut Reader<'a>) -> std::result::Result<Self, String> {
        let ncols = r.u16_be().map_err(short)?;
        Ok(Tuple {
            ncols,
            raw: r.take_rest(),
        })
    }

    /// Whether the bytes are exactly the announced number of well-formed values.
    pub fn is_well_formed(&self) -> bool {
        Self::frame(self.raw, self.ncols) == Some(self.raw.len())
    }

    fn parse_checked(r: &mut Reader<'a>, ncols: u16) -> std::result::Result<Self, String> {
        let start = r.rest();
        let begin = r.pos();
        for i in 0..ncols {
            match r.u8().map_err(short)? {
                b'n' | b'u' => {}
                b't' | b'b' => {
                    let n = r.i32_be().map_err(short)?;
                    let n = usize::try_from(n).map_err(|_| format!("column {i}: length {n}"))?;
                    r.skip(n).map_err(short)?;
                }
                k => {
                    return Err(format!(
                        "column {i}: unknown tuple value kind {:?}",
                        k as char
                    ))
                }
            }
        }
        let len = r.pos() - begin;
        Ok(Tuple {
            ncols,
            raw: start.get(..len).ok_or("tuple bounds")?,
        })
    }

    /// The column values, in column order, read straight from the validated bytes.
    pub fn values(&self) -> Values<'a> {
        Values {
            raw: self.raw,
            left: self.ncols,
        }
    }

    /// The column values, in column order, into a reused buffer.
    pub fn values_into(&self, out: &mut Vec<Value<'a>>) {
        out.clear();
        out.extend(self.values());
    }
}

/// Iterator over the values of a [`Tuple`]. The tuple was validated when its message was parsed,
/// so it yields exactly [`Tuple::len`] values; were the bytes short after all, it would end early,
/// which callers detect by the count.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    raw: &'a [u8],
    left: u16,
}

impl<'a> Iterator for Values<'a> {
    type Item = Value<'a>;

    #[inline]
    fn next(&mut self) -> Option<Value<'a>> {
        self.left = self.left.checked_sub(1)?;
        let (&kind, rest) = self.raw.split_first()?;
        let (v, rest) = match kind {
            b'n' => (Value::Null, rest),
            b'u' => (Value::Unchanged, rest),
            b't' | b'b' => {
                let (len, rest) = rest.split_first_chunk::<4>()?;
                let n = usize::try_from(i32::from_be_bytes(*len)).ok()?;
                let (d, rest) = rest.split_at_checked(n)?;
                (
                    if kind == b't' {
                        Value::Text(d)
                    } else {
                        Value::Binary(d)
                    },
                    rest,
                )
            }
            _ => return None,
        };
        self.raw = rest;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

impl<'a> Values<'a> {
    /// The bytes after the values read so far. Once every value was read they are empty for a
    /// well-formed tuple; a tuple of [`parse_for_decode`] may have more, which makes its message
    /// malformed.
    pub fn rest(&self) -> &'a [u8] {
        self.raw
    }
}

/// Which old image an Update or Delete carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKind {
    /// `K`: the replica identity key columns (other columns are null).
    Key,
    /// `O`: the whole old row (REPLICA IDENTITY FULL).
    Full,
}

/// A column of a Relation message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    /// Flags; 1 = part of the key.
    pub flags: u8,
    pub name: String,
    pub type_oid: u32,
    pub typmod: i32,
}

/// A pgoutput message. `xid` fields marked optional are present only inside streamed blocks.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    Begin {
        final_lsn: u64,
        commit_ts: i64,
        xid: u32,
    },
    Commit {
        flags: u8,
        commit_lsn: u64,
        end_lsn: u64,
        commit_ts: i64,
    },
    Origin {
        commit_lsn: u64,
        name: &'a str,
    },
    Relation {
        xid: Option<u32>,
        relid: u32,
        namespace: &'a str,
        name: &'a str,
        replica_identity: u8,
        columns: Vec<RelColumn>,
    },
    Type {
        xid: Option<u32>,
        oid: u32,
        namespace: &'a str,
        name: &'a str,
    },
    Insert {
        xid: Option<u32>,
        relid: u32,
        new: Tuple<'a>,
    },
    Update {
        xid: Option<u32>,
        relid: u32,
        old: Option<(OldKind, Tuple<'a>)>,
        new: Tuple<'a>,
    },
    Delete {
        xid: Option<u32>,
        relid: u32,
        old: (OldKind, Tuple<'a>),
    },
    /// Options: 1 = CASCADE, 2 = RESTART IDENTITY.
    Truncate {
        xid: Option<u32>,
        options: u8,
        relids: Vec<u32>,
    },
    Message {
        xid: Option<u32>,
        transactional: bool,
        lsn: u64,
        prefix: &'a str,
        content: &'a [u8],
    },
    StreamStart {
        xid: u32,
        first_segment: bool,
    },
    StreamStop,
    StreamCommit {
        xid: u32,
        flags: u8,
        commit_lsn: u64,
        end_lsn: u64,
        commit_ts: i64,
    },
    /// `subxid == xid` aborts the whole transaction; `abort` (LSN, timestamp) is sent with
    /// protocol 4 parallel streaming.
    StreamAbort {
        xid: u32,
        subxid: u32,
        abort: Option<(u64, i64)>,
    },
    BeginPrepare {
        prepare_lsn: u64,
        end_lsn: u64,
        prepare_ts: i64,
        xid: u32,
        gid: &'a str,
    },
    Prepare {
        flags: u8,
        prepare_lsn: u64,
        end_lsn: u64,
        prepare_ts: i64,
        xid: u32,
        gid: &'a str,
    },
    CommitPrepared {
        flags: u8,
        commit_lsn: u64,
        end_lsn: u64,
        commit_ts: i64,
        xid: u32,
        gid: &'a str,
    },
    RollbackPrepared {
        flags: u8,
        prepare_end_lsn: u64,
        rollback_end_lsn: u64,
        prepare_ts: i64,
        rollback_ts: i64,
        xid: u32,
        gid: &'a str,
    },
    StreamPrepare {
        flags: u8,
        prepare_lsn: u64,
        end_lsn: u64,
        prepare_ts: i64,
        xid: u32,
        gid: &'a str,
    },
}

fn short(e: Short) -> String {
    e.to_string()
}

struct P<'a> {
    r: Reader<'a>,
    /// Whether a new (`N`) tuple is walked when parsed (see [`parse_for_decode`]).
    frame_new: bool,
}

impl<'a> P<'a> {
    fn u8(&mut self) -> std::result::Result<u8, String> {
        self.r.u8().map_err(short)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        self.r.u32_be().map_err(short)
    }
    fn i32(&mut self) -> std::result::Result<i32, String> {
        self.r.i32_be().map_err(short)
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        self.r.u64_be().map_err(short)
    }
    fn i64(&mut self) -> std::result::Result<i64, String> {
        self.r.i64_be().map_err(short)
    }
    fn str(&mut self) -> std::result::Result<&'a str, String> {
        let b = self
            .r
            .cstr()
            .map_err(|_| "unterminated string".to_string())?;
        std::str::from_utf8(b).map_err(|e| format!("string is not UTF-8: {e}"))
    }
    fn xid(&mut self, in_stream: bool) -> std::result::Result<Option<u32>, String> {
        if in_stream {
            self.u32().map(Some)
        } else {
            Ok(None)
        }
    }
    fn old_or_new(&mut self) -> std::result::Result<(u8, Tuple<'a>), String> {
        let k = self.u8()?;
        if !matches!(k, b'K' | b'O' | b'N') {
            return Err(format!(
                "expected tuple marker K, O or N, got {:?}",
                k as char
            ));
        }
        let t = if k == b'N' && !self.frame_new {
            // A new tuple ends its message (Insert, Update), so it is the rest.
            Tuple::rest(&mut self.r)?
        } else {
            Tuple::parse(&mut self.r)?
        };
        Ok((k, t))
    }
}

/// What kind of message this first byte is, for error messages.
fn kind_name(tag: u8) -> &'static str {
    match tag {
        b'B' => "Begin message",
        b'C' => "Commit message",
        b'O' => "Origin message",
        b'R' => "Relation message",
        b'Y' => "Type message",
        b'I' => "Insert message",
        b'U' => "Update message",
        b'D' => "Delete message",
        b'T' => "Truncate message",
        b'M' => "logical decoding message",
        b'S' => "Stream Start message",
        b'E' => "Stream Stop message",
        b'c' => "Stream Commit message",
        b'A' => "Stream Abort message",
        b'b' => "Begin Prepare message",
        b'P' => "Prepare message",
        b'K' => "Commit Prepared message",
        b'r' => "Rollback Prepared message",
        b'p' => "Stream Prepare message",
        _ => "pgoutput message",
    }
}

/// Parses one pgoutput message. `in_stream` says whether it arrived between Stream Start and
/// Stream Stop; `lsn` is only used to say where an error happened.
pub fn parse(data: &[u8], in_stream: bool, lsn: u64) -> Result<Message<'_>> {
    parse_with(data, in_stream, lsn, true)
}

/// Parses one pgoutput message like [`parse`], except that the new tuple of an Insert or Update
/// is not walked: it holds the rest of the message, whose reader must check that its values are
/// well formed and end it exactly ([`Values::rest`], [`Tuple::is_well_formed`]). When they are
/// not, [`parse`] of the same bytes gives the error to report.
pub fn parse_for_decode(data: &[u8], in_stream: bool, lsn: u64) -> Result<Message<'_>> {
    parse_with(data, in_stream, lsn, false)
}

fn parse_with(data: &[u8], in_stream: bool, lsn: u64, frame_new: bool) -> Result<Message<'_>> {
    let tag = data.first().copied().unwrap_or(0);
    let mut p = P {
        r: Reader::new(data),
        frame_new,
    };
    let res = parse_inner(&mut p, in_stream).and_then(|m| {
        if p.r.is_empty() {
            Ok(m)
        } else {
            Err(format!("{} unexpected bytes at the end", p.r.remaining()))
        }
    });
    res.map_err(|detail| {
        Error::decode(
            kind_name(tag),
            Location::Lsn {
                lsn,
                offset: Some(p.r.pos()),
            },
            detail,
        )
    })
}

fn parse_inner<'a>(p: &mut P<'a>, in_stream: bool) -> std::result::Result<Message<'a>, String> {
    let tag = p.u8().map_err(|_| "empty message".to_string())?;
    Ok(match tag {
        b'B' => Message::Begin {
            final_lsn: p.u64()?,
            commit_ts: p.i64()?,
            xid: p.u32()?,
        },
        b'C' => Message::Commit {
            flags: p.u8()?,
            commit_lsn: p.u64()?,
            end_lsn: p.u64()?,
            commit_ts: p.i64()?,
        },
        b'O' => Message::Origin {
            commit_lsn: p.u64()?,
            name: p.str()?,
        },
        b'R' => {
            let xid = p.xid(in_stream)?;
            let relid = p.u32()?;
            let namespace = p.str()?;
            let name = p.str()?;
            let replica_identity = p.u8()?;
            let n = p.r.i16_be().map_err(short)?;
            let n = usize::try_from(n).map_err(|_| format!("negative column count {n}"))?;
            let mut columns = Vec::with_capacity(n);
            for _ in 0..n {
                columns.push(RelColumn {
                    flags: p.u8()?,
                    name: p.str()?.to_string(),
                    type_oid: p.u32()?,
                    typmod: p.i32()?,
                });
            }
            Message::Relation {
                xid,
                relid,
                namespace,
                name,
                replica_identity,
                columns,
            }
        }
        b'Y' => Message::Type {
            xid: p.xid(in_stream)?,
            oid: p.u32()?,
            namespace: p.str()?,
            name: p.str()?,
        },
        b'I' => {
            let xid = p.xid(in_stream)?;
            let relid = p.u32()?;
            match p.old_or_new()? {
                (b'N', new) => Message::Insert { xid, relid, new },
                (k, _) => return Err(format!("Insert with {:?} tuple", k as char)),
            }
        }
        b'U' => {
            let xid = p.xid(in_stream)?;
            let relid = p.u32()?;
            let (k, t) = p.old_or_new()?;
            let (old, new) = match k {
                b'N' => (None, t),
                _ => {
                    let kind = if k == b'K' {
                        OldKind::Key
                    } else {
                        OldKind::Full
                    };
                    match p.old_or_new()? {
                        (b'N', new) => (Some((kind, t)), new),
                        (k, _) => {
                            return Err(format!("Update: {:?} tuple after old tuple", k as char))
                        }
                    }
                }
            };
            Message::Update {
                xid,
                relid,
                old,
                new,
            }
        }
        b'D' => {
            let xid = p.xid(in_stream)?;
            let relid = p.u32()?;
            let old = match p.old_or_new()? {
                (b'K', t) => (OldKind::Key, t),
                (b'O', t) => (OldKind::Full, t),
                _ => return Err("Delete without K or O tuple".into()),
            };
            Message::Delete { xid, relid, old }
        }
        b'T' => {
            let xid = p.xid(in_stream)?;
            let n = p.u32()?;
            let options = p.u8()?;
            let mut relids = Vec::with_capacity((n as usize).min(p.r.remaining() / 4));
            for _ in 0..n {
                relids.push(p.u32()?);
            }
            Message::Truncate {
                xid,
                options,
                relids,
            }
        }
        b'M' => {
            let xid = p.xid(in_stream)?;
            let flags = p.u8()?;
            let lsn = p.u64()?;
            let prefix = p.str()?;
            let len = p.u32()?;
            let content = p.r.take(len as usize).map_err(short)?;
            Message::Message {
                xid,
                transactional: flags & 1 != 0,
                lsn,
                prefix,
                content,
            }
        }
        b'S' => Message::StreamStart {
            xid: p.u32()?,
            first_segment: p.u8()? == 1,
        },
        b'E' => Message::StreamStop,
        b'c' => Message::StreamCommit {
            xid: p.u32()?,
            flags: p.u8()?,
            commit_lsn: p.u64()?,
            end_lsn: p.u64()?,
            commit_ts: p.i64()?,
        },
        b'A' => {
            let xid = p.u32()?;
            let subxid = p.u32()?;
            // Abort LSN and time follow only with streaming = parallel (protocol 4); the
            // message length tells which form this is.
            let abort = if p.r.is_empty() {
                None
            } else {
                Some((p.u64()?, p.i64()?))
            };
            Message::StreamAbort { xid, subxid, abort }
        }
        b'b' => Message::BeginPrepare {
            prepare_lsn: p.u64()?,
            end_lsn: p.u64()?,
            prepare_ts: p.i64()?,
            xid: p.u32()?,
            gid: p.str()?,
        },
        b'P' | b'p' => {
            let (flags, prepare_lsn, end_lsn, prepare_ts, xid, gid) =
                (p.u8()?, p.u64()?, p.u64()?, p.i64()?, p.u32()?, p.str()?);
            if tag == b'P' {
                Message::Prepare {
                    flags,
                    prepare_lsn,
                    end_lsn,
                    prepare_ts,
                    xid,
                    gid,
                }
            } else {
                Message::StreamPrepare {
                    flags,
                    prepare_lsn,
                    end_lsn,
                    prepare_ts,
                    xid,
                    gid,
                }
            }
        }
        b'K' => Message::CommitPrepared {
            flags: p.u8()?,
            commit_lsn: p.u64()?,
            end_lsn: p.u64()?,
            commit_ts: p.i64()?,
            xid: p.u32()?,
            gid: p.str()?,
        },
        b'r' => Message::RollbackPrepared {
            flags: p.u8()?,
            prepare_end_lsn: p.u64()?,
            rollback_end_lsn: p.u64()?,
            prepare_ts: p.i64()?,
            rollback_ts: p.i64()?,
            xid: p.u32()?,
            gid: p.str()?,
        },
        t => return Err(format!("unknown message type {:?} ({t:#04x})", t as char)),
    })
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
