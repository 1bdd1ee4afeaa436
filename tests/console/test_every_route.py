"""Security checks over every route of the app, enumerated from `app.routes` rather than listed by hand: a route
added later is refused by `test_the_access_table_names_every_route_of_the_app` until it is given a role here, and
from then on every check below covers it (sign-in, CSRF, roles, escaping, secrets). No browser."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import Engine
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from etl.config import Config, load_config
from etl.db.schema import ROLES

from .conftest import NOW, csrf_of
from .seed import NUMBER, SUB_KEY, seed, seed_stops

#: Every route: (method, path as declared) -> the lowest role it serves (None: anyone, signed in or not).
ACCESS: dict[tuple[str, str], str | None] = {
    ("GET", "/login"): None,
    ("POST", "/login"): None,
    ("POST", "/logout"): None,
    ("GET", "/healthz"): None,
    ("GET", "/"): "viewer",
    ("GET", "/runs"): "viewer",
    ("GET", "/runs/{run_id:int}"): "viewer",
    ("GET", "/lookup"): "viewer",
    ("GET", "/lookup/evidence.{fmt}"): "viewer",
    ("GET", "/users"): "admin",
    ("POST", "/users/{name}/sessions/end"): "admin",
    ("GET", "/audience"): "marketing",
    ("POST", "/audience"): "marketing",
    ("GET", "/audience/runs/{run_id}"): "marketing",
    ("GET", "/audience/runs/{run_id}/{kind}"): "marketing",
    ("GET", "/stops"): "admin",
    ("POST", "/stops/add"): "admin",
    ("POST", "/stops/remove"): "admin",
    ("POST", "/messages/cancel"): "admin",
}
#: Mounted folders anyone may read (the stylesheet and script).
PUBLIC_MOUNTS = {"/static"}
#: A value for each path parameter, by its placeholder (name and converter); a new one must be given here.
SAMPLES = {"run_id:int": "1", "run_id": "0" * 32, "kind": "allowed", "fmt": "html", "name": "viewer"}
#: What a write's form sends besides its token, so a broken check would act rather than fail on a missing field.
FIELDS = {"number": NUMBER, "message_id": "1", "reason": "test", "consent_evidence": "form #1", "account": "main"}
CSV = "name;phone\nann;06 12 34 56 78\nbob;0698765432\n"


def declared(app: Any) -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app answers, HEAD left out (Starlette adds it to each GET)."""
    for route in app.routes:
        if isinstance(route, Mount):
            assert route.path in PUBLIC_MOUNTS, f"{route.path}: a mounted app the access table does not cover"
            continue
        assert isinstance(route, Route), route
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, route.path


def concrete(path: str, samples: dict[str, str] | None = None) -> str:
    values = {**SAMPLES, **(samples or {})}
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)


def send(client: TestClient, method: str, path: str, csrf: str | None) -> Any:
    """``method path`` with the token (or none) and a write's fields; the upload as the page's form sends it."""
    data = {**FIELDS, **({"csrf": csrf} if csrf is not None else {})}
    if path == "/audience" and method == "POST":
        return client.post(path, data=data, files={"file": ("list.csv", CSV.encode(), "text/csv")})
    return client.request(method, path, data=data if method == "POST" else None)


@pytest.fixture
def console_config() -> Config:
    # The API on a closed local port: a write whose check failed open would fail there, never leave the machine.
    return load_config(None, environ={"SMSPARTNER_ETL__API__BASE_URL": "http://127.0.0.1:9/v1",
                                      "SMSPARTNER_ETL__API__MAX_ATTEMPTS": "1", "SMSPARTNER_ETL__ACCOUNTS__DISCOVER": "true"})


@pytest.fixture
def config_with_work_dir(console_config: Config, tmp_path: Any) -> Config:
    return dataclasses.replace(console_config, console=dataclasses.replace(console_config.console,
                                                                           work_dir=str(tmp_path / "work")))


def test_the_access_table_names_every_route_of_the_app(console_app: Any) -> None:
    assert sorted(declared(console_app)) == sorted(ACCESS), \
        "a route was added or removed: give it its role in ACCESS (and SAMPLES for a new path parameter)"
    for _method, path in ACCESS:
        concrete(path)  # every placeholder has a sample


