//! Golden-byte tests of [`super::parse`], one per message kind.

use super::{parse, Message, OldKind, RelColumn, Value};
use crate::pgoutput::testutil::{t, U, W};

fn vals<'a>(tuple: &super::Tuple<'a>) -> Vec<Value<'a>> {
    let mut v = Vec::new();
    tuple.values_into(&mut v);
    v
}

#[test]
fn begin_commit_origin() {
    let b = W::new(b'B').u64(0x1_0000_0010).i64(5).u32(77).0;
    assert_eq!(
        parse(&b, false, 0).unwrap(),
        Message::Begin {
            final_lsn: 0x1_0000_0010,
            commit_ts: 5,
            xid: 77
        }
    );
    let c = W::new(b'C').u8(0).u64(10).u64(20).i64(-3).0;
    assert_eq!(
        parse(&c, false, 0).unwrap(),
        Message::Commit {
            flags: 0,
            commit_lsn: 10,
            end_lsn: 20,
            commit_ts: -3
        }
    );
    let o = W::new(b'O').u64(9).str("node1").0;
    assert_eq!(
        parse(&o, false, 0).unwrap(),
        Message::Origin {
            commit_lsn: 9,
            name: "node1"
        }
    );
}

#[test]
fn relation_and_type_with_and_without_xid() {
    let body = |w: W| {
        w.u32(16384)
            .str("public")
            .str("t")
            .u8(b'd')
            .u16(2)
            .u8(1)
            .str("id")
            .u32(23)
            .i32(-1)
            .u8(0)
            .str("n")
            .u32(1700)
            .i32(655366)
    };
    let expect = |xid| Message::Relation {
        xid,
        relid: 16384,
        namespace: "public",
        name: "t",
        replica_identity: b'd',
        columns: vec![
            RelColumn {
                flags: 1,
                name: "id".into(),
                type_oid: 23,
                typmod: -1,
            },
            RelColumn {
                flags: 0,
                name: "n".into(),
                type_oid: 1700,
                typmod: 655366,
            },
        ],
    };
    assert_eq!(
        parse(&body(W::new(b'R')).0, false, 0).unwrap(),
        expect(None)
    );
    assert_eq!(
        parse(&body(W::new(b'R').u32(5)).0, true, 0).unwrap(),
        expect(Some(5))
    );
    // Parsed without the stream context, the xid would shift every field: an error, not garbage.
    assert!(parse(&body(W::new(b'R').u32(5)).0, false, 0).is_err());
    let y = W::new(b'Y')
        .u32(5)
        .u32(90000)
        .str("pg_catalog")
        .str("int4")
        .0;
    assert_eq!(
        parse(&y, true, 0).unwrap(),
        Message::Type {
            xid: Some(5),
            oid: 90000,
            namespace: "pg_catalog",
            name: "int4"
        }
    );
}

#[test]
fn insert_update_delete_tuples() {
    let i = W::new(b'I')
        .u32(1)
        .u8(b'N')
        .tuple(&[t("1"), None, U, Some(b"b:\x00\x01")])
        .0;
    let Message::Insert {
        xid: None,
        relid: 1,
        new,
    } = parse(&i, false, 0).unwrap()
    else {
        panic!("not an insert")
    };
    assert_eq!(
        vals(&new),
        vec![
            Value::Text(b"1"),
            Value::Null,
            Value::Unchanged,
            Value::Binary(&[0, 1])
        ]
    );
    // Update without old tuple, with a key (K) and with a full (O) old tuple.
    let u = W::new(b'U').u32(1).u8(b'N').tuple(&[t("2")]).0;
    assert!(matches!(
        parse(&u, false, 0).unwrap(),
        Message::Update { old: None, .. }
    ));
    for (marker, kind) in [(b'K', OldKind::Key), (b'O', OldKind::Full)] {
        let u = W::new(b'U')
            .u32(7)
            .u32(1)
            .u8(marker)
            .tuple(&[t("1")])
            .u8(b'N')
            .tuple(&[t("2")])
            .0;
        let Message::Update {
            xid: Some(7),
            old: Some((k, old)),
            new,
            ..
        } = parse(&u, true, 0).unwrap()
        else {
            panic!("not an update with old tuple")
        };
        assert_eq!(k, kind);
        assert_eq!(vals(&old), vec![Value::Text(b"1")]);
        assert_eq!(vals(&new), vec![Value::Text(b"2")]);
    }
    let d = W::new(b'D').u32(1).u8(b'O').tuple(&[t("1"), None]).0;
    let Message::Delete {
        old: (OldKind::Full, old),
        ..
    } = parse(&d, false, 0).unwrap()
    else {
        panic!("not a delete")
    };
    assert_eq!(old.len(), 2);
    let bad = W::new(b'D').u32(1).u8(b'N').tuple(&[t("1")]).0;
    assert!(parse(&bad, false, 0).is_err());
}

