"""Query results as the `evidence` report holds them: plain text values (UTC ISO 8601, exact decimals),
so the report and its digest are the same on every backend (docs/compliance.md, "Answering a complaint")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

__all__ = ["rows", "value"]


def value(found: Any) -> Any:
    if isinstance(found, datetime):
        return found.isoformat()
    if isinstance(found, Decimal):
        return format(found.normalize(), "f") if found == found.to_integral_value() else str(found)
    return found


def rows(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [{k: value(v) for k, v in row._mapping.items()} for row in conn.execute(query)]
