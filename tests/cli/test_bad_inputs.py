"""Every bad input gives one clear sentence on stderr and a non-zero exit code, never a traceback (issue 16).

One row per case: (id, argv, set-up, exit code, a fragment of the sentence). The CLI runs as a real subprocess
(``python -m etl.cli``), so what is asserted is what a user or systemd sees. Rows that involve a database run on the
three backends; the others run once.

``{tmp}`` in argv and env is the test's temporary folder, ``{busy}`` a port a socket of the test listens on,
``{sim}`` the base URL of a running simulator, ``{fake_sim}`` the URL of a server that answers ``{}`` to everything.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from harness import TEST_API_KEY

from etl.tracking import MONEY_SCALE

#: Shown in no output: the password of every database URL below.
DB_PASSWORD = "pw-never-shown"
UNREACHABLE = 69
CONFIG = 78
DATAERR = 65
NOT_MIGRATED = "is not migrated: run `smspartner-etl db upgrade`"
#: A cost one decimal finer than the money column keeps (it would be rounded on the way in).
TOO_PRECISE = "0.04" + "5" * (MONEY_SCALE - 1) + "1"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int
    fragment: str
    #: Extra environment (``SMSPARTNER_ETL__...``); values may use the placeholders.
    env: dict[str, str] = field(default_factory=dict)
    #: Writes what the case needs into the temporary folder.
    files: Callable[[Path], None] | None = None
    #: "none" (an untouched SQLite file), "migrated", "unmigrated" (empty), "unreachable".
    db: str = "none"
    #: Where the sentence goes: stderr, except for `doctor`, whose report (FAIL lines included) is its output.
    stream: str = "stderr"
    #: Numbers put in the simulator's stop list, then a ``sync stops``, before the case runs.
    synced_stops: tuple[str, ...] = ()


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SMSPARTNER", "CREDENTIALS_DIRECTORY"))}
    try:
        return subprocess.run(
            [sys.executable, "-m", "etl.cli", *argv], env={**base, **env}, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{argv} still running after {timeout}s (it should have refused at once): {exc.stderr!r}")


def assert_one_sentence(result: subprocess.CompletedProcess[str], case: Case) -> None:
    out = result.stdout + result.stderr
    assert len(out) < 2000, out[:2000]  # a sentence, not the input quoted back
    assert "Traceback" not in out, out
    assert result.returncode == case.code, out
    assert case.fragment in (result.stdout if case.stream == "stdout" else result.stderr), out
    assert DB_PASSWORD not in out and TEST_API_KEY not in out, out


# --- the cases ----------------------------------------------------------------------------------------------------


def _write(name: str, data: bytes, mode: int = 0o600) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        (tmp / name).write_bytes(data)
        (tmp / name).chmod(mode)

    return write


GOOD_CSV = b"message_id,phone\n300001,+33612345678\n"

#: Each command that reads or writes the database, refused in one sentence when it cannot be reached or used.
DB_COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    ("stops-add", ("stops", "add", "+33612345678")),
    ("stops-remove", ("stops", "remove", "+33612345678", "--consent-evidence", "form 4711")),
    ("stops-remove-id", ("stops", "remove", "--id", "5", "--consent-evidence", "form 4711")),
    ("messages-cancel", ("messages", "cancel", "300001")),
    ("track-csv", ("track", "{tmp}/sends.csv")),
    ("track-message-id", ("track", "--message-id", "300001")),
    ("track-tag", ("track", "--tag", "promo")),
    ("rentals-list", ("rentals", "list")),
    ("rentals-add", ("rentals", "add", "token-1")),
]

DATABASE_CASES = [
    *(
        Case(f"unreachable-{name}", argv, UNREACHABLE, "database unreachable: ", files=_write("sends.csv", GOOD_CSV), db="unreachable")
        for name, argv in DB_COMMANDS
    ),
    Case("unreachable-db-current", ("db", "current"), UNREACHABLE, "database unreachable: ", db="unreachable"),
    Case("unreachable-db-upgrade", ("db", "upgrade"), UNREACHABLE, "database unreachable: ", db="unreachable"),
    *(
        Case(f"unmigrated-{name}", argv, CONFIG, NOT_MIGRATED, files=_write("sends.csv", GOOD_CSV), db="unmigrated")
        for name, argv in DB_COMMANDS
    ),
    Case(
        "track-cost-beyond-money",
        ("track", "{tmp}/inf.csv"),
        DATAERR,
        "inf.csv:3: cost: '1e999999' is out of range",
        files=_write("inf.csv", b"message_id,phone,cost,currency\n300001,+33612345678,0.045,EUR\n300002,+33612345678,1e999999,EUR\n"),
        db="migrated",
    ),
    Case(
        "track-cost-with-a-decimal-beyond-the-money-scale",
        ("track", "{tmp}/dec.csv"),
        DATAERR,
        f"dec.csv:2: cost: '{TOO_PRECISE}' has more than {MONEY_SCALE} decimals",
        files=_write("dec.csv", f"message_id,phone,cost,currency\n300001,+33612345678,{TOO_PRECISE},EUR\n".encode()),
        db="migrated",
    ),
    Case(
        "track-nb-sms-beyond-integer",
        ("track", "{tmp}/nb.csv"),
        DATAERR,
        "nb.csv:2: nb_sms: 99999999999 is too large",
        files=_write("nb.csv", b"message_id,phone,nb_sms\n300001,+33612345678,99999999999\n"),
        db="migrated",
    ),
    Case(
        "stops-add-already-in-the-synced-list",
        ("stops", "add", "06 12 34 56 78"),
        DATAERR,
        "+33612345678 is already in the stop list since ",
        env={"SMSPARTNER_ETL__API__BASE_URL": "{sim}"},
        db="migrated",
        synced_stops=("+33612345678",),
    ),
    Case(
        "stops-remove-id-beyond-bigint",
        ("stops", "remove", "--id", "99999999999999999999999", "--consent-evidence", "form 4711"),
        DATAERR,
        "--id: a stop id is a whole number from 1 to 9223372036854775807",
        db="migrated",
    ),
]

CASES = [
    Case(
        "track-binary-file",
        ("track", "{tmp}/photo.csv"),
        DATAERR,
        "photo.csv:1: not UTF-8 text (byte 1 of the line): save it as UTF-8",
        files=_write("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"),
    ),
    Case(
        "track-latin1-file",
        ("track", "{tmp}/latin1.csv"),
        DATAERR,
        "latin1.csv:2: not UTF-8 text (byte 22 of the line)",
        files=_write("latin1.csv", "message_id,phone,tag\n300001,+33612345678,réunion\n".encode("latin-1")),
    ),
    Case(
        "track-utf16-file",
        ("track", "{tmp}/utf16.csv"),
        DATAERR,
        "utf16.csv: is UTF-16 text: save it as UTF-8",
        files=_write("utf16.csv", "message_id,phone\n300001,+33612345678\n".encode("utf-16")),
    ),
    Case(
        "track-10mb-line",
        ("track", "{tmp}/long.csv"),
        DATAERR,
        "long.csv:2: not a CSV line we can read (field larger than field limit",
        files=_write("long.csv", b"message_id,phone,tag\n300001,+33612345678," + b"x" * 10_000_000 + b"\n"),
    ),
    Case(
        "track-200kb-field",
        ("track", "{tmp}/field.csv"),
        DATAERR,
        "field.csv:2: not a CSV line we can read (field larger than field limit",
        files=_write("field.csv", b'message_id,phone,tag\n300001,+33612345678,"' + b"y" * 200_000 + b'"\n'),
    ),
    Case(
        "track-100kb-phone-not-quoted-back",
        ("track", "{tmp}/phone.csv"),
        DATAERR,
        "phone.csv:2: phone: 100,000 characters (at most 1024)",
        files=_write("phone.csv", b"message_id,phone\n300001," + b"6" * 100_000 + b"\n"),
    ),
    Case(
        "config-file-latin1",
        ("--config", "{tmp}/latin1.toml", "rentals", "list"),
        CONFIG,
        "latin1.toml: not UTF-8 text (line 2); save it as UTF-8",
        files=_write("latin1.toml", '[rentals]\n# Réservé\n'.encode("latin-1")),
    ),
    Case(
        "config-file-utf16",
        ("--config", "{tmp}/utf16.toml", "rentals", "list"),
        CONFIG,
        "utf16.toml: not UTF-8 text",
        files=_write("utf16.toml", '[database]\nurl = "sqlite:///x.db"\n'.encode("utf-16")),
    ),
    Case(
        "key-file-latin1",
        ("sync", "stops"),
        CONFIG,
        "api.key_file: {tmp}/key is not UTF-8 text",
        env={"SMSPARTNER_API_KEY": "", "SMSPARTNER_ETL__API__KEY_FILE": "{tmp}/key"},
        files=_write("key", b"cl\xe9-secr\xe8te\n"),
    ),
    Case(
        "key-file-readable-by-others-warns-and-goes-on",
        ("doctor",),
        0,
        "key file {tmp}/key is readable by others (mode 644); chmod 600 it",
        env={"SMSPARTNER_API_KEY": "", "SMSPARTNER_ETL__API__KEY_FILE": "{tmp}/key", "SMSPARTNER_ETL__API__BASE_URL": "{sim}"},
        files=_write("key", TEST_API_KEY.encode() + b"\n", mode=0o644),
        db="migrated",
    ),
    Case(
        "run-health-port-in-use",
        ("run", "--health-port", "{busy}"),
        CONFIG,
        "daemon.health_port: cannot listen on 127.0.0.1:{busy}: Address already in use",
        db="migrated",
    ),
    Case(
        "run-push-port-in-use",
        ("run",),
        CONFIG,
        "push.port: cannot listen on 127.0.0.1:{busy}: Address already in use",
        env={"SMSPARTNER_ETL__PUSH__ENABLED": "true", "SMSPARTNER_ETL__PUSH__PORT": "{busy}"},
        db="migrated",
    ),
    Case(
        "receive-port-in-use",
        ("receive", "--port", "{busy}"),
        CONFIG,
        "--port: cannot listen on 127.0.0.1:{busy}: Address already in use",
        db="migrated",
    ),
    Case(
        "clock-simulator-without-simulator",
        ("track", "--tag", "promo"),
        CONFIG,
        "api.clock = 'simulator': no simulator clock at http://127.0.0.1:{busy}/_sim/clock",
        env={"SMSPARTNER_ETL__API__CLOCK": "simulator", "SMSPARTNER_ETL__API__BASE_URL": "http://127.0.0.1:{busy}/v1"},
    ),
    Case(
        "clock-simulator-not-a-simulator",
        ("track", "--tag", "promo"),
        CONFIG,
        "api.clock = 'simulator': no simulator clock at {fake_sim}/_sim/clock (KeyError)",
        env={"SMSPARTNER_ETL__API__CLOCK": "simulator", "SMSPARTNER_ETL__API__BASE_URL": "{fake_sim}/v1"},
    ),
    Case(
        "cron-invalid-doctor",
        ("doctor",),
        CONFIG,
        "jobs.stops.cron: '61 * * * *' is not a valid cron schedule",
        env={"SMSPARTNER_ETL__JOBS__STOPS__CRON": "61 * * * *"},
        stream="stdout",
    ),
    Case(
        "cron-invalid-run",
        ("run",),
        CONFIG,
        "jobs.stops.cron: '61 * * * *' is not a valid cron schedule",
        env={"SMSPARTNER_ETL__JOBS__STOPS__CRON": "61 * * * *"},
    ),
    Case(
        "jobs-table-misspelt",
        ("--config", "{tmp}/stpos.toml", "rentals", "list"),
        CONFIG,
        "jobs.stpos: unknown job table [jobs.stpos]; known jobs: accounts, actions, contacts, finance, rentals, retention, statuses, stops",
        files=_write("stpos.toml", b'[jobs.stpos]\nevery = "5m"\n'),
    ),
]


# --- the world each case runs in ----------------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port this test listens on (and never accepts), so nobody else can."""
    sock = socket.create_server(("127.0.0.1", 0))
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


