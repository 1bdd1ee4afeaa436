"""Serialise payloads to JSON or positional XML, streaming big lists in chunks.

Why: the stop list (1,000,000 entries) and rental files (500,000 numbers) are unpaged
(quirk 23), so bodies are produced chunk by chunk and never held whole. XML follows the seed
pages (quirk 16): ``<result>`` of positional ``<entry>`` elements, strings in CDATA, except the
``/me`` ``user`` sub-elements, which are named.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass
class Stream:
    """A list value rendered lazily. ``json_item`` turns a row into JSON text; ``xml_item`` into
    the inner XML of one entry; ``rows`` is consumed once."""

    rows: Iterable[Any]
    json_item: Callable[[Any], str]
    xml_item: Callable[[Any], str]
    chunk: int = 2000


class Named(dict):  # type: ignore[type-arg]
    """A dict whose children keep their names in XML (/me ``user``)."""


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return float(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_default, separators=(", ", ": "))


def has_stream(payload: dict[str, Any]) -> bool:
    return any(isinstance(v, Stream) for v in payload.values())


def iter_json(payload: dict[str, Any]) -> Iterator[bytes]:
    """JSON text of ``payload`` in chunks; a Stream value is written ``chunk`` items at a time."""
    first = True
    yield b"{"
    for key, value in payload.items():
        prefix = ("" if first else ", ") + json.dumps(key) + ": "
        first = False
        if isinstance(value, Stream):
            yield (prefix + "[").encode()
            batch: list[str] = []
            started = False
            for row in value.rows:
                batch.append(value.json_item(row))
                if len(batch) >= value.chunk:
                    yield (("," if started else "") + ",".join(batch)).encode()
                    started, batch = True, []
            if batch:
                yield (("," if started else "") + ",".join(batch)).encode()
            yield b"]"
        else:
            yield (prefix + dumps(value)).encode()
    yield b"}"


def render_json(payload: dict[str, Any]) -> bytes:
    return b"".join(iter_json(payload))


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_value(value: Any) -> str:
    """Inner XML of one value (the caller wraps it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, str):
        return cdata(value)
    if isinstance(value, Named):
        return "".join(f"<{k}>{xml_value(v)}</{k}>" for k, v in value.items())
    if isinstance(value, dict):
        return "".join(f"<entry>{xml_value(v)}</entry>" for v in value.values())
    if isinstance(value, (list, tuple)):
        return "".join(f"<entry>{xml_value(v)}</entry>" for v in value)
    raise TypeError(type(value).__name__)


def iter_xml(payload: dict[str, Any]) -> Iterator[bytes]:
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n<result>'
    for value in payload.values():
        if isinstance(value, Stream):
            yield b"<entry>"
            batch: list[str] = []
            for row in value.rows:
                batch.append("<entry>" + value.xml_item(row) + "</entry>")
                if len(batch) >= value.chunk:
                    yield "".join(batch).encode()
                    batch = []
            if batch:
                yield "".join(batch).encode()
            yield b"</entry>"
        else:
            yield f"<entry>{xml_value(value)}</entry>".encode()
    yield b"</result>\n"
