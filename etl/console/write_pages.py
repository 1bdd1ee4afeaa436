"""The admin's writes: add a stop, remove a stop, cancel a scheduled send (docs/console.md, "Stops and cancels").

A removal needs consent evidence, and within the cool-off after a STOP reply an explicit override with its reason
(`etl.jobs.actions.consent`): the same rules as ``stops remove``, checked by the same code.

Each goes through the CLI's audited write path (`etl.jobs.actions`: a ``pending`` row before the call, the
call once, the row completed with its effect), with the signed-in user as the actor (``console:NAME``) and
a reason required; the account is chosen as ``--account LABEL`` is. The call is made in a worker thread so
the server keeps answering. Every refusal and failure is one sentence: 400 when refused before any call,
502 when the API refused it or its outcome is not known yet (the ``actions`` job settles it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from etl.console import queries
from etl.console.app import page
from etl.console.auth import Principal
from etl.errors import EtlError

if TYPE_CHECKING:
    from etl.accounts import AccountRef
    from etl.api.protocol import ApiClient
    from etl.console.app import Console
    from etl.jobs.actions import ActionResult

MAX_REASON_CHARS = 500
MAX_FIELD_CHARS = 64
#: Longer fields than `MAX_FIELD_CHARS`: the reason, and consent evidence (a reference: `etl.jobs.actions.consent`).
LONG_FIELDS = {"reason": MAX_REASON_CHARS, "consent_evidence": 2000}
#: The library's sentences name the CLI's options; here they name the form's fields.
CLI_WORDS = (("--account: ", "Account "), (" (--consent-evidence)", ""),
             ("--override with --reason", "ticking “Override the cool-off” (with a reason)"),
             ("remove one with --id", "remove one by its stop id (the number's lookup shows them)"),
             ("give either a number or a stop id, not both", "give a number or a stop id (one of them)"))
#: What one write does with (console, client, account, fields, actor) once the account's client is made.
Write = Callable[["Console", "ApiClient", "AccountRef", dict[str, str], str], "ActionResult"]


def _page(console: Console, request: Request, user: Principal, status: int = 200, message: str = "", ok: bool = False,
          form: str = "") -> Response:
    return console.render(request, "stops.html", status=status, user=user, accounts=queries.accounts(console.engine),
                          message=message, ok=ok, form=form)


@page("admin")
async def stops_page(console: Console, request: Request, user: Principal) -> Response:
    return _page(console, request, user)


def _fields(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(form.get(name) or "").strip() for name in names}


async def _write(console: Console, request: Request, user: Principal, form_id: str, names: tuple[str, ...],
                 write: Write) -> Response:
    """Check the reason, make the account's client, run ``write`` in a thread, show what happened."""
    from etl.account_directory import account_client
    from etl.api.factory import make_client

    fields = _fields(await request.form(), ("account", "reason", *names))
    if not fields["reason"]:
        return _page(console, request, user, 400, "Give a reason: it is kept in the audit trail.", form=form_id)
    too_long = next((n for n, v in fields.items() if len(v) > LONG_FIELDS.get(n, MAX_FIELD_CHARS)), None)
    if too_long:
        return _page(console, request, user, 400, f"The field {too_long} is at most "
                                                  f"{LONG_FIELDS.get(too_long, MAX_FIELD_CHARS)} characters.", form=form_id)
    config = console.config

    def act() -> ActionResult:
        account, client = account_client(config, console.engine, fields["account"] or "main",
                                         lambda: make_client(config, config.api_key()))
        try:
            return write(console, client, account, fields, f"console:{user.name}")
        finally:
            client.close()

    try:
        result = await run_in_threadpool(act)
    except EtlError as exc:
        return _page(console, request, user, 400, _sentence(str(exc)), form=form_id)
    audit = f" (audit #{result.action_id})" if result.action_id is not None else ""
    if result.ok:
        return _page(console, request, user, 200, _sentence(result.message) + audit, ok=True, form=form_id)
    return _page(console, request, user, 502, _sentence(f"{result.outcome}: {result.message}") + audit, form=form_id)


def _sentence(text: str) -> str:
    """The library's messages, written for a terminal, as one sentence on a page naming the form's fields."""
    for cli, form in CLI_WORDS:
        text = text.replace(cli, form)
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else text


def _region(console: Console) -> str:
    return console.config.api.default_region or "FR"


def _add(console: Console, client: ApiClient, account: AccountRef, fields: dict[str, str], actor: str) -> ActionResult:
    from etl import phones
    from etl.jobs import actions

    number = phones.normalize(fields["number"], _region(console))
    return actions.add_stop(client, console.engine, number, actor=actor, reason=fields["reason"], now=console.now,
                            account=account)


def _remove(console: Console, client: ApiClient, account: AccountRef, fields: dict[str, str], actor: str) -> ActionResult:
    from etl import phones
    from etl.jobs import actions

    # By number, or by the stop list's id where the number has several open stops (as ``stops remove --id``).
    number = phones.normalize(fields["number"], _region(console)) if fields["number"] else None
    stop_id = actions.parse_stop_id(fields["stop_id"], "Stop id") if fields["stop_id"] else None
    return actions.remove_stop(client, console.engine, number, stop_id=stop_id, consent_evidence=fields["consent_evidence"],
                               override=fields["override"] == "yes", cooloff=console.config.compliance.stop_reply_cooloff,
                               actor=actor, reason=fields["reason"], now=console.now, account=account)


def _cancel(console: Console, client: ApiClient, account: AccountRef, fields: dict[str, str], actor: str) -> ActionResult:
    from etl.jobs import actions

    return actions.cancel_message(client, console.engine, fields["message_id"], actor=actor, reason=fields["reason"],
                                  now=console.now, account=account)


@page("admin")
async def stop_add(console: Console, request: Request, user: Principal) -> Response:
    return await _write(console, request, user, "stop-add", ("number",), _add)


@page("admin")
async def stop_remove(console: Console, request: Request, user: Principal) -> Response:
    return await _write(console, request, user, "stop-remove", ("number", "stop_id", "consent_evidence", "override"), _remove)


@page("admin")
async def message_cancel(console: Console, request: Request, user: Principal) -> Response:
    return await _write(console, request, user, "cancel-message", ("message_id",), _cancel)


ROUTES: list[tuple[str, Callable[[Console], Callable[[Request], Awaitable[Response]]], list[str]]] = [
    ("/stops", stops_page, ["GET"]),
    ("/stops/add", stop_add, ["POST"]),
    ("/stops/remove", stop_remove, ["POST"]),
    ("/messages/cancel", message_cancel, ["POST"]),
]
