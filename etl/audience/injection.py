"""CSV injection: cells a spreadsheet would run as a formula get a leading ``'`` in the outputs (issue 16).

Marketing opens the allowed and blocked files in Excel or LibreOffice, which evaluate a cell that
starts with ``=``, ``+``, ``-`` or ``@`` (and one that starts with a tab or a carriage return, which
they drop first) as a formula: ``=HYPERLINK("http://evil","x")``, ``=cmd|' /C calc'!A0`` (DDE).
OWASP's rule (https://owasp.org/www-community/attacks/CSV_Injection): prefix such a cell with a
single quote, which makes the spreadsheet show it as text.

Left as they are, because a spreadsheet cannot run anything in them and they are what the file is
about: cells that start with ``+`` or ``-`` followed only by digits and ``space . , ( ) / -`` (at
most `MAX_PLAIN` of them): phone numbers (``+33 6 12 34 56 78``, ``+33612345678``,
``+33 (0)6 12 34 56 78``), plain numbers (``-12.5``, ``-12,5``) and a lone ``-``. Arithmetic of
digits is all such a cell can be; a function call needs letters, DDE needs ``|`` or ``!``.

Only the outputs change: numbers are read from the input as it is, and the prefix goes inside the
quotes of a quoted cell (``"'=1+1"``). The stream path (`neutralise`, per record) and the chunked
path (`etl.audience.vectorized.formula_cells`, per chunk, with numpy) apply the same rule; tests
check they agree.

A cell starts at the start of a record or after a delimiter outside quotes; a quoted cell's text
starts after its opening quote. An unquoted carriage return is a line end, not a cell.
"""

from __future__ import annotations

import functools
import re

#: A cell starting with one of these is a formula for a spreadsheet (OWASP).
TRIGGERS = "=+-@\t\r"
#: What may follow a leading ``+``/``-`` in a plain phone number or number.
PLAIN = frozenset("0123456789 .,()/-")
MAX_PLAIN = 32
PREFIX = "'"


@functools.cache
def maybe_formula(delimiter: str) -> re.Pattern[str]:
    """A trigger at a record's start or after a delimiter, maybe behind a quote: the cheap first test."""
    return re.compile(f'(?:^|{re.escape(delimiter)})"?[{re.escape(TRIGGERS)}]')


def is_plain(text: str) -> bool:
    """``text`` (a cell's text after its leading ``+``/``-``) is digits and separators only (or nothing)."""
    return len(text) <= MAX_PLAIN and PLAIN.issuperset(text)


def formula_starts(record: str, delimiter: str) -> list[int]:
    """Positions in ``record`` (one CSV record, its line end included or not) of the cells to neutralise.

    Each position is a cell's first character (inside the quotes for a quoted cell); the prefix
    goes just before it.
    """
    if maybe_formula(delimiter).search(record) is None:
        return []
    content_end = len(record.rstrip("\r\n"))
    found: list[int] = []
    position = 0
    while position < content_end:
        quoted = record[position] == '"'
        first = position + 1 if quoted else position
        char = record[first] if first < content_end else ""
        if char and char in TRIGGERS and (quoted or (char != delimiter and char != "\r")):
            if quoted:
                close = record.find('"', first)
                after = record[close + 1 : close + 2] if close >= 0 else '"'
                plain = close >= 0 and after in (delimiter, "\r", "\n", "") and is_plain(record[first + 1 : close])
            else:
                end = record.find(delimiter, first)
                plain = is_plain(record[first + 1 : end if 0 <= end < content_end else content_end])
            if not (char in "+-" and plain):
                found.append(first)
        position = _next_cell(record, position, delimiter, content_end)
    return found


def _next_cell(record: str, position: int, delimiter: str, content_end: int) -> int:
    """Where the cell after the one starting at ``position`` starts (``content_end`` when none)."""
    inside = False
    while position < content_end:
        char = record[position]
        if char == '"':
            inside = not inside
        elif char == delimiter and not inside:
            return position + 1
        position += 1
    return content_end


def neutralise(record: str, delimiter: str) -> str:
    """``record`` with `PREFIX` before each cell a spreadsheet would run as a formula."""
    starts = formula_starts(record, delimiter)
    if not starts:
        return record
    parts = []
    previous = 0
    for start in starts:
        parts.append(record[previous:start])
        parts.append(PREFIX)
        previous = start
    parts.append(record[previous:])
    return "".join(parts)
