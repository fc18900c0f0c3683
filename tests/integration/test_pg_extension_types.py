"""PostgreSQL's extension types, named strings, geometric types and their arrays through each of
arrowtail's own sinks: a PostgreSQL target made from the source's own table definition, a
PostgreSQL and a MariaDB target made by ``--create-tables`` (which carries these types as text),
Parquet, Iceberg and Delta. An initial snapshot, then updates, an insert and a delete streamed
(text tuples: ``circle`` and others have no binary decoder), and ``arrowtail verify`` finds the
target equal to the source. The target made from the source's definition keeps its types."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli
from tests.support.pg_run import EXTENSIONS, drop_slot, fresh_db

COLUMNS = """
  id int PRIMARY KEY, b1 bit(1), b8 bit(8), vb bit varying(16), vu bit varying, x xml, lt ltree,
  hs hstore, tv tsvector, tq tsquery, mac macaddr, m8 macaddr8, ci citext, nr numrange,
  dr daterange, tr tstzrange, mr int4multirange, pt point, bx box, ls lseg, pa path, po polygon,
  cr circle, ln line, hsa hstore[], lta ltree[], ba bit(3)[], pta point[], cia citext[], oi oid,
  pl pg_lsn, txs txid_snapshot, cd cidr
"""
SEED = """
INSERT INTO x VALUES (1, B'1', B'10100101', B'101', B'0110', '<a>x</a>', 'top.mid',
  'a=>1, b=>NULL, "k q"=>"x, \\"y\\""', 'fat cat', 'fat & cat', '08:00:2b:01:02:03',
  '08:00:2b:01:02:03:04:05', 'MiXed', '[1.5,2.5)', '[2024-01-01,2024-02-01)',
  '[2024-01-01 00:00+00,)', '{[1,3), [5,7)}', '(1.5,-2)', '((1,2),(-3.5,4))', '[(0,0),(1,1.5)]',
  '((0,0),(1,1),(2,0))', '((0,0),(0,1),(1,1))', '<(1,2),3.5>', '{1,-1,0.5}',
  ARRAY['x=>1, y=>NULL'::hstore, NULL], ARRAY['a.b'::ltree, 'c'], ARRAY[B'101', NULL],
  ARRAY[point '(1,2)', NULL], ARRAY['Ab'::citext], 4000000000, '16/B374D848', '10:20:10,14,15',
  '10.1.0.0/16');
INSERT INTO x (id) VALUES (2), (4);
"""
CHANGES = """
UPDATE x SET b8 = B'00000000', vb = B'1111000011', vu = B'', hs = hs || 'c=>3', pt = '(0,0)',
  bx = '((0,0),(1,1))', lt = 'a', ln = '{0,1,2}', hsa = NULL, ba = ARRAY[B'111'],
  tq = 'a | b', mr = '{}', pa = '[(1e300,-1e-300),(2,2)]' WHERE id = 1;
UPDATE x SET hs = '', ci = 'x', cr = '<(0,0),0>' WHERE id = 4;
INSERT INTO x (id, b8, hs, pt, mac) VALUES (3, B'11111111', 'bb=>1, a=>2', '(-0.5,1e-300)',
  '01:02:03:04:05:06');
DELETE FROM x WHERE id = 2;
"""
TARGETS = ["postgresql-same", "postgresql", "mariadb", "parquet", "iceberg", "delta"]


def _types(conn: Any) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'public.x'::regclass AND attnum > 0 AND NOT attisdropped"
    ).fetchall()
    return dict(rows)


@pytest.mark.parametrize("target", TARGETS)
def test_odd_types_reach_every_sink_equal(
    target: str, postgres: Any, mariadb: Any, tmp_path: Path
) -> None:
    db = slot = f"ext_{target}".replace("-", "_")
    src = fresh_db(postgres, db)
    src.execute(EXTENSIONS)
    src.execute(f"CREATE TABLE x ({COLUMNS})")
    src.execute(SEED)
    src.execute("CREATE PUBLICATION extp FOR TABLE x")
    env = dict(os.environ)
    tgt = None
    if target.startswith("postgresql"):
        tgt = fresh_db(postgres, f"{db}_tgt")
        tgt.execute(EXTENSIONS)
        url = postgres.dsn_for(postgres.user, None, f"{db}_tgt")
        to = [url, "--create-tables"]
        if target == "postgresql-same":
            tgt.execute(f"CREATE TABLE x ({COLUMNS})")
            to = [url]
    elif target == "mariadb":
        my = mariadb.connect()
        with my.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db}")
        my.close()
        url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{db}"
        to = [url, "--create-tables"]
        env["ARROWTAIL_TARGET_PASSWORD"] = mariadb.password
    else:
        url = f"{target}:{tmp_path / 'out'}"
        to = [url]
    source = postgres.dsn_for(postgres.user, None, db)
    args = ["run", "--source", source, "--slot", slot, "--publication", "extp", "--to", *to]
    args += ["--checkpoint", str(tmp_path / "cp.json")]
    try:
        first = cli(*args, "--snapshot", "initial", "--idle-exit", "2", env=env)
        assert first.returncode == 0, first.stderr
        src.execute(CHANGES)
        second = cli(*args, "--idle-exit", "2", env=env)
        assert second.returncode == 0, second.stderr
        assert "text tuples" in second.stderr
        verify = cli(
            "verify", "--source", source, "--against", url, "--tables", "public.x", env=env
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "public.x: equal (3 rows" in verify.stdout, verify.stdout
        if target == "postgresql-same":
            assert tgt is not None and _types(tgt) == _types(src)
    finally:
        drop_slot(postgres, db, slot, missing_ok=True)
        src.close()
        if tgt is not None:
            tgt.close()
