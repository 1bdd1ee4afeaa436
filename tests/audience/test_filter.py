"""`etl.audience.filter_audience`: every row ends allowed or blocked with a reason; fail closed."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from etl.audience import StopSet, classify_rows, filter_audience
from etl.errors import InputError

STOPPED = "+33611111111"
STOPS = StopSet.from_e164({STOPPED, "+262692123456"}, rental={"+33622222222"}, contact={"+33633333333", "+33622222222"})


def run(path: Path, stops: StopSet = STOPS, **kwargs: object) -> tuple[str, str, object]:
    allowed, blocked = path.with_suffix(".allowed.csv"), path.with_suffix(".blocked.csv")
    summary = filter_audience(path, allowed, blocked, stops, progress=False, **kwargs)  # type: ignore[arg-type]
    encoding = summary.encoding
    return allowed.read_text(encoding=encoding), blocked.read_text(encoding=encoding), summary


@pytest.mark.parametrize(
    "shape",
    ["0611111111", "06 11 11 11 11", "06.11.11.11.11", "06-11-11-11-11", "+33611111111",
     "+33 (0)6 11 11 11 11", "0033611111111", "33611111111", "611111111", "+33 6 11 11 11 11"],
)
def test_every_shape_of_a_stopped_number_is_blocked(write_csv: Callable[..., Path], shape: str) -> None:
    path = write_csv(f"name;phone\nAnna;{shape}\nBob;0612345678\n")
    allowed, blocked, summary = run(path)
    assert allowed == "name;phone\nBob;0612345678\n"
    assert blocked == f"name;phone;reason\nAnna;{shape};stop_list\n"
    assert summary.blocked["stop_list"] == 1  # type: ignore[attr-defined]


def test_unparseable_and_invalid_numbers_are_blocked_as_invalid(write_csv: Callable[..., Path]) -> None:
    path = write_csv("id,mobile\n1,n/a\n2,\n3,0612\n4,06 12 34 56 78 9\n5\n6,+33612345678\n")
    allowed, blocked, summary = run(path)
    assert allowed == "id,mobile\n6,+33612345678\n"
    assert [line.rsplit(",", 1)[1] for line in blocked.splitlines()[1:]] == ["invalid"] * 5
    assert summary.rows == 6 and summary.allowed == 1  # type: ignore[attr-defined]


def test_duplicates_in_any_shape_are_blocked_after_the_first(write_csv: Callable[..., Path]) -> None:
    path = write_csv("tel\n0612345678\n+33 6 12 34 56 78\n06.12.34.56.78\n0781234567\n")
    allowed, blocked, summary = run(path)
    assert allowed == "tel\n0612345678\n0781234567\n"
    assert blocked == "tel,reason\n+33 6 12 34 56 78,duplicate\n06.12.34.56.78,duplicate\n"


def test_rental_stop_flag_blocks_with_its_own_reason(write_csv: Callable[..., Path]) -> None:
    path = write_csv("tel\n06 22 22 22 22\n")
    _, blocked, summary = run(path)
    assert blocked.splitlines()[1] == "06 22 22 22 22,rental_stop"


def test_contact_stop_flag_blocks_with_its_own_reason(write_csv: Callable[..., Path]) -> None:
    path = write_csv("tel\n06 33 33 33 33\n+33633333333\n0612345678\n")
    allowed, blocked, summary = run(path)
    assert blocked.splitlines()[1:] == ["06 33 33 33 33,contact_stop", "+33633333333,contact_stop"]
    assert allowed == "tel\n0612345678\n"
    assert summary.as_report()["stop_list"]["contact_stop_numbers"] == 2  # type: ignore[attr-defined]


def test_a_number_both_rental_and_contact_stopped_is_blocked_as_rental_stop(write_csv: Callable[..., Path]) -> None:
    _, blocked, summary = run(write_csv("tel\n0622222222\n"))
    assert blocked.splitlines()[1] == "0622222222,rental_stop"
    assert summary.blocked["contact_stop"] == 0  # type: ignore[attr-defined]


def test_dom_tom_number_is_checked_in_its_own_region(write_csv: Callable[..., Path]) -> None:
    path = write_csv("tel\n0692 12 34 56\n0692 12 34 57\n")
    allowed, blocked, _ = run(path, default_region="RE")
    assert blocked.splitlines()[1:] == ["0692 12 34 56,stop_list"]
    assert allowed.splitlines()[1:] == ["0692 12 34 57"]


def test_foreign_and_landline_numbers_are_allowed_when_valid(write_csv: Callable[..., Path]) -> None:
    path = write_csv("tel\n+44 20 7946 0958\n01 23 45 67 89\n+1 650 253 0000\n")
    allowed, _, summary = run(path)
    assert summary.allowed == 3  # type: ignore[attr-defined]


def test_empty_file_gives_empty_outputs(write_csv: Callable[..., Path]) -> None:
    allowed, blocked, summary = run(write_csv(""))
    assert (allowed, blocked, summary.rows) == ("", "", 0)  # type: ignore[attr-defined]


def test_header_only_file_gives_headers_only(write_csv: Callable[..., Path]) -> None:
    allowed, blocked, summary = run(write_csv("Nom;Téléphone portable\n"))
    assert allowed == "Nom;Téléphone portable\n"
    assert blocked == "Nom;Téléphone portable;reason\n"
    assert summary.rows == 0  # type: ignore[attr-defined]


def test_utf8_bom_is_kept_and_not_part_of_the_header(write_csv: Callable[..., Path]) -> None:
    path = write_csv(codecs.BOM_UTF8 + "Téléphone;Prénom\r\n06 11 11 11 11;Zoé\r\n0612345678;Léa\r\n".encode())
    allowed_path = path.with_suffix(".a.csv")
    blocked_path = path.with_suffix(".b.csv")
    summary = filter_audience(path, allowed_path, blocked_path, STOPS, progress=False)
    assert summary.phone_column == "Téléphone"
    assert allowed_path.read_bytes() == codecs.BOM_UTF8 + "Téléphone;Prénom\r\n0612345678;Léa\r\n".encode()
    assert blocked_path.read_bytes().decode("utf-8-sig").splitlines()[1] == "06 11 11 11 11;Zoé;stop_list"


def test_windows_1252_file_is_read_and_written_back_in_its_encoding(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Prénom;Numéro de téléphone\nZoé;0612345678\n", encoding="cp1252")
    allowed, _, summary = run(path)
    assert summary.encoding == "cp1252"  # type: ignore[attr-defined]
    assert allowed == "Prénom;Numéro de téléphone\nZoé;0612345678\n"


def test_utf16_excel_export_with_tabs(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Name\tHandy\nJo\t+33 6 12 34 56 78\n", encoding="utf-16")
    allowed, _, summary = run(path)
    assert summary.delimiter == "\t" and summary.allowed == 1  # type: ignore[attr-defined]


def test_quoted_fields_with_separators_and_line_breaks_are_kept_verbatim(write_csv: Callable[..., Path]) -> None:
    content = ('"name","phone","note"\n'
               '"Dupont, Anna","06 11 11 11 11","says ""stop"""\n'
               '"Martin; Bob","0612345678","two\nlines"\n')
    allowed, blocked, summary = run(write_csv(content))
    assert allowed == '"name","phone","note"\n"Martin; Bob","0612345678","two\nlines"\n'
    assert blocked.splitlines()[1] == '"Dupont, Anna","06 11 11 11 11","says ""stop""",stop_list'
    assert list(csv.reader(blocked.splitlines()))[1][3] == "stop_list"


