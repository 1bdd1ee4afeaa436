"""Sniffing an audience CSV: encoding (BOM included), delimiter, header row and the phone column.

Audience files come from CRMs and spreadsheets (issue 8): UTF-8 with or without BOM, UTF-16 from
Excel's "Unicode text", Windows-1252 from older exports; ``,`` or ``;`` (French Excel) or tabs;
header rows in any language, or none. Each guess can be overridden (``--encoding``,
``--delimiter``, ``--column``), and a phone column that cannot be found is a clear `InputError`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from etl.errors import InputError

SAMPLE_BYTES = 256 * 1024
DELIMITERS = (";", ",", "\t", "|")

#: Header words meaning "phone number", accent-free and lower case, best first. Mobile-ish names win
#: over generic ones ("Téléphone fixe" beside "Portable": the portable).
PHONE_NAMES = (
    ("mobile", "portable", "cellulaire", "cell", "cellphone", "gsm", "msisdn", "handy", "mobil", "movil", "celular",
     "cellulare", "telemovel", "mobiel", "komorka", "sms"),
    ("phone", "telephone", "tel", "telefon", "telefono", "telefone", "telefonnummer", "telefoon", "fon", "numtel",
     "phonenumber", "mobilephone", "telephoneportable", "numeroportable", "numerotelephone", "numerodetelephone",
     "contactnumber", "numerodetel"),
    ("numero", "number", "nummer"),
)
_WORD = re.compile(r"[a-z0-9]+")
_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True)
class CsvLayout:
    encoding: str
    delimiter: str
    has_header: bool
    header: tuple[str, ...]
    phone_index: int
    phone_column: str
    #: The line terminator of the first line ("\n" when the file has none).
    newline: str


def sniff_encoding(sample: bytes) -> str:
    """Python codec name for the file: BOMs first, then strict UTF-8, else Windows-1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith(codecs.BOM_UTF16_LE) or sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(sample, final=len(sample) < SAMPLE_BYTES)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _lines(text: str, limit: int = 200) -> list[str]:
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample cut the last line
    return lines[:limit]


def sniff_delimiter(lines: list[str]) -> str:
    """The candidate giving the most rows with the same (>1) number of fields; ``,`` for one column."""
    best, best_score = ",", 0
    for delimiter in DELIMITERS:
        counts: dict[int, int] = {}
        for row in csv.reader(lines, delimiter=delimiter):
            if row:
                counts[len(row)] = counts.get(len(row), 0) + 1
        if not counts:
            continue
        width, rows = max(counts.items(), key=lambda item: (item[1], item[0]))
        score = rows if width > 1 else 0
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _key(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "".join(_WORD.findall(plain))


def _name_rank(name: str) -> int | None:
    """0 for a mobile-ish name, 1 for phone-ish, 2 for number-ish; None otherwise."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = _WORD.findall(plain)
    joined = "".join(words)
    for rank, names in enumerate(PHONE_NAMES):
        for word in names:
            if word in words or joined == word or (len(word) >= 5 and word in joined):
                return rank
    return None


def _phoneish(value: str) -> bool:
    return len(_DIGIT.findall(value)) >= 6


def find_phone_column(header: tuple[str, ...], rows: list[list[str]], has_header: bool, column: str | None) -> int:
    if column is not None:
        wanted = _key(column)
        for index, name in enumerate(header):
            if name == column or (has_header and _key(name) == wanted and wanted):
                return index
        if column.isdigit() and 1 <= int(column) <= max(len(header), 1):
            return int(column) - 1  # 1-based position, for files without a header
        raise InputError(
            f"--column {column!r}: no such column; the columns are {', '.join(repr(h) for h in header)}"
        )
    if has_header:
        ranked = [(rank, index) for index, name in enumerate(header) if (rank := _name_rank(name)) is not None]
        if ranked:
            return min(ranked)[1]
    # No telling name: the column where most sample values look like phone numbers.
    width = max((len(row) for row in rows), default=len(header))
    scores = [sum(1 for row in rows if index < len(row) and _phoneish(row[index])) for index in range(width)]
    if scores and max(scores) > 0 and max(scores) >= len(rows) / 2:
        return scores.index(max(scores))
    described = ", ".join(repr(h) for h in header) if has_header else f"{width} unnamed columns"
    raise InputError(
        f"cannot tell which column holds the phone numbers ({described}); name it with --column"
    )


def sniff(path: Path, *, encoding: str | None = None, delimiter: str | None = None, column: str | None = None) -> CsvLayout:
    """Guess the layout from the first 256 KiB of ``path``."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if encoding is None:
        encoding = sniff_encoding(sample)
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(f"--encoding {encoding!r}: unknown encoding") from None
        if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and sample.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
    try:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        text = decoder.decode(sample, final=len(sample) < SAMPLE_BYTES)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid {encoding} ({exc.reason} at byte {exc.start}); give --encoding") from None
    text = text.lstrip("\ufeff")
    lines = _lines(text)
    if delimiter is None:
        delimiter = sniff_delimiter(lines)
    elif delimiter in ("\\t", "tab", "TAB"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise InputError(f"--delimiter {delimiter!r}: must be one character")
    newline = "\n"
    if lines:
        first = lines[0]
        newline = "\r\n" if first.endswith("\r\n") else ("\r" if first.endswith("\r") else "\n")
    rows = [row for row in csv.reader(lines, delimiter=delimiter) if row]
    if not rows:
        return CsvLayout(encoding, delimiter, False, (), -1, "", newline)
    first_row = rows[0]
    # A header has no phone-like value; if the second row has none either, names decide.
    has_header = not any(_phoneish(value) for value in first_row)
    if has_header and len(rows) > 1 and not any(_phoneish(v) for row in rows[1:] for v in row):
        has_header = any(_name_rank(value) is not None for value in first_row)
    header = tuple(first_row) if has_header else tuple(f"column {i + 1}" for i in range(len(first_row)))
    sample_rows = rows[1:] if has_header else rows
    index = find_phone_column(header, sample_rows, has_header, column)
    name = header[index] if index < len(header) else f"column {index + 1}"
    return CsvLayout(encoding, delimiter, has_header, header, index, name, newline)


def undecodable(path: Path, encoding: str, reason: str, offset: int, *, near: bool = False) -> str:
    """The sentence for a byte past the sample that the file's encoding cannot read (nothing is written)."""
    where = f"near byte {offset:,}" if near else f"at byte {offset:,}"
    return (
        f"{path}: not valid {encoding} ({reason} {where}, past the first {SAMPLE_BYTES // 1024} KB the encoding "
        f"was guessed from); nothing was written; give --encoding"
    )


def open_text(path: Path, encoding: str) -> tuple[io.BufferedReader, io.TextIOWrapper]:
    """The binary file (for progress via ``tell()``) and a text view of it; ``newline=""`` as csv wants."""
    raw = path.open("rb")
    return raw, io.TextIOWrapper(raw, encoding=encoding, newline="")