def test_every_route_but_sign_in_and_health_refuses_an_anonymous_visitor(console_app: Any) -> None:
    client = TestClient(console_app, follow_redirects=False)
    checked = 0
    for method, path in declared(console_app):
        if ACCESS[method, path] is None:
            continue
        url = concrete(path)
        if method == "GET":
            for verb in ("GET", "HEAD"):
                answer = client.request(verb, url)
                assert answer.status_code in (303, 401), (verb, url, answer.status_code)
                if answer.status_code == 303:
                    assert answer.headers["location"] == f"/login?next={url}", url
        else:
            answer = send(client, method, url, csrf="x")
            assert answer.status_code == 401, (method, url, answer.status_code)
            assert "Sign in first." in answer.text
        checked += 1
    assert checked == sum(role is not None for role in ACCESS.values())
    for path in ("/login", "/healthz", "/static/console.css", "/static/console.js"):
        assert client.get(path).status_code == 200, path


def test_every_form_refuses_a_missing_wrong_or_foreign_csrf_token_and_does_nothing(
        console_app: Any, sign_in: Callable[..., TestClient]) -> None:
    clients = {role: sign_in(role) for role in ROLES}
    foreign = csrf_of(sign_in("viewer", "other").get("/").text)
    forms = [(method, path) for method, path in declared(console_app) if method == "POST" and path != "/login"]
    assert len(forms) >= 6
    for method, path in forms:
        client = clients[ACCESS[method, path] or "viewer"]
        for token in (None, "", "wrong", foreign):
            answer = send(client, method, concrete(path, {"name": "other"}), token)
            assert answer.status_code == 403, (path, token, answer.status_code)
            assert "security token is missing or wrong" in answer.text, path
    for role, client in clients.items():
        assert client.get("/").status_code == 200, f"{role}: still signed in (the logout did not happen)"
    assert sign_in("viewer", "third").get("/").status_code == 200
    # The sign-in form's own token (double submit): without it no session is made.
    anonymous = TestClient(console_app, follow_redirects=False)
    refused = anonymous.post("/login", data={"name": "viewer", "password": "correct horse battery", "csrf": "x"})
    assert refused.status_code == 403 and "smsetl_session" not in anonymous.cookies


def test_every_route_refuses_each_role_below_its_own_even_with_a_good_token(
        console_app: Any, sign_in: Callable[..., TestClient]) -> None:
    clients = {role: sign_in(role) for role in ROLES}
    tokens = {role: csrf_of(client.get("/").text) for role, client in clients.items()}
    refused = 0
    for method, path in declared(console_app):
        needed = ACCESS[method, path]
        if needed is None:
            continue
        for role in ROLES[:ROLES.index(needed)]:
            answer = send(clients[role], method, concrete(path, {"name": "admin"}), tokens[role])
            assert answer.status_code == 403, (role, method, path, answer.status_code)
            assert f"This page is for the {needed} role; you are {role}." in answer.text
            refused += 1
    assert refused >= 14, refused
    assert clients["admin"].get("/").status_code == 200, "the admin's session was not ended by a viewer"


def marker(field: str) -> str:
    """Hostile text naming its field: it breaks out of an attribute and opens an element if not escaped."""
    return f"\"'><x-{field}>"


#: Where each stored text is shown (the check that it is escaped there cannot pass by the page not showing it).
SHOWN = {
    "label": ["/", "/runs", "/runs/{failed}", "/lookup?number={number}", "/stops"],
    "job": ["/", "/runs", "/runs/{job}"],
    "detail": ["/runs", "/runs/{failed}"],
    "host": ["/runs/{failed}"],
    "actor": ["/lookup?number={number}"],
    "reason": ["/lookup?number={number}"],
    "endpoint": ["/", "/runs/{failed}"],
    "quarantine": ["/runs/{failed}"],
    "kind": ["/runs/{failed}"],
    "ref": ["/runs/{failed}"],
    "group": ["/lookup?number={number}"],
    "file": ["/audience", "/audience/runs/{audience}"],
}
#: The uploaded file's name: the client percent-encodes quotes in a file name, so this one opens an element only.
UPLOAD_NAME = "<x-file> list.csv"


