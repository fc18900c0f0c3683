"""The value rows already in a MySQL/MariaDB table hold in a column ``ALTER TABLE ... ADD`` makes
(``ddl.altered_columns``), and how the source marks it on the table's later batches
(``added.AddedValues``): no server, statements as the binlog's QUERY events carry them."""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest

from arrowtail.sources.base import MISSING_VALUE
from arrowtail.sources.mysql.added import AddedValues
from arrowtail.sources.mysql.ddl import altered_columns


def added(definition: str) -> tuple[str | None, str]:
    """(value, why) of the one column ``ALTER TABLE t ADD COLUMN <definition>`` adds."""
    altered = altered_columns(f"ALTER TABLE t ADD COLUMN {definition}", "db")
    assert altered is not None and len(altered.added) == 1
    ((_, value, why),) = altered.added.values()
    return value, why


@pytest.mark.parametrize(
    ("definition", "value"),
    [
        ("c INT DEFAULT 5", "5"),
        ("c INT DEFAULT -5 NOT NULL", "-5"),
        ("c BIGINT UNSIGNED DEFAULT '18446744073709551615'", "18446744073709551615"),
        ("c TINYINT(1) DEFAULT TRUE", "1"),
        ("c BOOLEAN NOT NULL DEFAULT FALSE", "0"),
        ("c INT DEFAULT 2.0", "2"),
        ("c DECIMAL(6,2) DEFAULT +2.5", "2.5"),
        ("c DOUBLE DEFAULT -1.5e-3", "-1.5e-3"),
        ("c VARCHAR(9) DEFAULT 'new' COMMENT 'DEFAULT 7'", "new"),
        ("c VARCHAR(9) DEFAULT _utf8mb4'it''s\\\\x\\n'", "it's\\x\n"),
        ("c VARCHAR(9) DEFAULT N'x%' AFTER id", "x%"),
        ("c VARCHAR(9) DEFAULT 7 FIRST", "7"),
        ("c CHAR(4) DEFAULT 'ab  '", "ab"),
        ("c CHARACTER VARYING(4) DEFAULT 'ab  '", "ab  "),
        ("c TEXT NOT NULL", ""),
        ("c INT NOT NULL", "0"),
        ("c DECIMAL(5,1) NOT NULL", "0"),
        ("c ENUM('lo','Hi') NOT NULL", "lo"),
        ("c ENUM('lo','Hi') DEFAULT 'hi'", "Hi"),
        ("c DATE DEFAULT '2024-02-29'", "2024-02-29"),
        ("c DATETIME(3) DEFAULT '2024-02-29 10:00:00.125'", "2024-02-29 10:00:00.125"),
        ("c DATETIME DEFAULT '2024-02-29T10:00:00.000'", "2024-02-29 10:00:00.000"),
        ("c TIME DEFAULT '-838:59:59'", "-838:59:59"),
        ("c YEAR DEFAULT 2024", "2024"),
    ],
)
def test_a_default_the_rows_hold(definition: str, value: str) -> None:
    assert added(definition) == (value, "")


@pytest.mark.parametrize("definition", ["c INT", "c INT DEFAULT NULL", "c JSON", "c INT NULL"])
def test_a_null_column_needs_no_value(definition: str) -> None:
    assert added(definition) == (None, "")


@pytest.mark.parametrize(
    ("definition", "why"),
    [
        ("c DATETIME DEFAULT CURRENT_TIMESTAMP", "the default is an expression"),
        ("c INT DEFAULT (1 + 1)", "the default is an expression"),
        ("c INT NOT NULL AUTO_INCREMENT UNIQUE", "AUTO_INCREMENT numbers them"),
        ("c SERIAL", "AUTO_INCREMENT numbers them"),
        ("c INT AS (id + 1) STORED", "a generated column computes them"),
        ("c INT GENERATED ALWAYS AS (id) VIRTUAL", "a generated column computes them"),
        ("c TIMESTAMP DEFAULT '2024-01-01 00:00:00'", "of a TIMESTAMP column is not read here"),
        ("c DATETIME DEFAULT '2024-01-01 00:00:00.5'", "of a DATETIME column is not read here"),
        ("c DATE NOT NULL", "implicit default of a NOT NULL DATE column"),
        ("c DATE DEFAULT '0000-00-00'", "of a DATE column is not read here"),
        ("c INT DEFAULT 1.5", "of a INT column is not read here"),
        ("c VARBINARY(4) DEFAULT 'ab'", "of a VARBINARY column is not read here"),
        ("c BIT(1) DEFAULT b'1'", "the default is an expression"),
        ("c INT DEFAULT 0x10", "the default is an expression"),
    ],
)
def test_a_value_not_read_here_says_why(definition: str, why: str) -> None:
    value, told = added(definition)
    assert value is None and why in told


