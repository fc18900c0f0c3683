"""``--tables`` entries: names, column lists and row filters, and the list splitting that keeps
commas inside them."""

from __future__ import annotations

import pytest

from arrowtail import config
from arrowtail.exceptions import ConfigError
from arrowtail.tables import Selection, TableSpec, parse, parse_all, split_list


def test_entries_with_column_lists_and_filters() -> None:
    assert parse("public.orders") == TableSpec("public.orders")
    assert parse(' "My Schema"."Odd""Name" ') == TableSpec('My Schema.Odd"Name')
    spec = parse("public.orders (id, \"Total\" ) where (status <> 'a,b' AND total > 0)")
    assert spec == TableSpec("public.orders", ("id", "Total"), "(status <> 'a,b' AND total > 0)")
    assert str(spec) == "public.orders (id, Total) WHERE (status <> 'a,b' AND total > 0)"
    assert parse("s.t WHERE (x IN (1, 2))").where == "(x IN (1, 2))"


@pytest.mark.parametrize(
    "bad",
    ["orders", "public.orders WHERE status = 1", "public.orders ()", "public.t (a", "a.b.c"],
)
def test_malformed_entries_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="source.tables"):
        parse(bad)


def test_list_splits_only_at_top_level_commas() -> None:
    text = "public.a (x, y) WHERE (z IN (1, 2) AND w <> ','), public.b ,, public.c"
    assert split_list(text) == [
        "public.a (x, y) WHERE (z IN (1, 2) AND w <> ',')",
        "public.b",
        "public.c",
    ]
    with pytest.raises(ConfigError, match="names public.a twice"):
        parse_all(["public.a", "public.a (x)"])


def test_config_keeps_entries_whole_and_refuses_filters_for_mysql() -> None:
    cfg = config.load(
        overrides={
            "source": {"url": "postgresql://u@h/db", "tables": "public.a (x, y), public.b"},
            "sink": {"url": "jsonl:-"},
            "transform": {"key_columns": "public.b:k1,k2;public.c:k"},
        }
    )
    assert cfg.source.tables == ["public.a (x, y)", "public.b"]
    assert cfg.transform.key_columns == ["public.b:k1,k2", "public.c:k"]
    with pytest.raises(ConfigError, match="PostgreSQL publication features"):
        config.load(
            overrides={
                "source": {"url": "mysql://u@h/", "tables": "db.t WHERE (x > 1)"},
                "sink": {"url": "jsonl:-"},
            }
        )


def test_selection_of_names_and_patterns() -> None:
    sel = Selection(["shop.orders", "shop.order_?", "*.audit_[0-9]*"])
    assert sel and not Selection([])
    picked = [
        n
        for n in ["shop.orders", "shop.order_1", "shop.order_10", "x.audit_7", "x.audit_x"]
        if sel(n)
    ]
    assert picked == ["shop.orders", "shop.order_1", "x.audit_7"]
    assert not sel("Shop.orders")  # case counts, as in the transforms' table patterns
    assert sel.unmatched(["shop.order_1", "other.t"]) == (["shop.orders"], ["*.audit_[0-9]*"])


def test_wildcards_are_for_mysql_sources_only() -> None:
    cfg = config.load(
        overrides={
            "source": {"url": "mysql://u@h/", "tables": "shop.*,b.t"},
            "sink": {"url": "jsonl:-"},
        }
    )
    assert cfg.source.tables == ["shop.*", "b.t"]
    with pytest.raises(ConfigError, match=r"public\.\* uses wildcards, which only MySQL/MariaDB"):
        config.load(
            overrides={
                "source": {"url": "postgresql://u@h/db", "tables": "public.*"},
                "sink": {"url": "jsonl:-"},
            }
        )
    from arrowtail.sources.postgres.source import PostgresSource

    with pytest.raises(ConfigError, match="FOR TABLES IN SCHEMA"):
        PostgresSource("postgresql://u@h/db", slot="s", publication="p", tables=["public.t_?"])