def shown_as(field: str) -> str:
    return str(escape(UPLOAD_NAME if field == "file" else marker(field)))


#: A query for the pages that need one to show anything.
QUERIES = {"/lookup": f"?number={NUMBER}", "/lookup/evidence.{fmt}": f"?number={NUMBER}"}


def every_get(app: Any, samples: dict[str, list[str]]) -> Iterator[str]:
    """Each GET route with each combination of the given path parameters, and its query."""
    for method, path in declared(app):
        if method != "GET":
            continue
        names = re.findall(r"\{([^}]+)\}", path)
        for values in itertools.product(*(samples.get(n, [SAMPLES[n]]) for n in names)):
            yield concrete(path, dict(zip(names, values))) + QUERIES.get(path, "")


def seeded_site(engine: Engine, sign_in: Callable[..., TestClient], app: Any) -> tuple[TestClient, dict[str, Any]]:
    """An admin on a database where every stored text is `marker(field)`, with a finished audience check."""
    from .test_audience import finished

    runs = seed(engine, NOW, marker)
    seed_stops(engine, NOW, [])
    admin = sign_in("admin", app=app)
    # The seed's contact group has never synced: the check runs on the stale list, as asked, so that it has files.
    answer = admin.post("/audience", data={"csrf": csrf_of(admin.get("/audience").text), "allow_stale": "yes"},
                        files={"file": (UPLOAD_NAME, CSV.encode(), "text/csv")})
    assert answer.status_code == 303, answer.text
    assert 'data-status="done"' in finished(admin, answer.headers["location"])
    ids = {**runs, "audience": answer.headers["location"].rsplit("/", 1)[1], "number": NUMBER}
    return admin, ids


def test_every_stored_text_is_escaped_on_every_page_that_shows_it(
        engine: Engine, make_app: Callable[..., Any], config_with_work_dir: Config,
        sign_in: Callable[..., TestClient]) -> None:
    app = make_app(config_with_work_dir)
    admin, ids = seeded_site(engine, sign_in, app)
    samples = {"run_id:int": [str(ids["failed"]), str(ids["job"])], "run_id": [ids["audience"]],
               "kind": ["allowed", "blocked", "report"], "fmt": ["html", "json"]}
    seen = 0
    for url in every_get(app, samples):
        answer = admin.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        if answer.headers["content-type"].startswith("text/html"):
            for field in SHOWN:
                assert f"<x-{field}>" not in answer.text, (url, field)
            seen += 1
        elif url != "/healthz":
            assert answer.headers.get("content-disposition", "").startswith("attachment"), url
    assert seen >= 10
    for field, pages in SHOWN.items():
        for page in pages:
            body = admin.get(page.format(**ids)).text
            assert shown_as(field) in body, f"{field} is not shown escaped on {page}"


def test_no_page_or_answer_shows_the_api_key_or_a_sub_account_key(
        engine: Engine, make_app: Callable[..., Any], config_with_work_dir: Config, sign_in: Callable[..., TestClient],
        api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSPARTNER_API_KEY", api_key)  # what the console reads for a write, as the daemon does
    app = make_app(config_with_work_dir)
    admin, ids = seeded_site(engine, sign_in, app)
    secrets = (api_key, SUB_KEY)
    answers = [admin.get(url) for url in every_get(app, {"run_id:int": [str(ids["failed"])], "run_id": [ids["audience"]],
                                                         "kind": ["allowed", "blocked", "report"],
                                                         "fmt": ["html", "json"]})]
    # The writes reach for the keys: their answers (the API unreachable, so an error naming the call) show neither.
    token = csrf_of(admin.get("/stops").text)
    for account in ("main", marker("label")):
        for path in ("/stops/add", "/stops/remove", "/messages/cancel"):
            answer = admin.post(path, data={**FIELDS, "csrf": token, "account": account, "number": "+33698765432"})
            assert answer.status_code in (400, 502), (path, account, answer.status_code)
            answers.append(answer)
    assert any("127.0.0.1:9" in a.text or "connect" in a.text.lower() for a in answers), \
        "a write's answer tells the call failed (else this test never saw an error built from a request)"
    for answer in answers:
        for secret in secrets:
            assert secret not in answer.text, answer.url
            assert secret not in str(answer.headers), answer.url
