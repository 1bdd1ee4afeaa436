"""`etl.phone_numbers.codes`: country codes read from the first digits of a number."""

from __future__ import annotations

from etl.phone_numbers.codes import code_prefix, code_prefixes


def test_one_prefix_at_a_time_gives_the_whole_tables_answer() -> None:
    table = code_prefixes()
    for value in range(1000):
        head = f"{value:03d}"
        assert code_prefix(head) == table.get(head), head
