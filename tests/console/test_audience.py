"""The audience check through the console: upload streamed to disk, the CLI's engine in a worker thread,
downloads only for the run's owner (and admins), and every refusal one sentence with its status."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from etl.config import Config
from etl.db.schema import filter_runs

from .conftest import NOW, csrf_of
from .seed import XSS, seed_stops

STOPPED = "+33612345678"
CSV = "name;phone\nann;06 12 34 56 78\nbob;+33 6 98 76 54 32\ncid;not a number\ndan;0698765432\n"


@pytest.fixture
def console_config(tmp_path: Path) -> Config:
    from etl.config import load_config

    config = load_config(None, environ={})
    return dataclasses.replace(config, console=dataclasses.replace(config.console, work_dir=str(tmp_path / "work"),
                                                                      upload_limit=64 * 1024))


def upload(client: TestClient, body: bytes | str, *, name: str = "campaign.csv", csrf: str | None = None,
           content_type: str = "text/csv", **fields: str) -> Any:
    token = csrf if csrf is not None else csrf_of(client.get("/audience").text)
    data = {"csrf": token, **fields}
    raw = body.encode() if isinstance(body, str) else body
    return client.post("/audience", data=data, files={"file": (name, raw, content_type)})


def finished(client: TestClient, location: str, timeout: float = 20.0) -> str:
    """The run page once the check is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        page = client.get(location)
        assert page.status_code == 200, page.text
        status = re.search(r'id="run-status"[^>]*data-status="(\w+)"', page.text)
        assert status, page.text
        if status.group(1) not in ("queued", "running"):
            assert 'http-equiv="refresh"' not in page.text
            return page.text
        assert 'http-equiv="refresh"' in page.text, "a running check reloads itself"
        assert time.monotonic() < deadline, "the check did not finish"
        time.sleep(0.05)