def test_one_statement_adds_drops_and_renames() -> None:
    altered = altered_columns(
        "ALTER TABLE `db2`.`t` ADD INDEX (a), ADD (a INT DEFAULT 1, b CHAR(2) NOT NULL),"
        " DROP COLUMN old, DROP PRIMARY KEY, DROP INDEX k, CHANGE c d INT,"
        " RENAME COLUMN e TO f, ADD CONSTRAINT x UNIQUE (a), ALGORITHM=INSTANT",
        "db",
    )
    assert altered is not None and altered.table == ("db2", "t") and not altered.forget_all
    assert altered.added == {"a": ("a", "1", ""), "b": ("b", "", "")}
    assert altered.removed == {"old", "c", "d", "e", "f"}
    renamed = altered_columns("ALTER TABLE t ADD COLUMN x INT DEFAULT 1, RENAME TO u", "db")
    assert renamed is not None and renamed.forget_all
    assert altered_columns("UPDATE t SET a = 1", "db") is None
    assert altered_columns("ALTER DATABASE db CHARACTER SET utf8mb4", "db") is None


def _ddl(pos: int, statement: str) -> tuple[str, int, pa.RecordBatch]:
    batch = pa.record_batch(
        {"_pos": [pos], "_seq": [0], "database": ["db"], "statement": [statement]}
    )
    return "_ddl", 0, batch


def _rows(pos: int, *columns: str) -> tuple[str, int, pa.RecordBatch]:
    data = {"_pos": pa.array([pos, pos + 1], pa.int64())}
    data |= {c: pa.array([1, 2], pa.int32()) for c in columns}
    return "db.t", len(columns), pa.record_batch(data)


def _marks(item: tuple[str, int, pa.RecordBatch]) -> dict[str, str]:
    return {
        f.name: f.metadata[MISSING_VALUE.encode()].decode()
        for f in item[2].schema
        if f.metadata and MISSING_VALUE.encode() in f.metadata
    }


def test_batches_carry_the_value_in_force_at_their_first_row() -> None:
    values = AddedValues(lambda table: True)
    out = values.apply(
        [
            _rows(10, "id"),
            _rows(30, "id", "C"),  # names compare without case
            _rows(50, "id", "c"),
            _rows(70, "id", "c"),
            _ddl(20, "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 5"),
            _ddl(40, "ALTER TABLE t DROP COLUMN c"),
            _ddl(45, "ALTER TABLE t ADD COLUMN c INT DEFAULT 7"),
            _ddl(60, "ALTER TABLE t ADD INDEX (c)"),  # leaves the value alone
            _ddl(65, "ALTER TABLE other ADD COLUMN c INT DEFAULT 9"),
        ]
    )
    assert [_marks(item) for item in out[:4]] == [{}, {"C": "5"}, {"c": "7"}, {"c": "7"}]
    # The value lasts into later polls, and into a spilled transaction's rows.
    assert _marks(values.apply([_rows(80, "id", "c")])[0]) == {"c": "7"}
    assert _marks(values.mark([_rows(90, "id", "c")])[0]) == {"c": "7"}
    for statement, kept in [
        ("ALTER TABLE t CHANGE c c BIGINT", {}),
        ("ALTER TABLE t ADD COLUMN c INT", {}),
        ("RENAME TABLE t TO u", {}),
        ("DROP TABLE t", {}),
        ("CREATE TABLE t (id INT, c INT)", {}),
        ("ALTER TABLE t RENAME TO u", {}),
        ("ALTER TABLE t ADD COLUMN d INT DEFAULT 1", {"c": "7"}),
        ("TRUNCATE t", {"c": "7"}),
    ]:
        values = AddedValues(lambda table: True)
        values.apply([_ddl(1, "ALTER TABLE t ADD COLUMN c INT DEFAULT 7")])
        out = values.apply([_ddl(2, statement), _rows(3, "id", "c")])
        assert _marks(out[1]) == kept, statement


def test_a_value_not_read_is_a_warning_for_captured_tables_only(caplog) -> None:
    values = AddedValues(lambda table: table == "db.t")
    with caplog.at_level(logging.WARNING, "arrowtail.mysql"):
        values.apply(
            [
                _ddl(1, "ALTER TABLE t ADD at DATETIME DEFAULT NOW(), ADD n INT DEFAULT 1"),
                _ddl(2, "ALTER TABLE skipped ADD at DATETIME DEFAULT NOW()"),
            ]
        )
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "db.t: ALTER TABLE added at (the default is an expression); the rows already there"
    )