def test_semicolon_file_with_header_in_german(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Vorname;Nachname;Telefonnummer;Stadt\nJo;Ko;+49 30 1234567;Berlin\nAl;Bo;0611111111;Paris\n")
    allowed, blocked, summary = run(path)
    assert summary.phone_column == "Telefonnummer"  # type: ignore[attr-defined]
    assert blocked.splitlines()[1].endswith(";stop_list")


def test_file_without_header_finds_the_phone_column_by_content(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Anna,Paris,0611111111\nBob,Lyon,0612345678\n")
    allowed, blocked, summary = run(path)
    assert summary.has_header is False  # type: ignore[attr-defined]
    assert allowed == "Bob,Lyon,0612345678\n"
    assert blocked == "Anna,Paris,0611111111,stop_list\n"


def test_column_option_picks_a_column_by_name(write_csv: Callable[..., Path]) -> None:
    path = write_csv("fixe;portable\n0123456789;0611111111\n")
    _, blocked, summary = run(path, column="fixe")
    assert summary.phone_column == "fixe"  # type: ignore[attr-defined]
    assert blocked == ""  or blocked.splitlines()[1:] == []


def test_no_phone_column_is_a_clear_input_error(write_csv: Callable[..., Path]) -> None:
    path = write_csv("name,city\nAnna,Paris\n")
    with pytest.raises(InputError, match="--column"):
        run(path)


def test_unknown_column_name_lists_the_columns(write_csv: Callable[..., Path]) -> None:
    with pytest.raises(InputError, match="'tel'"):
        run(write_csv("tel\n0612345678\n"), column="gsm")


def test_classify_rows_works_without_files() -> None:
    rows = [["a", "0611111111"], ["b", "0612345678"], ["c", "x"], ["d", "+33612345678"]]
    reasons = [reason for _, reason in classify_rows(rows, 1, STOPS)]
    assert reasons == ["stop_list", None, "invalid", "duplicate"]


def _messy_audience(rows: int) -> str:
    import random

    rng = random.Random(8)
    lines = ["id;name;telephone;city\r\n"]
    shapes = ["0{n}", "+33{n}", "0{s}", "+33 (0){s}", "0033{n}", "33{n}", '"0{s}"', "n/a", "", "06 12"]
    pool = [f"{rng.choice('67')}{rng.randrange(10**8):08d}" for _ in range(rows // 3)]
    pool += ["611111111", "622222222"] + ["633333333"] * 5
    for i in range(rows):
        nsn = rng.choice(pool)
        spaced = f"{nsn[0]} {nsn[1:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"
        phone = rng.choice(shapes).format(n=nsn, s=spaced)
        lines.append(f"{i};Zoé {i};{phone};Paris{'' if i % 7 else ';extra'}\r\n")
        if i % 50 == 0:
            lines.append("\r\n")
    return "".join(lines).rstrip("\r\n")  # last line without a line end


@pytest.mark.parametrize("workers", [1, 2])
def test_chunked_filter_writes_exactly_what_the_stream_does(write_csv: Callable[..., Path], workers: int) -> None:
    """Tiny chunks: duplicates across chunks, blank lines, CRLF and an unterminated last line."""
    path = write_csv(_messy_audience(3000))
    expected = run(path, workers=0)
    got = run(path, workers=workers, chunk_bytes=2048)
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert got[2].as_report() | {"seconds": 0, "rows_per_second": 0} == (  # type: ignore[attr-defined]
        expected[2].as_report() | {"seconds": 0, "rows_per_second": 0}  # type: ignore[attr-defined]
    )
    assert got[2].blocked["duplicate"] > 100  # type: ignore[attr-defined]
    assert got[2].blocked["contact_stop"] > 0  # type: ignore[attr-defined]


def test_chunked_filter_falls_back_to_the_stream_for_quoted_line_breaks(write_csv: Callable[..., Path]) -> None:
    content = "phone;note\n" + "".join(f'06{i:08d};"line\nbreak"\n' for i in range(200))
    path = write_csv(content)
    assert run(path, workers=2, chunk_bytes=256)[:2] == run(path, workers=0)[:2]
