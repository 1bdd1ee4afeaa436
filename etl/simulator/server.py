"""HTTP plumbing: a threaded stdlib server on loopback, faults, call log, /_sim control.

Why: the client must be tested over real sockets (STYLE §1, httpx's serve_in_thread). Requests
are parsed here (apiKey from query *or* body, quirk 22), routed to handlers.py, rendered as JSON
or XML (quirk 16), and any queued fault is applied at the transport level.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .codes import ApiFailure, text
from .control import control
from .core import Call, Simulator
from .faults import Fault, key_echo_text
from .handlers import ROUTES as _SENDING_ROUTES
from .handlers_accounts import ROUTES as _ACCOUNT_ROUTES
from .handlers_contacts import ROUTES as _CONTACT_ROUTES
from .handlers_verification import RATE_LIMITED as _VERIFICATION
from .handlers_verification import ROUTES as _VERIFICATION_ROUTES
from .render import Stream, has_stream, iter_json, iter_xml, render_json

ROUTES = {**_SENDING_ROUTES, **_ACCOUNT_ROUTES, **_CONTACT_ROUTES, **_VERIFICATION_ROUTES}

HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The proxy received an invalid response.</p></body></html>"
)


def mask(params: dict[str, Any]) -> dict[str, Any]:
    """The call log never stores the key (STYLE habit 3)."""
    return {k: ("***" if k == "apiKey" else v) for k, v in params.items()}


def error_payload(sim: Simulator, endpoint: str, failure: ApiFailure) -> dict[str, Any]:
    """success:false envelope; quirk 13 picks "message" vs "error" and the code-9 errors array."""
    q = sim.quirks
    message = failure.message or text(endpoint, failure.code)
    out: dict[str, Any] = {"success": False, "code": failure.code}
    if failure.errors and q.validation_errors_array and q.error_key == "message":
        out["errors"] = failure.errors
    elif failure.errors:
        out[q.error_key] = "; ".join(e["message"] for e in failure.errors)
    else:
        out[q.error_key] = message
    return out


def _wrong_types(payload: dict[str, Any], fault: Fault) -> dict[str, Any]:
    """Fault ``wrong_types``: one field set to ``value``, or ints -> "n/a" and the main list -> an object."""
    out = dict(payload)
    if "field" in fault.params:
        out[fault.params["field"]] = fault.params.get("value", "n/a")
        return out
    for key, value in payload.items():
        if isinstance(value, bool) or key in ("success", "code"):
            continue
        if isinstance(value, (int, float)):
            out[key] = "n/a"
        elif isinstance(value, (list, Stream)):
            out[key] = {"unexpected": "object"}
        elif isinstance(value, dict):
            out[key] = [value]
    return out


def _malformed_item(payload: dict[str, Any], fault: Fault) -> dict[str, Any]:
    """Fault ``malformed_item``: item ``index`` of the answer's first list gets ``field`` = ``value``
    (no field: the item becomes the string "n/a"). An answer with no list is itself the item."""
    index = int(fault.params.get("index", 0))

    def spoil(item: Any) -> Any:
        if "field" not in fault.params or not isinstance(item, dict):
            return "n/a"
        return {**item, fault.params["field"]: fault.params.get("value", "n/a")}

    out = dict(payload)
    for key, value in payload.items():
        if isinstance(value, list) and len(value) > index:
            out[key] = [spoil(v) if i == index else v for i, v in enumerate(value)]
            return out
        if isinstance(value, Stream):
            out[key] = _spoiled_stream(value, index, spoil)
            return out
    return spoil(out) if "field" in fault.params else out


def _spoiled_stream(stream: Stream, index: int, spoil: Any) -> Stream:
    """The same lazy list with item ``index`` spoiled (JSON answers; XML renders the item unspoiled)."""

    def rows() -> Any:
        for i, row in enumerate(stream.rows):
            yield ("spoiled", spoil(json.loads(stream.json_item(row)))) if i == index else ("row", row)

    def json_item(tagged: Any) -> str:
        kind, value = tagged
        return json.dumps(value, ensure_ascii=False) if kind == "spoiled" else stream.json_item(value)

    def xml_item(tagged: Any) -> str:
        kind, value = tagged
        return "" if kind == "spoiled" else stream.xml_item(value)

    return Stream(rows(), json_item, xml_item, stream.chunk)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each small answer then waits for
    # the client's delayed ACK, capping a keep-alive client at a few dozen calls a second
    # (docs/api-client.md, the `--keep-nagle` figure).
    disable_nagle_algorithm = True
    server: _Server
    _pending: tuple[str, str, dict[str, Any], float] | None = None
    _fault: Fault | None = None
    _account: str | None = "main"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the request line would carry the apiKey

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -------------------------------------------------------------- parsing
    def _read_params(self) -> tuple[dict[str, Any], bool]:
        url = urlsplit(self.path)
        params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        bad_json = False
        if length:
            raw = self.rfile.read(length)
            ctype = self.headers.get("Content-Type", "")
            if "x-www-form-urlencoded" in ctype:
                params.update({k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()})
            else:
                try:
                    body = json.loads(raw or b"{}")
                    if isinstance(body, dict):
                        params.update(body)  # quirk 22: the key may be in the body or the query
                    else:
                        bad_json = True
                except ValueError:
                    bad_json = True
        return params, bad_json

    # -------------------------------------------------------------- writing
    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _send_chunked(self, status: int, chunks: Any, ctype: str, *, drop_after: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        for chunk in chunks:
            if not chunk:
                continue
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            if drop_after is not None and sent >= drop_after:
                self._drop()
                return
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -------------------------------------------------------------- dispatch
    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        sim = self.server.sim
        try:
            params, bad_json = self._read_params()
        except (ValueError, OSError):
            params, bad_json = {}, True
        self._pending, self._fault, self._account = None, None, "main"
        if path.startswith("/_sim/"):
            status, payload = control(sim, method, path[len("/_sim/") :].strip("/"), params)
            self._send(status, render_json(payload), "application/json")
            return
        if not path.startswith("/v1/"):
            self._send(404, render_json({"success": False, "code": 404, "message": "Not found"}), "application/json")
            return
        endpoint = path[len("/v1/") :].strip("/")
        wall = time.time()
        self._pending = (endpoint, method, mask(params), wall)
        try:
            self._serve(sim, method, endpoint, params, bad_json, wall)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        finally:
            self._log_call(499)  # no status line was written: the client went away

    def send_response(self, code: int, message: str | None = None) -> None:
        """Log the call as its status line goes out, so a test sees it as soon as it has the answer."""
        self._log_call(code)
        super().send_response(code, message)

    def _log_call(self, status: int) -> None:
        pending = getattr(self, "_pending", None)
        if pending is None:
            return
        self._pending = None
        fault = getattr(self, "_fault", None)
        endpoint, method, params, wall = pending
        sim = self.server.sim
        account = getattr(self, "_account", "main")
        arrived = datetime.fromtimestamp(wall, timezone.utc)
        peer = int(self.client_address[1])
        sim.record_call(Call(endpoint, method, params, status, sim.clock.now(), fault.kind if fault else None, account, arrived, peer))

    def _serve(
        self, sim: Simulator, method: str, endpoint: str, params: dict[str, Any], bad_json: bool, wall: float
    ) -> tuple[int, Fault | None]:
        fault = self._fault = sim.faults.take(endpoint, wall=wall)
        kind = fault.kind if fault else None
        if fault and kind in ("http_500", "http_502", "http_503"):
            code = int(kind[5:])
            self._send(code, HTML_ERROR.replace(b"502 Bad Gateway", f"{code} Error".encode()), "text/html; charset=utf-8")
            return code, fault
        if fault and kind in ("http_429", "rate_limit"):
            retry = fault.params.get("retry_after", 1)
            header = formatdate(time.time() + float(retry), usegmt=True) if fault.params.get("retry_after_date") else str(retry)
            body = render_json({"success": False, "code": 429, sim.quirks.error_key: text(endpoint, 429)})
            self._send(429, body, "application/json", {"Retry-After": header})
            return 429, fault
        if fault and kind == "html_200":
            self._send(200, HTML_ERROR, "text/html; charset=utf-8")
            return 200, fault
        if fault and kind == "invalid_json":
            self._send(200, b'{"success": true, "code": 200, "data": [{"id": 1,, oops', "application/json")
            return 200, fault
        if fault and kind == "delay":
            self.server.stopping.wait(float(fault.params.get("seconds", 5)))

        fmt = str(params.get("_format") or "json").lower()
        ctype = "application/xml; charset=utf-8" if fmt == "xml" else "application/json"
        status, payload, headers, answered = self._run(sim, method, endpoint, params, bad_json, fault)

        # ``answered``: the handler's own answer, not an error (group/list's success:false is an answer).
        if fault and kind == "wrong_types" and answered:
            payload = _wrong_types(payload, fault)
        if fault and kind == "malformed_item" and answered:
            payload = _malformed_item(payload, fault)
        if fault and kind == "key_echo" and answered:
            payload = {**payload, "message": key_echo_text(str(params.get("apiKey", "")), fault)}
        if fault and kind == "act_then_delay":
            self.server.stopping.wait(float(fault.params.get("seconds", 5)))
        render = iter_xml if fmt == "xml" else iter_json
        if fault and kind == "truncated":
            body = b""
            for chunk in render(payload):
                body += chunk
                if len(body) > 65536:
                    break
            cut = max(1, min(len(body) // 2, int(fault.params.get("bytes", len(body) // 2) or 1)))
            self._send(status, body[:cut], ctype, headers)
            self.close_connection = True
            return status, fault
        if fault and kind == "drop":
            if has_stream(payload):
                self._send_chunked(status, render(payload), ctype, drop_after=int(fault.params.get("after_bytes", 32768)))
            else:
                body = b"".join(render(payload))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: max(1, len(body) // 2)])
                self._drop()
            return status, fault
        if has_stream(payload):
            self._send_chunked(status, render(payload), ctype)
        else:
            self._send(status, b"".join(render(payload)), ctype, headers)
        return status, fault

    def _run(
        self, sim: Simulator, method: str, endpoint: str, params: dict[str, Any], bad_json: bool, fault: Fault | None
    ) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        """(HTTP status, payload, headers, whether the handler answered) for one call."""
        route = ROUTES.get(endpoint)
        if route is None:
            return 404, {"success": False, "code": 404, "message": "Not found"}, {}, False
        allowed = set(route.methods)
        if endpoint == "multi-status" and not sim.quirks.multi_status_get:
            allowed.discard("GET")  # quirk 8 switched off
        if method not in allowed:
            return 405, {"success": False, "code": 405, "message": "Method Not Allowed"}, {"Allow": ", ".join(sorted(allowed))}, False
        try:
            if bad_json:
                raise ApiFailure(90)
            account = self._account_of(sim, params.get("apiKey"), route.missing_key_code)
            key = str(params["apiKey"])
            if fault and fault.kind == "api_error":
                raise ApiFailure(int(fault.params.get("code", 500)), fault.params.get("message"))
            if fault and fault.kind == "key_echo" and fault.params.get("on", "error") == "error":
                raise ApiFailure(int(fault.params.get("code", 10)), key_echo_text(key, fault))
            limited = self._rate_limited(account, endpoint)
            if limited is not None:
                return (*limited, False)
            return 200, route.handler(account, params, method), {}, True
        except ApiFailure as failure:
            return sim.quirks.error_http_status, error_payload(sim, endpoint, failure), {}, False

    def _account_of(self, sim: Simulator, key: Any, missing_code: int) -> Simulator:
        """The account whose key the call carries (parent or sub-account); unknown, revoked or removed: code 10."""
        if key in (None, ""):
            self._account = None
            raise ApiFailure(missing_code)
        found = sim.subaccounts.account_for_key(str(key))
        if found is None:
            self._account = None
            raise ApiFailure(10)
        account, sub = found
        self._account = "main" if sub is None else sub.token
        return account

    @staticmethod
    def _rate_limited(account: Simulator, endpoint: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Per account and endpoint, calls a minute of *simulated* time: `Quirks.cost_resume_rate_limit` (§3.8),
        `Quirks.verification_rate_limit` for hlr/notify and lookup (ACCOUNTS §4). The next gets HTTP 429 +
        Retry-After (seconds) and body code 429 (the code DOC-err uses for rate limits)."""
        q = account.quirks
        if endpoint == "statistics/cost-resume":
            limit = q.cost_resume_rate_limit
        elif endpoint in _VERIFICATION:
            limit = q.verification_rate_limit
        else:
            return None
        if limit is None:
            return None
        now = account.clock.now()
        with account.lock:
            hits = account.rate_hits.setdefault(endpoint, deque())
            while hits and (now - hits[0]).total_seconds() >= 60:
                hits.popleft()
            if len(hits) >= limit:
                wait = max(1, int(60 - (now - hits[0]).total_seconds() + 0.999))
                body = {"success": False, "code": 429, q.error_key: text(endpoint, 429)}
                return 429, body, {"Retry-After": str(wait)}
            hits.append(now)
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], sim: Simulator) -> None:
        super().__init__(addr, _Handler)
        self.sim = sim
        self.stopping = threading.Event()


class SimulatorServer:
    """Serve a Simulator on loopback in a background thread (port 0 picks a free port)."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self._httpd = _Server((host, port), sim)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.port}/_sim"

    def start(self) -> SimulatorServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sms-simulator", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block in the calling thread (the CLI)."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        for account in (self.sim, *(s.account for s in self.sim.subaccounts.listed())):
            if account.callbacks is not None:
                account.callbacks.stop()
        self._httpd.stopping.set()  # wake delayed answers
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["SimulatorServer", "error_payload", "mask"]