class _EmptyJson(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = json.dumps({}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_sim() -> Iterator[str]:
    """A server that answers ``{}`` to any GET: a base URL that is not the simulator."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyJson)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def _unreachable_url(backend: str, tmp: Path) -> str:
    port = _closed_port()
    return {
        "sqlite": f"sqlite:///{tmp}/no-such-folder/x.sqlite3",
        "postgresql": f"postgresql+psycopg://smsetl:{DB_PASSWORD}@127.0.0.1:{port}/x",
        "mariadb": f"mariadb+pymysql://smsetl:{DB_PASSWORD}@127.0.0.1:{port}/x",
    }[backend]


def _run_case(case: Case, request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> None:
    places: dict[str, str] = {"tmp": str(tmp_path)}
    text = " ".join([*case.argv, case.fragment, *case.env.values()])
    if "{busy}" in text:
        places["busy"] = str(request.getfixturevalue("busy_port"))
    if "{fake_sim}" in text:
        places["fake_sim"] = request.getfixturevalue("fake_sim")
    if "{sim}" in text:
        places["sim"] = request.getfixturevalue("simulator").base_url
    if case.files is not None:
        case.files(tmp_path)
    env = {
        "SMSPARTNER_API_KEY": TEST_API_KEY,
        "SMSPARTNER_ETL__API__BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
        "SMSPARTNER_ETL__API__MAX_ATTEMPTS": "1",
        "SMSPARTNER_ETL__PUSH__PATH_TOKEN": "push-token-0123456789",
        "SMSPARTNER_ETL__DAEMON__LOG_FORMAT": "text",
        "SMSPARTNER_ETL__DATABASE__URL": db_url,
        **{k: v.format(**places) for k, v in case.env.items()},
    }
    if case.synced_stops:
        simulator = request.getfixturevalue("simulator")
        for number in case.synced_stops:
            simulator.sim.add_stop(number)
        synced = run_cli(["sync", "stops"], env, tmp_path)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        simulator.sim.reset_calls()
    argv = [a.format(**places) for a in case.argv]
    expected = Case(case.id, case.argv, case.code, case.fragment.format(**places), stream=case.stream)
    assert_one_sentence(run_cli(argv, env, tmp_path), expected)
    if case.synced_stops:
        assert request.getfixturevalue("simulator").sim.calls_to("stop-sms/add") == []  # refused before any call


@pytest.mark.parametrize("case", DATABASE_CASES, ids=lambda c: c.id)
def test_a_database_problem_is_one_sentence_on_every_backend(case: Case, backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if case.db == "unreachable":
        url = _unreachable_url(backend, tmp_path)
    elif case.db == "unmigrated":
        url = request.getfixturevalue("db_url")
    else:
        url = request.getfixturevalue("migrated_db_url")
    _run_case(case, request, tmp_path, url)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_bad_input_is_one_sentence(case: Case, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/etl.sqlite3"
    if case.db == "migrated":
        from etl.db.migrate import upgrade

        upgrade(url)
    _run_case(case, request, tmp_path, url)
