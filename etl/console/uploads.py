"""Receiving an upload: a multipart body streamed to one file on disk, never held in memory (docs/console.md,
"Audience check").

The body is parsed as it arrives (python-multipart's push parser, the one Starlette uses), so three checks
happen before the file is stored rather than after: the form's CSRF token must come *before* the file (the
form puts it first; a browser sends fields in document order), the size is counted against
``console.upload_limit`` (a ``Content-Length`` already above it is refused without reading), and the first
bytes must look like text (a workbook or a binary file is refused with a sentence saying what to do).
Every refusal is `UploadRefused`: a status and one sentence; the partial file is removed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

__all__ = ["FILE_FIELD", "Upload", "UploadRefused", "human_size", "receive"]

#: The form field holding the file; the other fields are short texts.
FILE_FIELD = "file"
MAX_FIELD_BYTES = 4096
#: Bytes of form fields and part headers allowed on top of the file itself.
SLACK = 64 * 1024
FLUSH = 1 << 20
#: What browsers send for a .csv: Windows with Excel installed says vnd.ms-excel, some say octet-stream.
CSV_TYPES = frozenset({"text/csv", "text/plain", "text/x-csv", "application/csv", "application/x-csv",
                       "application/vnd.ms-excel", "application/octet-stream", ""})
#: Leading bytes of files that are not CSV text, and what to say.
NOT_TEXT = (
    (b"PK\x03\x04", "That file is an Excel workbook (.xlsx), not a CSV: save it as CSV UTF-8 in Excel and upload that."),
    (b"\xd0\xcf\x11\xe0", "That file is an old Excel workbook (.xls), not a CSV: save it as CSV UTF-8 in Excel and upload that."),
    (b"%PDF", "That file is a PDF, not a CSV: upload the campaign list as a CSV file."),
)
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class UploadRefused(Exception):
    """The upload is refused with HTTP ``status`` and one sentence for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    """What came: the short form fields, the client's file name (shown and recorded, never used as a path)."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    size: int = 0


def human_size(size: int) -> str:
    for unit, step in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= step:
            return f"{size / step:.1f} {unit}"
    return f"{size} bytes"


def too_large(limit: int) -> UploadRefused:
    return UploadRefused(413, f"The file is larger than the upload limit ({human_size(limit)}, console.upload_limit).")


def client_filename(raw: str) -> str:
    """The last part of what the browser calls the file, without control characters, at most 200 characters."""
    name = re.split(r"[/\\]", raw)[-1]
    return re.sub(r"[\x00-\x1f\x7f]", "", name)[:200] or "upload.csv"


class _Receiver:
    """The parser's callbacks: fields into ``upload.fields``, the file into ``target``."""

    def __init__(self, target: Path, limit: int, before_file: Callable[[dict[str, str]], None]) -> None:
        self.target, self.limit, self.before_file = target, limit, before_file
        self.upload = Upload()
        self.handle: BinaryIO | None = None
        self.pending = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.header_name = b""
        self.header_value = b""
        self.name: str | None = None
        self.value = bytearray()
        self.in_file = False
        self.seen_file = False

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field, "on_header_value": self.header_value_,
                "on_header_end": self.header_end, "on_headers_finished": self.headers_finished,
                "on_part_data": self.part_data, "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self.headers, self.name, self.value, self.in_file = {}, None, bytearray(), False

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def header_value_(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name = self.header_value = b""

    def headers_finished(self) -> None:
        _kind, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("latin-1")
        if b"filename" not in options:
            return
        if self.name != FILE_FIELD or self.seen_file:
            raise UploadRefused(400, "Send one CSV file with the page's upload form.")
        self.before_file(self.upload.fields)
        sent_type = self.headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if sent_type not in CSV_TYPES:
            raise UploadRefused(415, f"A file of type {sent_type[:60]} is not a CSV: upload the campaign list as a CSV file.")
        self.upload.filename = client_filename(options[b"filename"].decode("utf-8", "replace"))
        self.in_file = self.seen_file = True
        self.handle = self.target.open("xb")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD_BYTES:
                raise UploadRefused(413, "A form field is too long.")
            return
        if self.upload.size == 0 and not self.pending:
            _check_text(data[start:end])
        self.pending += data[start:end]
        self.upload.size += end - start
        if self.upload.size > self.limit:
            raise too_large(self.limit)

    def part_end(self) -> None:
        if not self.in_file and self.name:
            self.upload.fields[self.name] = self.value.decode("utf-8", "replace")
        self.in_file = False

    def flush(self) -> bytes:
        data, self.pending = bytes(self.pending), bytearray()
        return data


def _check_text(head: bytes) -> None:
    for magic, sentence in NOT_TEXT:
        if head.startswith(magic):
            raise UploadRefused(415, sentence)
    if b"\x00" in head[:4096] and not head.startswith(UTF16_BOMS):
        raise UploadRefused(415, "That file is not text (it holds NUL bytes): upload the campaign list as a CSV file.")


def _boundary(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise UploadRefused(415, "Send the file with the page's upload form (multipart/form-data).")
    return options[b"boundary"]


async def _parse(request: Request, parser: MultipartParser, receiver: _Receiver, limit: int) -> None:
    body = 0
    try:
        async for chunk in request.stream():
            body += len(chunk)
            if body > limit + SLACK:
                raise too_large(limit)
            parser.write(chunk)
            if receiver.handle is not None and len(receiver.pending) >= FLUSH:
                await run_in_threadpool(receiver.handle.write, receiver.flush())
        parser.finalize()
    except FormParserError:
        raise UploadRefused(400, "The upload was garbled; send the file again with the page's form.") from None


async def receive(request: Request, target: Path, *, limit: int, before_file: Callable[[dict[str, str]], None]) -> Upload:
    """Stream the form into ``target`` (created, must not exist); ``before_file(fields)`` sees the fields sent
    before the file and raises `UploadRefused` to stop (the CSRF check). Removes ``target`` on any failure."""
    boundary = _boundary(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + SLACK:
        raise too_large(limit)
    receiver = _Receiver(target, limit, before_file)
    try:
        await _parse(request, MultipartParser(boundary, receiver.callbacks()), receiver, limit)  # type: ignore[arg-type]
        if receiver.handle is None:
            raise UploadRefused(400, "Choose a CSV file to upload.")
        receiver.handle.write(receiver.flush())
        receiver.handle.close()
        if receiver.upload.size == 0:
            raise UploadRefused(400, "The file is empty.")
    except BaseException:
        if receiver.handle is not None:
            receiver.handle.close()
            with suppress(FileNotFoundError):
                os.unlink(target)
        raise
    return receiver.upload