def test_a_marketing_user_uploads_a_list_and_downloads_allowed_blocked_and_report(
        engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    seed_stops(engine, NOW, [STOPPED])
    client = sign_in("marketing")
    answer = upload(client, CSV)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    page = finished(client, location)
    assert 'data-status="done"' in page
    for hook in ("download-allowed", "download-blocked", "download-report"):
        assert f'id="{hook}"' in page
    allowed = client.get(f"{location}/allowed")
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/csv")
    assert re.search(r'attachment; filename="audience-[0-9a-f]{8}-allowed.csv"', allowed.headers["content-disposition"])
    assert allowed.text.replace("\r\n", "\n") == "name;phone\nbob;+33 6 98 76 54 32\n"
    blocked = list(csv.reader(io.StringIO(client.get(f"{location}/blocked").text), delimiter=";"))
    assert [row[-1] for row in blocked[1:]] == ["stop_list", "invalid", "duplicate"]
    report = json.loads(client.get(f"{location}/report").text)
    assert report["rows"] == 4 and report["allowed"] == 1 and report["input"] == "campaign.csv"
    assert "work" not in json.dumps(report["outputs"]), "no server path in the report"
    with engine.connect() as conn:
        row = conn.execute(select(filter_runs.c.actor, filter_runs.c.input_name, filter_runs.c.outcome)).one()
    assert tuple(row) == ("console:marketing", "campaign.csv", "success")


def test_a_stale_stop_list_is_refused_unless_the_box_is_ticked_and_both_are_recorded(
        engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    seed_stops(engine, NOW, [STOPPED], synced_ago=timedelta(days=3))
    client = sign_in("marketing")
    assert 'id="stale-warning"' in client.get("/audience").text
    refused = finished(client, upload(client, CSV).headers["location"])
    assert 'data-status="refused"' in refused
    assert "Filter against a stale stop list" in refused and "--allow-stale" not in refused
    allowed = finished(client, upload(client, CSV, allow_stale="yes").headers["location"])
    assert 'data-status="done"' in allowed and "stale stop list, as asked" in allowed
    with engine.connect() as conn:
        outcomes = conn.execute(select(filter_runs.c.outcome, filter_runs.c.allow_stale).order_by(filter_runs.c.id)).all()
    assert [tuple(o) for o in outcomes] == [("failed", False), ("success", True)]


def test_an_upload_over_the_limit_is_refused_413_with_one_sentence_and_leaves_no_file(
        engine: Engine, sign_in: Callable[..., TestClient], console_config: Config) -> None:
    seed_stops(engine, NOW, [])
    client = sign_in("marketing")
    big = "phone\n" + "0612345678\n" * 10_000  # 110 kB, over the 64 KiB limit
    answer = upload(client, big)
    assert answer.status_code == 413
    assert "larger than the upload limit (64.0 KiB" in answer.text
    work = Path(console_config.console.work_dir)
    assert not any(work.rglob("*.csv")), "the partial upload was removed"


@pytest.mark.parametrize("body, name, content_type, status, sentence", [
    (b"PK\x03\x04rest-of-a-zip", "list.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 415, "is not a CSV"),
    (b"PK\x03\x04rest-of-a-zip", "list.csv", "text/csv", 415, "Excel workbook (.xlsx)"),
    (b"phone\x00\x00\x01", "list.csv", "text/csv", 415, "NUL bytes"),
    (b"", "list.csv", "text/csv", 400, "The file is empty."),
], ids=["workbook-type", "workbook-named-csv", "binary", "empty"])
def test_what_is_not_a_csv_is_refused_with_a_sentence(engine: Engine, sign_in: Callable[..., TestClient], body: bytes,
                                                      name: str, content_type: str, status: int, sentence: str) -> None:
    client = sign_in("marketing")
    answer = upload(client, body, name=name, content_type=content_type)
    assert answer.status_code == status
    assert sentence in answer.text


def test_a_form_that_is_not_multipart_is_refused_415(sign_in: Callable[..., TestClient]) -> None:
    client = sign_in("marketing")
    token = csrf_of(client.get("/audience").text)
    assert client.post("/audience", data={"csrf": token}).status_code == 415


def test_the_upload_needs_its_csrf_token_before_the_file(sign_in: Callable[..., TestClient], console_config: Config) -> None:
    client = sign_in("marketing")
    assert upload(client, CSV, csrf="wrong").status_code == 403
    assert upload(client, CSV, csrf="").status_code == 403
    work = Path(console_config.console.work_dir)
    assert not [p for p in work.iterdir()] if work.exists() else True, "nothing was kept"


def test_viewers_and_anonymous_visitors_cannot_upload_or_read_checks(
        engine: Engine, console_app: Any, sign_in: Callable[..., TestClient]) -> None:
    seed_stops(engine, NOW, [])
    owner = sign_in("marketing")
    location = upload(owner, CSV).headers["location"]
    finished(owner, location)
    viewer = sign_in("viewer")
    token = csrf_of(viewer.get("/").text)
    assert viewer.get("/audience").status_code == 403
    assert upload(viewer, CSV, csrf=token).status_code == 403, "refused by the server, not by a hidden link"
    for path in (location, f"{location}/allowed"):
        assert viewer.get(path).status_code == 403
    anonymous = TestClient(console_app, follow_redirects=False)
    assert anonymous.get("/audience").status_code == 303
    assert anonymous.get(f"{location}/allowed").status_code == 303
    assert anonymous.post("/audience", files={"file": ("a.csv", b"phone\n", "text/csv")}).status_code == 401


def test_another_marketing_user_cannot_read_a_check_but_an_admin_can(
        engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    seed_stops(engine, NOW, [])
    owner = sign_in("marketing")
    location = upload(owner, CSV).headers["location"]
    finished(owner, location)
    other = sign_in("marketing", "other")
    assert other.get(location).status_code == 404
    assert other.get(f"{location}/allowed").status_code == 404
    assert location.rsplit("/", 1)[1] not in other.get("/audience").text, "not listed either"
    admin = sign_in("admin")
    assert admin.get(f"{location}/allowed").status_code == 200


@pytest.mark.parametrize("suffix", [
    "/../../../../etc/passwd", "/..%2f..%2fetc%2fpasswd", "/%2e%2e/state", "/state", "/input", "/allowed.csv",
    "/report/../state", "/..", "/%2e%2e", "/allowed%00",
], ids=lambda s: s)
def test_download_names_outside_the_three_kinds_name_nothing(
        engine: Engine, sign_in: Callable[..., TestClient], suffix: str) -> None:
    seed_stops(engine, NOW, [])
    client = sign_in("admin")
    location = upload(client, CSV).headers["location"]
    finished(client, location)
    answer = client.get(location + suffix)
    assert answer.status_code in (404, 303), answer.status_code
    assert "root:" not in answer.text and '"owner"' not in answer.text


@pytest.mark.parametrize("run_id", ["..", "%2e%2e", "../work", "0" * 31, "0" * 32, "G" * 32, "0" * 32 + "/../x"],
                         ids=lambda s: s)
def test_run_ids_that_are_not_32_hex_digits_of_a_kept_run_name_nothing(sign_in: Callable[..., TestClient], run_id: str) -> None:
    client = sign_in("admin")
    for path in (f"/audience/runs/{run_id}", f"/audience/runs/{run_id}/allowed"):
        answer = client.get(path)
        # The client resolves a literal ".." itself (to /audience): then it is simply another page.
        assert answer.status_code == 404 or answer.url.path in ("/audience", "/audience/runs/allowed"), path
        assert "content-disposition" not in answer.headers and 'id="run-status"' not in answer.text, path


def test_the_uploaded_file_name_and_stored_texts_are_shown_escaped(
        engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    seed_stops(engine, NOW, [])
    client = sign_in("marketing")
    location = upload(client, CSV, name=XSS + ".csv", column=XSS).headers["location"]
    page = finished(client, location)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<script>alert" not in client.get("/audience").text
