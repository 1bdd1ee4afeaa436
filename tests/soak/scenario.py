"""The soak scenario: 48 h of simulated account life, a fault schedule, real daemon processes.

The simulator runs in the test process (``SimulatorServer``); a driver loop advances its clock by a
fixed step every ``tick`` of wall time, so 48 simulated hours pass in a few dozen seconds. The
daemons (``smspartner-etl run``, subprocesses) read "now" from the simulator (``api.clock =
"simulator"``), so their ladders, windows and cost delays live in simulated time while their
schedules and locks stay in wall time.

During the life phase the driver adds and removes stops, flips rental stop flags, sends messages
(recorded as the sending application would: a ``track_intake`` row per recipient, or the message id
alone for a few) and fires the fault schedule. Then faults stop, the clock keeps moving until every
send is past its window and its cost delay, and the driver waits for the daemon to catch up
(``settled``). See docs/soak.md.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness._base import free_port
from sqlalchemy import insert, text

from etl.db.engine import make_engine

ENTRY = Path(sys.executable).with_name("smspartner-etl")
RENTAL_TOKEN = "soak-rental-7f3c9a"


def _valid(e164: str) -> bool:
    import phonenumbers

    return bool(phonenumbers.is_valid_number(phonenumbers.parse(e164)))


def realistic_key() -> str:
    """A fresh key per run, shaped like a real one (40 hex characters), so a leak is unmistakable."""
    return secrets.token_hex(20)


# --- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """At ``at`` (share of the life phase, 0..1): inject a simulator fault, or a process/database action."""

    at: float
    action: str  # "fault", "clear_faults", "db_restart", "sigkill", "second_start", "second_stop"
    endpoint: str = "*"
    kind: str = ""
    count: int | None = 1
    rate: float | None = None
    params: tuple[tuple[str, Any], ...] = ()


def fault(at: float, endpoint: str, kind: str, count: int | None = 1, rate: float | None = None, **params: Any) -> Step:
    return Step(at, "fault", endpoint, kind, count, rate, tuple(sorted(params.items())))


#: Every simulator fault kind, on the endpoints the jobs use; then the process and database faults.
FAULT_SCHEDULE: tuple[Step, ...] = (
    fault(0.04, "stop-sms/list", "http_500", 2),
    fault(0.06, "multi-status", "http_502", 2),
    fault(0.07, "*", "http_503", 3),
    fault(0.09, "message-status", "http_429", 3, retry_after=1),
    fault(0.10, "statistics/cost-resume", "http_429", 1, retry_after=1, retry_after_date=True),
    fault(0.12, "multi-status", "delay", 2, seconds=3),  # > read_timeout: a read timeout, retried
    fault(0.13, "location/status", "delay", 1, seconds=0.5),  # < read_timeout: just slow
    fault(0.15, "stop-sms/list", "drop", 1),
    fault(0.16, "location/file/download", "drop", 1, after_bytes=2000),
    fault(0.17, "multi-status", "drop", 1),
    fault(0.19, "stop-sms/list", "truncated", 1),
    fault(0.20, "multi-status", "truncated", 1),
    fault(0.21, "message-status", "truncated", 2),
    fault(0.23, "*", "html_200", 2),
    fault(0.25, "*", "invalid_json", 3),
    fault(0.27, "stop-sms/list", "wrong_types", 1),
    fault(0.28, "multi-status", "wrong_types", 1),
    fault(0.29, "message-status", "wrong_types", 2),
    fault(0.30, "location/file/download", "wrong_types", 1),
    fault(0.31, "bulk-status", "wrong_types", 1),
    fault(0.33, "*", "api_error", 2, code=10),  # bad key
    fault(0.34, "multi-status", "api_error", 1, code=9),
    fault(0.35, "message-status", "api_error", 2, code=4),
    fault(0.36, "stop-sms/list", "api_error", 1, code=1),
    # The key quoted back in API texts (issue 16): plain, URL-encoded, upper-cased, in errors and a success message.
    fault(0.37, "multi-status", "key_echo", 1, code=99, style="all"),
    fault(0.37, "stop-sms/list", "key_echo", 1, style="upper"),
    fault(0.38, "message-status", "key_echo", 2, code=99, style="url"),
    fault(0.38, "location/status", "key_echo", 1, code=99, style="all"),
    fault(0.39, "statistics/cost-resume", "key_echo", 1, code=99),
    fault(0.39, "bulk-status", "key_echo", 1, on="success", style="all"),
    Step(0.40, "db_restart"),
    Step(0.50, "sigkill"),
    Step(0.58, "second_start"),
    fault(0.62, "*", "http_503", 15, rate=0.05),  # a chaotic stretch: 5 % of calls fail, two daemons
    fault(0.63, "*", "delay", 4, rate=0.02, seconds=2.5),
    Step(0.72, "db_restart"),
    Step(0.78, "second_stop"),
    Step(0.85, "sigkill"),
)


@dataclass
class SoakPlan:
    life_wall: float = 20.0  # wall seconds for the 48 simulated hours
    sim_hours: float = 48.0
    tick: float = 0.1
    messages: int = 1000
    max_recipients: int = 2
    scheduled_share: float = 0.05  # sends scheduled 1-3 h ahead; a third of them cancelled
    by_id_share: float = 0.05  # tracked by message id alone (discovered with bulk-status)
    initial_stops: int = 150
    stop_adds: int = 60
    stop_removals: int = 40
    rental_numbers: int = 400
    rental_flips: int = 10
    flip_share: float = 0.03
    catchup_sim_hours: float = 60.0  # after the last send: its 48 h window, cost delay and cost read
    catchup_wall: float = 8.0
    settle_timeout: float = 90.0
    schedule: tuple[Step, ...] = FAULT_SCHEDULE
    every: dict[str, float] = field(default_factory=lambda: {"stops": 1.0, "statuses": 1.0, "rentals": 2.0, "finance": 3.0, "actions": 2.0})
    seed: int = 20260105


# --- daemon processes ------------------------------------------------------------------------------


def write_config(path: Path, db_url: str, base_url: str, plan: SoakPlan, health_port: int) -> Path:
    jobs = "\n".join(f'[jobs.{name}]\nevery = {every}\ncron = ""\nstaleness = 3600\n' for name, every in plan.every.items())
    path.write_text(
        f"""
