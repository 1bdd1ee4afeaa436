"""The console's pages: overview, runs, a run, number lookup and its evidence report, and the admin's user sessions
(docs/console.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from etl.console import charts, queries, sessions
from etl.console.app import page
from etl.console.auth import Principal

if TYPE_CHECKING:
    from etl.console.app import Console

#: Days of spend and funnel the overview charts.
CHART_DAYS = 30
MAX_NUMBER_CHARS = 64


@page("viewer")
async def overview(console: Console, request: Request, user: Principal) -> Response:
    now = console.now()
    since, last = queries.chart_window(console.reads, CHART_DAYS, now.date())
    days = [(since + timedelta(days=i)).isoformat() for i in range((last - since).days + 1)]
    spend = [charts.bar_chart(f"{account} · {currency}", [(day, dict(points).get(day, Decimal(0))) for day in days])
             for (account, currency), points in queries.spend(console.reads, since).items()]
    funnel = {account: charts.funnel_segments(counts) for account, counts in queries.funnel(console.reads, since).items()}
    return console.render(request, "overview.html", user=user, jobs=queries.job_rows(console.reads, console.config.jobs, now),
                          quarantined=queries.quarantined(console.reads), spend=spend, funnel=funnel, since=since, last=last,
                          chart=charts)


def _choice(request: Request, name: str, allowed: list[str] | tuple[str, ...]) -> str | None:
    value = request.query_params.get(name) or None
    return value if value in allowed else None


@page("viewer")
async def runs(console: Console, request: Request, user: Principal) -> Response:
    jobs = sorted(console.config.jobs)
    accounts = queries.accounts(console.reads)
    chosen = {"job": _choice(request, "job", jobs), "account": _choice(request, "account", accounts),
              "outcome": _choice(request, "outcome", queries.RUN_OUTCOMES)}
    return console.render(request, "runs.html", user=user, runs=queries.runs(console.reads, **chosen), chosen=chosen,
                          jobs=jobs, accounts=accounts, outcomes=queries.RUN_OUTCOMES, limit=queries.RUNS_SHOWN)


@page("viewer")
async def run_detail(console: Console, request: Request, user: Principal) -> Response:
    found = queries.run(console.reads, int(request.path_params["run_id"]))
    if found is None:
        return console.refuse(request, user, 404, "There is no run with that id.")
    return console.render(request, "run.html", user=user, run=found)


@page("viewer")
async def lookup(console: Console, request: Request, user: Principal) -> Response:
    from etl.phones import canonicalize

    raw = request.query_params.get("number", "")
    if not raw.strip():
        return console.render(request, "lookup.html", user=user, number="", e164=None, history=None, message="")
    e164 = canonicalize(raw[:MAX_NUMBER_CHARS], console.config.api.default_region) if len(raw) <= MAX_NUMBER_CHARS else None
    if e164 is None:
        return console.render(request, "lookup.html", status=400, user=user, number=raw[:MAX_NUMBER_CHARS], e164=None,
                              history=None, message="That is not a phone number; try +33612345678 or 06 12 34 56 78.")
    return console.render(request, "lookup.html", user=user, number=raw, e164=e164,
                          history=queries.number_history(console.reads, e164), message="")


#: The evidence report's formats here: (renderer, media type). Served as attachments, never shown in the console.
EVIDENCE = {"html": "text/html; charset=utf-8", "json": "application/json"}


@page("viewer")
async def evidence(console: Console, request: Request, user: Principal) -> Response:
    """The number's evidence report (`etl.compliance.evidence`, as `smspartner-etl evidence`), to download."""
    from etl.compliance import evidence as evidence_report
    from etl.compliance import evidence_render
    from etl.compliance.hashing import optional_hasher
    from etl.phones import canonicalize

    fmt = str(request.path_params["fmt"])
    raw = request.query_params.get("number", "")
    e164 = canonicalize(raw, console.config.api.default_region) if fmt in EVIDENCE and 0 < len(raw) <= MAX_NUMBER_CHARS else None
    if e164 is None:
        return console.refuse(request, user, 400 if fmt in EVIDENCE else 404, "That is not a phone number, or not a report format.")
    hasher = optional_hasher(console.config.compliance)  # without a key the report says what it could not check
    with console.engine.connect() as conn:
        report = evidence_report.gather(conn, e164, hasher)
    body = evidence_render.RENDERERS[fmt](report)
    name = f"evidence-{e164.lstrip('+')}.{fmt}"
    return Response(body, media_type=EVIDENCE[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


@page("admin")
async def users_page(console: Console, request: Request, user: Principal) -> Response:
    from etl.console import users

    return console.render(request, "users.html", user=user, users=users.list_users(console.engine),
                          message=request.query_params.get("ended", ""))


@page("admin")
async def end_sessions(console: Console, request: Request, user: Principal) -> Response:
    ended = sessions.end_all(console.engine, str(request.path_params["name"]))
    return RedirectResponse(f"/users?ended={ended}", status_code=303)


ROUTES: list[tuple[str, Callable[[Console], Callable[[Request], Awaitable[Response]]], list[str]]] = [
    ("/", overview, ["GET"]),
    ("/runs", runs, ["GET"]),
    ("/runs/{run_id:int}", run_detail, ["GET"]),
    ("/lookup", lookup, ["GET"]),
    ("/lookup/evidence.{fmt}", evidence, ["GET"]),
    ("/users", users_page, ["GET"]),
    ("/users/{name}/sessions/end", end_sessions, ["POST"]),
]
