"""The lookup page's evidence report download: every signed-in role, HTML and JSON, as an attachment, escaped."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from .conftest import NOW
from .seed import NUMBER, XSS, seed


@pytest.mark.parametrize("role", ["viewer", "marketing", "admin"])
def test_every_role_downloads_the_numbers_evidence_in_html_and_json(engine: Engine, sign_in: Callable[..., TestClient],
                                                                    role: str) -> None:
    seed(engine, NOW)
    client = sign_in(role)
    page = client.get("/lookup", params={"number": "06 12 34 56 78"}).text
    assert 'id="evidence-html"' in page and 'id="evidence-json"' in page
    html = client.get("/lookup/evidence.html", params={"number": "06 12 34 56 78"})
    assert html.status_code == 200
    assert html.headers["content-disposition"] == 'attachment; filename="evidence-33612345678.html"'
    assert "<script>alert" not in html.text and "&lt;script&gt;" in html.text, "the hostile reason is text"
    report = json.loads(client.get("/lookup/evidence.json", params={"number": NUMBER}).text)
    assert report["number"] == NUMBER and len(report["digest"]) == 64
    assert any(p.get("removal_reason") == XSS for p in report["stop_periods"])


def test_evidence_needs_a_session_a_number_and_a_known_format(console_app: Any, sign_in: Callable[..., TestClient]) -> None:
    anonymous = TestClient(console_app, follow_redirects=False)
    assert anonymous.get("/lookup/evidence.html", params={"number": NUMBER}).status_code == 303
    client = sign_in("viewer")
    assert client.get("/lookup/evidence.html", params={"number": "hello"}).status_code == 400
    assert client.get("/lookup/evidence.html", params={"number": XSS}).status_code == 400
    assert client.get("/lookup/evidence.html").status_code == 400
    assert client.get("/lookup/evidence.txt", params={"number": NUMBER}).status_code == 404
    assert client.get("/lookup/evidence.html%2f..%2f..%2fetc%2fpasswd", params={"number": NUMBER}).status_code == 404
