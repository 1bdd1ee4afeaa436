"""`etl.phone_numbers.tables`: the prefix tables give the regular expressions' answers."""

from __future__ import annotations

import random

from etl.phone_numbers.tables import ASK, checker
from etl.phone_numbers.validity import validator


def test_prefix_tables_agree_with_the_regex_number_by_number() -> None:
    """`checker`'s table (first digits decide) gives `validator`'s answer for every table cell."""
    rng = random.Random(8)
    for code in (33, 49, 34, 32, 41, 43, 31, 48, 351, 353, 687, 262, 590, 1, 44, 39):
        for length in range(4, 13):
            div, cells, full, off = checker(code, length)
            regex = validator(code, length)
            for _ in range(400):
                nsn = str(rng.randrange(1, 10)) + "".join(rng.choice("0123456789") for _ in range(length - 1))
                verdict = cells[int(nsn) // div]
                plus = cells[int(f"{code}{nsn}") // div - off]
                for answer in (verdict, plus):
                    if answer is None:
                        continue
                    if answer == ASK:
                        answer = bool(full(nsn))
                    assert bool(answer) == bool(regex(nsn)), (code, nsn)
