"""CSV injection (issue 16): formula cells get a leading ``'`` in the outputs; phone numbers and numbers do not.

OWASP's examples (https://owasp.org/www-community/attacks/CSV_Injection), in any column, through
the CLI and on both paths (chunked with numpy, and the one-process stream), which must agree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.audience import StopSet, filter_audience
from etl.audience.injection import formula_starts, neutralise
from etl.cli import cli

OWASP = [
    '=HYPERLINK("http://evil","x")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "=1+1",
    "@x",
    "-",  # a lone '-' is text to a spreadsheet
]
PLAIN = ["+33 6 12 34 56 78", "+33612345678", "+33 (0)6 12 34 56 78", "-12.5", "-12,5", "+5", "0612345678",
         "Saint-Denis", "a=b", "x+1", ""]
FORMULAS = set(OWASP) - {"-"}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ('=HYPERLINK("http://evil","x");0612345678\n', '\'=HYPERLINK("http://evil","x");0612345678\n'),
        ('a;"=HYPERLINK(""http://evil"",""x"")"\n', 'a;"\'=HYPERLINK(""http://evil"",""x"")"\n'),
        ("a;=cmd|' /C calc'!A0\r\n", "a;'=cmd|' /C calc'!A0\r\n"),
        ("@SUM(1+1)*cmd|' /C calc'!A0;b", "'@SUM(1+1)*cmd|' /C calc'!A0;b"),
        ("a;+1+1;-2+3+cmd|' /C calc'!A0\n", "a;'+1+1;'-2+3+cmd|' /C calc'!A0\n"),
        ("a;\t=1+1\n", "a;'\t=1+1\n"),
        ('a;"\r=1+1"\n', 'a;"\'\r=1+1"\n'),
        ("a;+33 6 12 34 56 78;+33612345678;-12.5\n", "a;+33 6 12 34 56 78;+33612345678;-12.5\n"),
        ('a;"+33 (0)6 12 34 56 78";"-12,5"\n', 'a;"+33 (0)6 12 34 56 78";"-12,5"\n'),
        ('"a;=b";c\n', '"a;=b";c\n'),
        ('"a""=b";c\n', '"a""=b";c\n'),
        ('"-1"x;c\n', '"\'-1"x;c\n'),
        ("a;-;+\n", "a;-;+\n"),
        ("a;\r\n", "a;\r\n"),
        ("a;b;\n", "a;b;\n"),
        ("Saint-Denis;a=b;x+1\n", "Saint-Denis;a=b;x+1\n"),
        ("+" + "1" * 40 + "\n", "'+" + "1" * 40 + "\n"),
    ],
    ids=["start-of-record", "quoted", "dde-crlf", "at-sum", "plus-and-minus", "tab", "cr-quoted", "phones-numbers",
         "quoted-phone-decimal-comma", "delimiter-inside-quotes", "escaped-quote", "quoted-then-junk",
         "lone-signs", "empty-last-cell", "trailing-delimiter", "inside-a-cell", "too-long-to-be-plain"],
)
def test_neutralise_prefixes_formula_cells_only(record: str, expected: str) -> None:
    assert neutralise(record, ";") == expected


def test_a_tab_delimiter_is_not_a_tab_prefixed_cell() -> None:
    assert neutralise("a\t\tb\n", "\t") == "a\t\tb\n"
    assert neutralise('a\t"\t=1"\n', "\t") == "a\t\"'\t=1\"\n"


def _audience(with_cr: bool) -> tuple[str, list[list[str]]]:
    """A ``nom;tel;note`` file with OWASP's cells in every column; the rows as written."""
    rows = [["nom", "tel", "note"]]
    for i, cell in enumerate(OWASP):
        rows.append([f"n{i}", f"06123456{i:02d}", cell])
    for i, cell in enumerate(PLAIN):
        rows.append([f"p{i}", f"06987654{i:02d}", cell])
    rows.append(['=HYPERLINK("http://evil","x")', "0611111111", "stopped"])
    rows.append(["phone-is-a-formula", "=0612349999", "y"])
    rows.append(["plus-phone", "+33 6 12 34 99 98", "+33612349998"])
    if with_cr:
        rows.append(["cr", "0612349997", "\r=1+1"])
    buffer = io.StringIO()
    # With "\r\n" line ends, csv quotes the cell holding a carriage return (with "\n" it would not,
    # and the bare CR would end the record).
    csv.writer(buffer, delimiter=";", lineterminator="\r\n" if with_cr else "\n").writerows(rows)
    return buffer.getvalue(), rows