[api]
base_url = "{base_url}"
clock = "simulator"
connect_timeout = 1
read_timeout = 2
max_attempts = 3
max_retry_seconds = 6
[database]
url = "{db_url}"
[statuses]
ladder = ["1m", "5m", "15m", "1h", "6h"]
[[rentals.tokens]]
token = "{RENTAL_TOKEN}"
label = "soak"
{jobs}
[daemon]
log_format = "json"
lease = 4
jitter = 0
shutdown_timeout = 15
misfire_grace = 60
health_port = {health_port}
"""
    )
    return path


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    health_port: int
    metrics: str = ""  # the last /metrics scrape of this process

    def alive(self) -> bool:
        return self.proc.poll() is None

    def scrape(self) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/metrics", timeout=2) as resp:
                self.metrics = resp.read().decode()
        except OSError:
            pass
        return self.metrics

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return -9

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def start_daemon(workdir: Path, name: str, db_url: str, base_url: str, key: str, plan: SoakPlan) -> Daemon:
    port = free_port()
    config = write_config(workdir / f"{name}.toml", db_url, base_url, plan, port)
    log_path = workdir / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSPARTNER_ETL")}
    env["SMSPARTNER_API_KEY"] = key
    env["SMSPARTNER_ETL_SPOOL_DIR"] = str(workdir / f"spool-{name}")
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [str(ENTRY), "--config", str(config), "run"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    return Daemon(name, proc, log_path, port)


# --- the run -------------------------------------------------------------------------------------


@dataclass
class SoakRun:
    """Everything the run produced, for reconciliation and the hygiene check."""

    db_url: str
    key: str
    workdir: Path
    daemons: list[Daemon] = field(default_factory=list)
    ps_snapshots: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # the last scrape of every daemon process
    actions: Counter[str] = field(default_factory=Counter)  # what the driver did
    tracked: set[str] = field(default_factory=set)  # message ids the tool was told about
    life_end: datetime | None = None
    wall: dict[str, float] = field(default_factory=dict)
    settle_note: str = ""

    def logs(self) -> list[Path]:
        return [d.log_path for d in self.daemons]


class Driver:
    def __init__(self, server: Any, db_url: str, workdir: Path, plan: SoakPlan, *, db_server: Any = None, key: str) -> None:
        self.server = server
        self.sim = server.sim
        self.plan = plan
        self.db_server = db_server
        self.rng = random.Random(plan.seed)
        self.run = SoakRun(db_url, key, workdir)
        self.main: Daemon | None = None
        self.second: Daemon | None = None
        self._engine = make_engine(db_url, pool=False)
        self._pending: list[Callable[[], None]] = []  # intake writes waiting for the database
        # Valid French mobiles only: 06 39 and 06 90-97 are overseas numbers (+262, +590...), which the
        # tool rightly refuses under +33 and the simulator does not check.
        self._numbers = [p for p in (f"+336{n:08d}" for n in self.rng.sample(range(10_000_000, 89_999_999), 5000)) if _valid(p)][:4000]
        draws = self.rng.sample(range(30_000_000, 99_999_999), 2 * (plan.initial_stops + plan.stop_adds))
        self._stop_pool = [p for p in (f"+337{n:08d}" for n in draws) if _valid(p)]
        self._removed: list[str] = []
        self._scheduled: list[str] = []
        self._daemon_seq = 0

    # account life ------------------------------------------------------------------------------

    def seed_account(self) -> None:
        start = self.sim.clock.now()
        for i in range(self.plan.initial_stops):
            self.sim.add_stop(self._stop_pool.pop(), created_at=start - timedelta(days=30 - i % 30))
        self.sim.add_rental(RENTAL_TOKEN, self.plan.rental_numbers, status=2, stop_share=0.1, seed=self.plan.seed)
        self.run.actions["stops seeded"] = self.plan.initial_stops

    def _track(self, mid: str) -> None:
        msg = self.sim.messages[int(mid)]
        sent_at = msg.send_at.astimezone(UTC)
        if self.rng.random() < self.plan.by_id_share and not msg.scheduled:
            from etl.config import StatusesConfig
            from etl.tracking import track_message_ids

            def write() -> None:
                track_message_ids(self._engine, [mid], now=self.sim.clock.now(), config=StatusesConfig(), sent_at=sent_at)

            self.run.actions["sends tracked by message id"] += 1
        else:
            rows = [
                {
                    "message_id": mid,
                    "phone": phone,
                    "tag": msg.tag,
                    "sent_at": msg.created_at.astimezone(UTC).isoformat(),
                    "scheduled_at": msg.send_at.astimezone(UTC).isoformat() if msg.scheduled else None,
                }
                for phone in msg.recipients
            ]

            def write() -> None:
                from etl.db.schema import track_intake

                with self._engine.begin() as conn:
                    conn.execute(insert(track_intake), rows)

            self.run.actions["sends tracked by track_intake"] += 1
        self.run.tracked.add(mid)
        self._pending.append(write)

    def _flush_intake(self) -> None:
        while self._pending:
            try:
                self._pending[0]()
            except Exception:  # noqa: BLE001 - the database is down: keep it for the next tick
                self.run.actions["intake writes deferred (database down)"] += 1
                return
            self._pending.pop(0)

    def _send(self) -> None:
        phones = self.rng.sample(self._numbers, self.rng.randint(1, self.plan.max_recipients))
        now = self.sim.clock.now()
        scheduled = None
        if self.rng.random() < self.plan.scheduled_share:
            scheduled = (now + timedelta(minutes=self.rng.choice(range(60, 180, 5)))).replace(second=0, microsecond=0)
        text_ = "x" * self.rng.choice([20, 20, 20, 200])  # some two-part messages
        tag = self.rng.choice(["promo", "relance", None])
        mid = self.sim.send(phones, text_, tag=tag, scheduled_at=scheduled)
        self.run.actions["messages sent"] += 1
        self.run.actions["recipients"] += len(self.sim.messages[int(mid)].recipients)
        if scheduled is not None:
            self.run.actions["scheduled sends"] += 1
            self._scheduled.append(mid)
        self._track(mid)

    def _maybe_cancel(self) -> None:
        if not self._scheduled or self.rng.random() > 0.35:
            return
        mid = self._scheduled.pop(0)
        try:
            self.sim.cancel(mid)
            self.run.actions["scheduled sends cancelled"] += 1
        except Exception:  # noqa: BLE001 - ApiFailure: too late (already sent / within 5 minutes)
            self.run.actions["cancels refused (too late)"] += 1

    def _stop_change(self, adding: bool) -> None:
        if adding:
            if self._removed and self.rng.random() < 0.3:
                phone = self._removed.pop(self.rng.randrange(len(self._removed)))
                self.run.actions["stops re-added after removal"] += 1
            elif self._stop_pool:
                phone = self._stop_pool.pop()
            else:
                return
            self.sim.add_stop(phone)
            self.run.actions["stops added"] += 1
        else:
            stops = self.sim.stops()
            sid, phone, _ = stops[self.rng.randrange(len(stops))]
            self.sim.remove_stop(sid)
            self._removed.append(phone)
            self.run.actions["stops removed"] += 1

    # processes and faults ----------------------------------------------------------------------

    def start(self, role: str) -> Daemon:
        self._daemon_seq += 1
        d = start_daemon(self.run.workdir, f"{role}{self._daemon_seq}", self.run.db_url, self.server.base_url, self.run.key, self.plan)
        self.run.daemons.append(d)
        return d

    def _retire(self, d: Daemon | None, how: str) -> None:
        if d is None:
            return
        d.scrape()
        if how == "kill":
            d.kill()
        else:
            d.stop()
        if d.metrics:
            self.run.metrics.append(d.metrics)

    def _do(self, step: Step) -> None:
        if step.action == "fault":
            self.sim.faults.inject(step.endpoint, step.kind, count=step.count, rate=step.rate, **dict(step.params))
            self.run.actions[f"fault scheduled: {step.kind}"] += 1
        elif step.action == "clear_faults":
            self.sim.faults.clear()
        elif step.action == "db_restart":
            if self.db_server is None:
                self.run.actions["database restarts skipped (SQLite: no server)"] += 1
                return
            self.db_server.stop()
            time.sleep(1.5)  # the daemons meet a dead database for a few cycles
            self.db_server.start()
            self.run.actions["database restarts"] += 1
        elif step.action == "sigkill":
            self._retire(self.main, "kill")
            self.run.actions["daemon SIGKILLs"] += 1
            self.main = self.start("main")
        elif step.action == "second_start":
            self.second = self.start("second")
            self.run.actions["second daemon started"] += 1
        elif step.action == "second_stop":
            self._retire(self.second, "term")
            self.second = None

    def _ps(self) -> None:
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
        self.run.ps_snapshots.append(out)

    # phases ------------------------------------------------------------------------------------

    def life(self) -> None:
        plan = self.plan
        steps = sorted(plan.schedule, key=lambda s: s.at)
        ticks = max(1, round(plan.life_wall / plan.tick))
        step_sim = timedelta(hours=plan.sim_hours) / ticks
        sends_per_tick = plan.messages / ticks
        stop_changes = (plan.stop_adds + plan.stop_removals) / ticks
        flips_at = {round(ticks * (i + 0.5) / plan.rental_flips) for i in range(plan.rental_flips)}
        owed_sends = owed_stops = 0.0
        began = time.monotonic()
        self.main = self.start("main")
        for i in range(ticks):
            deadline = began + (i + 1) * plan.tick
            share = i / ticks
            while steps and steps[0].at <= share:
                self._do(steps.pop(0))
            owed_sends += sends_per_tick
            while owed_sends >= 1:
                owed_sends -= 1
                self._send()
            owed_stops += stop_changes
            while owed_stops >= 1:
                owed_stops -= 1
                self._stop_change(self.rng.random() < plan.stop_adds / (plan.stop_adds + plan.stop_removals))
            if i in flips_at:
                flipped = self.sim.flip_rental_stops(RENTAL_TOKEN, plan.flip_share, seed=i)
                self.run.actions["rental flags flipped"] += len(flipped)
            self._maybe_cancel()
            self._flush_intake()
            if i % 50 == 25:
                self._ps()
                for d in (self.main, self.second):
                    if d is not None:
                        d.scrape()
            self.sim.clock.advance(step_sim)
            time.sleep(max(0.0, deadline - time.monotonic()))
        for step in steps:  # a schedule longer than the run still fires
            self._do(step)
        self.run.wall["life"] = time.monotonic() - began
        self.run.life_end = self.sim.clock.now()

    def catch_up(self) -> None:
        """No new fault, one daemon, the clock on until every window and cost delay is over."""
        began = time.monotonic()
        # No new fault from here; the counted ones still queued (on endpoints called late, such as the
        # cost reads' message-status) fire now, before the daemon settles.
        self._retire(self.second, "term")
        self.second = None
        ticks = max(1, round(self.plan.catchup_wall / self.plan.tick))
        step_sim = timedelta(hours=self.plan.catchup_sim_hours) / ticks
        for _ in range(ticks):
            self._flush_intake()
            self.sim.clock.advance(step_sim)
            time.sleep(self.plan.tick)
        self._flush_intake()
        assert not self._pending, "intake rows never reached the database"
        self.run.wall["catch-up"] = time.monotonic() - began

    def settle(self) -> None:
        """Until each job has succeeded after the last change and nothing is left to poll or price."""
        began = time.monotonic()
        mark = self.sim.clock.now()
        deadline = began + self.plan.settle_timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                state = self._settle_state(mark)
            except Exception as exc:  # noqa: BLE001 - the database may still be coming back
                state = {"error": type(exc).__name__}
            last = repr(state)
            if state.get("done"):
                break
            # Keep simulated time moving a little: intervals run on wall time, ladders on simulated time.
            self.sim.clock.advance(timedelta(minutes=10))
            time.sleep(0.5)
        self.run.settle_note = last
        self.run.wall["settle"] = time.monotonic() - began
        self._ps()
        self._retire(self.main, "term")
        self.main = None

    def _settle_state(self, mark: datetime) -> dict[str, Any]:
        from sqlalchemy import func, select

        from etl.db.schema import sync_runs as runs

        with self._engine.connect() as conn:
            ok = {
                job: conn.execute(
                    select(func.count()).where(runs.c.job == job, runs.c.outcome == "success", runs.c.started_at > mark)
                ).scalar()
                for job in ("stops", "rentals", "statuses")
            }
            due = conn.execute(text("SELECT COUNT(*) FROM recipients WHERE next_poll_at IS NOT NULL")).scalar()
            costs = conn.execute(text("SELECT COUNT(*) FROM recipients WHERE cost IS NULL AND next_cost_at IS NOT NULL")).scalar()
            intake = conn.execute(text("SELECT COUNT(*) FROM track_intake WHERE processed_at IS NULL")).scalar()
            discover = conn.execute(text(
                "SELECT COUNT(*) FROM sends s WHERE kind = 'discover' AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.send_id = s.id)"
            )).scalar()
        done = all(v for v in ok.values()) and not due and not costs and not intake and not discover
        return {"done": done, "succeeded_since": ok, "due": due, "costs_missing": costs, "intake": intake, "undiscovered": discover}

    def close(self) -> None:
        for d in (self.main, self.second):
            if d is not None and d.alive():
                d.kill()
        self._engine.dispose()


def run_soak(server: Any, db_url: str, workdir: Path, plan: SoakPlan, *, db_server: Any = None, key: str) -> SoakRun:
    driver = Driver(server, db_url, workdir, plan, db_server=db_server, key=key)
    try:
        driver.seed_account()
        driver.life()
        driver.catch_up()
        driver.settle()
    finally:
        driver.close()
    return driver.run
