"""The audience check pages (marketing and admin): upload a CSV, follow the run, download its three files
(docs/console.md, "Audience check")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from etl.console.app import page
from etl.console.audience_runs import RunState
from etl.console.auth import Principal, csrf_ok
from etl.console.uploads import UploadRefused, human_size, receive

if TYPE_CHECKING:
    from etl.console.app import Console

#: Seconds between reloads of a run page while the check runs (a meta refresh: no script needed).
REFRESH = 2
MAX_COLUMN_CHARS = 64


def _form(console: Console, request: Request, user: Principal, status: int = 200, message: str = "") -> Response:
    return console.render(request, "audience.html", status=status, user=user, message=message,
                          limit=human_size(console.config.console.upload_limit), freshness=_freshness(console),
                          runs=console.runs.mine(None if user.role == "admin" else user.name)[:20])


def _freshness(console: Console) -> str:
    """One sentence when the stop list is stale now (the form warns before a large upload), else ''."""
    from etl.audience.freshness import check_freshness
    from etl.errors import StaleData

    try:
        with console.engine.connect() as conn:
            check_freshness(conn, now=console.now(), max_age=console.config.audience.max_stop_age)
    except StaleData as exc:
        return str(exc).split("; sync it")[0][:400]
    return ""


@page("marketing")
async def audience_form(console: Console, request: Request, user: Principal) -> Response:
    return _form(console, request, user)


@page("marketing", streamed=True)
async def audience_upload(console: Console, request: Request, user: Principal) -> Response:
    def token_first(fields: dict[str, str]) -> None:
        if not csrf_ok(user, fields.get("csrf")):
            raise UploadRefused(403, "The form's security token is missing or wrong; reload the page and try again.")

    run_id, folder = console.runs.new_folder()
    try:
        upload = await receive(request, console.runs.input_path(folder), limit=console.config.console.upload_limit,
                               before_file=token_first)
    except UploadRefused as refused:
        console.runs.discard(run_id)
        if refused.status == 403:
            return console.refuse(request, user, 403, refused.message)
        return _form(console, request, user, refused.status, refused.message)
    except BaseException:
        console.runs.discard(run_id)
        raise
    state = RunState(run_id, user.name, upload.filename, upload.size, console.now().isoformat(),
                     allow_stale=upload.fields.get("allow_stale") == "yes",
                     column=upload.fields.get("column", "").strip()[:MAX_COLUMN_CHARS])
    console.runs.start(state)
    return RedirectResponse(f"/audience/runs/{run_id}", status_code=303)


def _readable(console: Console, request: Request, user: Principal) -> RunState | None:
    """The run in the path when this user may read it (its owner, or an admin); else None, shown as 404."""
    state = console.runs.get(str(request.path_params["run_id"]))
    if state is None or (state.owner != user.name and user.role != "admin"):
        return None
    return state


@page("marketing")
async def audience_run(console: Console, request: Request, user: Principal) -> Response:
    state = _readable(console, request, user)
    if state is None:
        return console.refuse(request, user, 404, "There is no audience check with that id for you.")
    return console.render(request, "audience_run.html", user=user, run=state, refresh=REFRESH if state.active else None)


@page("marketing")
async def audience_download(console: Console, request: Request, user: Principal) -> Response:
    state = _readable(console, request, user)
    found = console.runs.file(state, str(request.path_params["kind"])) if state else None
    if found is None:
        return console.refuse(request, user, 404, "There is no such file for you.")
    path, media, name = found
    return FileResponse(path, media_type=media, filename=name)


ROUTES: list[tuple[str, Callable[[Console], Callable[[Request], Awaitable[Response]]], list[str]]] = [
    ("/audience", audience_form, ["GET"]),
    ("/audience", audience_upload, ["POST"]),
    ("/audience/runs/{run_id}", audience_run, ["GET"]),
    ("/audience/runs/{run_id}/{kind}", audience_download, ["GET"]),
]