def _expected_cell(cell: str) -> str:
    return "'" + cell if cell in FORMULAS or cell in ('=HYPERLINK("http://evil","x")', "=0612349999", "\r=1+1") \
        else cell


@pytest.mark.parametrize("with_cr", [False, True], ids=["chunked-path", "stream-path-cr-cell"])
def test_cli_outputs_neutralise_owasp_examples_and_keep_phones_and_numbers(
    stop_db: str, tmp_path: Path, with_cr: bool,
) -> None:
    content, rows = _audience(with_cr)
    source = tmp_path / "audience.csv"
    source.write_text(content)
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{stop_db}"\n[audience]\nmax_stop_age = "10000d"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "filter-audience", str(source),
                                      "--allowed", str(tmp_path / "ok.csv"), "--blocked", str(tmp_path / "ko.csv")])
    assert result.exit_code == 0, result.output
    allowed = list(csv.reader(io.StringIO((tmp_path / "ok.csv").read_bytes().decode(), newline=""), delimiter=";"))
    blocked = list(csv.reader(io.StringIO((tmp_path / "ko.csv").read_bytes().decode(), newline=""), delimiter=";"))
    written = {row[0]: row[:3] for row in allowed[1:] + blocked[1:]}
    assert len(written) == len(rows) - 1
    for row in rows[1:]:
        key = _expected_cell(row[0])
        assert written[key] == [_expected_cell(cell) for cell in row], row
    reasons = {row[0]: row[3] for row in blocked[1:]}
    assert reasons["'=HYPERLINK(\"http://evil\",\"x\")"] == "stop_list"  # classified on the input as it is
    assert "plus-phone" in {row[0] for row in allowed}


def test_chunked_and_stream_paths_neutralise_the_same_cells(write_csv: Callable[..., Path]) -> None:
    content, _ = _audience(False)
    lines = content.splitlines(keepends=True)
    path = write_csv(lines[0] + "".join(lines[1:]) * 40)  # duplicates across the tiny chunks too
    stops = StopSet.from_e164({"+33611111111"})
    outputs = []
    for workers, chunk_bytes in ((0, 1 << 20), (1, 512), (2, 700)):
        allowed, blocked = tmp_names = (path.with_suffix(f".{workers}.ok"), path.with_suffix(f".{workers}.ko"))
        filter_audience(path, *tmp_names, stops, progress=False, workers=workers, chunk_bytes=chunk_bytes)
        outputs.append((allowed.read_bytes(), blocked.read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]
    assert b"'=HYPERLINK" in outputs[0][1] and b"'+1+1" in outputs[0][0]


_CELL = st.text(alphabet="=+-@\t01 .,()/ab|!\"", max_size=6)


def _line(cells: list[str], quote: list[bool], delimiter: str) -> str:
    out = []
    for cell, quoted in zip(cells, quote):
        if quoted or '"' in cell or delimiter in cell:
            out.append('"' + cell.replace('"', '""') + '"')
        else:
            out.append(cell)
    return delimiter.join(out)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(_CELL, min_size=1, max_size=5), st.lists(st.booleans(), min_size=5, max_size=5),
                          st.sampled_from(["\n", "\r\n"])), min_size=1, max_size=8),
       st.sampled_from([";", ",", "\t"]), st.booleans())
def test_the_numpy_rule_marks_what_the_row_rule_marks(
    lines: list[tuple[list[str], list[bool], str]], delimiter: str, last_terminated: bool,
) -> None:
    import numpy as np

    from etl.audience.numbers import NumberSet
    from etl.audience.vectorized import classify_chunk, formula_cells
    from etl.phones import e164_int_parser, int_parser_tables

    texts = [_line(cells, quote, delimiter) + ending for cells, quote, ending in lines]
    if not last_terminated:
        texts[-1] = texts[-1].rstrip("\r\n")
    data = "".join(texts).encode()
    expected, offset = [], 0
    for text in texts:
        expected += [offset + position for position in formula_starts(text, delimiter)]
        offset += len(text.encode())
    verdicts = classify_chunk(data, delimiter=ord(delimiter), index=0, encoding="utf-8",
                              tables=int_parser_tables("FR"), parse=e164_int_parser("FR"),
                              stops=NumberSet(33), rental=NumberSet(33))
    got = formula_cells(np.frombuffer(data, dtype=np.uint8), ord(delimiter), verdicts).tolist()
    assert got == expected