#[test]
fn truncate_and_logical_messages() {
    let tr = W::new(b'T').u32(2).u8(3).u32(10).u32(11).0;
    assert_eq!(
        parse(&tr, false, 0).unwrap(),
        Message::Truncate {
            xid: None,
            options: 3,
            relids: vec![10, 11]
        }
    );
    let m = W::new(b'M').u8(1).u64(42).str("app").u32(3).bytes(b"abc").0;
    assert_eq!(
        parse(&m, false, 0).unwrap(),
        Message::Message {
            xid: None,
            transactional: true,
            lsn: 42,
            prefix: "app",
            content: b"abc"
        }
    );
    let m = W::new(b'M').u32(9).u8(0).u64(42).str("").u32(0).0;
    assert!(matches!(
        parse(&m, true, 0).unwrap(),
        Message::Message {
            xid: Some(9),
            transactional: false,
            ..
        }
    ));
}

#[test]
fn streaming_messages() {
    assert_eq!(
        parse(&W::new(b'S').u32(5).u8(1).0, false, 0).unwrap(),
        Message::StreamStart {
            xid: 5,
            first_segment: true
        }
    );
    assert_eq!(parse(b"E", true, 0).unwrap(), Message::StreamStop);
    let c = W::new(b'c').u32(5).u8(0).u64(100).u64(120).i64(7).0;
    assert_eq!(
        parse(&c, false, 0).unwrap(),
        Message::StreamCommit {
            xid: 5,
            flags: 0,
            commit_lsn: 100,
            end_lsn: 120,
            commit_ts: 7
        }
    );
    let a = W::new(b'A').u32(5).u32(6).0;
    assert_eq!(
        parse(&a, false, 0).unwrap(),
        Message::StreamAbort {
            xid: 5,
            subxid: 6,
            abort: None
        }
    );
    let a4 = W::new(b'A').u32(5).u32(5).u64(300).i64(9).0;
    assert_eq!(
        parse(&a4, false, 0).unwrap(),
        Message::StreamAbort {
            xid: 5,
            subxid: 5,
            abort: Some((300, 9))
        }
    );
    assert!(parse(&W::new(b'A').u32(5).u32(5).u64(300).0, false, 0).is_err());
}

#[test]
fn two_phase_messages() {
    let b = W::new(b'b').u64(1).u64(2).i64(3).u32(4).str("g1").0;
    assert_eq!(
        parse(&b, false, 0).unwrap(),
        Message::BeginPrepare {
            prepare_lsn: 1,
            end_lsn: 2,
            prepare_ts: 3,
            xid: 4,
            gid: "g1"
        }
    );
    let p = W::new(b'P').u8(0).u64(1).u64(2).i64(3).u32(4).str("g1").0;
    assert!(matches!(
        parse(&p, false, 0).unwrap(),
        Message::Prepare { xid: 4, .. }
    ));
    let mut sp = p.clone();
    sp[0] = b'p';
    assert!(matches!(
        parse(&sp, false, 0).unwrap(),
        Message::StreamPrepare { gid: "g1", .. }
    ));
    let k = W::new(b'K').u8(0).u64(5).u64(6).i64(7).u32(4).str("g1").0;
    assert_eq!(
        parse(&k, false, 0).unwrap(),
        Message::CommitPrepared {
            flags: 0,
            commit_lsn: 5,
            end_lsn: 6,
            commit_ts: 7,
            xid: 4,
            gid: "g1"
        }
    );
    let r = W::new(b'r')
        .u8(0)
        .u64(2)
        .u64(8)
        .i64(3)
        .i64(9)
        .u32(4)
        .str("g1")
        .0;
    assert_eq!(
        parse(&r, false, 0).unwrap(),
        Message::RollbackPrepared {
            flags: 0,
            prepare_end_lsn: 2,
            rollback_end_lsn: 8,
            prepare_ts: 3,
            rollback_ts: 9,
            xid: 4,
            gid: "g1"
        }
    );
}

#[test]
fn malformed_input_is_an_error_with_position() {
    let full = W::new(b'I').u32(1).u8(b'N').tuple(&[t("hello")]).0;
    for cut in 0..full.len() {
        let e = parse(&full[..cut], false, 0x10).unwrap_err();
        assert!(e.to_string().contains("LSN 0/10"), "{e}");
    }
    assert!(parse(b"Z", false, 0).is_err());
    let trailing = W::new(b'E').u8(0).0;
    assert!(parse(&trailing, false, 0).is_err());
    let neg = W::new(b'I').u32(1).u8(b'N').u16(1).u8(b't').i32(-5).0;
    assert!(parse(&neg, false, 0).is_err());
}
