"""The console's audience checks: one folder per run under ``console.work_dir``, filtered in a worker thread
by the CLI's own engine (`etl.audience.recorded`), read back by run id (docs/console.md, "Audience check").

A run's folder is named by a random id (32 hex digits) and holds fixed names only: ``input.csv`` (removed
once filtered), ``allowed.csv``, ``blocked.csv``, ``report.json`` and ``state.json`` (who started it, its
status, its counts). Nothing in a path ever comes from the request: an id that is not 32 hex digits, or a
kind outside `FILES`, names nothing. Only the run's owner and admins may read it. Folders older than
``console.upload_keep`` are removed when the next run starts.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from etl.config import Config
from etl.errors import EtlError, StaleData

log = logging.getLogger(__name__)

__all__ = ["FILES", "AudienceRuns", "RunState", "default_work_dir"]

RUN_ID = re.compile(r"[0-9a-f]{32}")
INPUT = "input.csv"
STATE = "state.json"
#: What may be downloaded, by kind: (file in the run's folder, media type).
FILES = {"allowed": ("allowed.csv", "text/csv; charset=utf-8"), "blocked": ("blocked.csv", "text/csv; charset=utf-8"),
         "report": ("report.json", "application/json")}
#: Statuses a run page keeps refreshing for.
ACTIVE = ("queued", "running")
STALE_HINT = "tick “Filter against a stale stop list” to filter against whatever is stored"


def default_work_dir() -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / "smspartner-etl-console"


@dataclass
class RunState:
    """One run as its page shows it; saved as ``state.json`` beside its files."""

    id: str
    owner: str
    input_name: str
    input_bytes: int
    created_at: str
    allow_stale: bool = False
    column: str = ""
    #: queued, running, done, refused (stale stop list), failed, interrupted (the console stopped mid-run)
    status: str = "queued"
    message: str = ""
    filter_run_id: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    progress: str = ""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class _ProgressLine(io.StringIO):
    """The filter's progress line (`etl.audience.rowloop.Progress`), kept for the run page."""

    def __init__(self, state: RunState) -> None:
        super().__init__()
        self.state = state

    def write(self, text: str) -> int:
        line = text.strip("\r\n")
        if line:
            self.state.progress = line
        return len(text)


class AudienceRuns:
    """Creates, runs and reads the console's audience checks; one filter at a time, the others queued."""

    def __init__(self, config: Config, engine: Engine, now: Callable[[], datetime], reads: Engine | None = None) -> None:
        self.config = config
        self.engine = engine
        #: Where the stop list is read (``database.read_url``); the record goes to ``engine``.
        self.reads = reads or engine
        self.now = now
        self.root = Path(config.console.work_dir) if config.console.work_dir else default_work_dir()
        self._executor: ThreadPoolExecutor | None = None
        self._live: dict[str, RunState] = {}
        self._lock = threading.Lock()

    def new_folder(self) -> tuple[str, Path]:
        """A fresh run id and its folder (mode 0700); old runs are swept first."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sweep()
        run_id = secrets.token_hex(16)
        folder = self.root / run_id
        folder.mkdir(mode=0o700)
        return run_id, folder

    def input_path(self, folder: Path) -> Path:
        return folder / INPUT

    def discard(self, run_id: str) -> None:
        """Remove a run's folder (an upload refused before it started)."""
        if RUN_ID.fullmatch(run_id):
            shutil.rmtree(self.root / run_id, ignore_errors=True)

    def start(self, state: RunState) -> None:
        """Queue the run; its page follows it from ``state.json``."""
        self._save(state)
        with self._lock:
            self._live[state.id] = state
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-audience")
            self._executor.submit(self._work, state)

    def get(self, run_id: str) -> RunState | None:
        """The run ``run_id`` names, or None (not an id, unknown, swept)."""
        if not RUN_ID.fullmatch(run_id):
            return None
        with self._lock:  # a copy: the worker changes the live one while a page renders
            live = dataclasses.replace(self._live[run_id]) if run_id in self._live else None
        if live is not None:
            return live
        try:
            saved = RunState(**json.loads((self.root / run_id / STATE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if saved.active:  # saved as running by a console that is gone
            saved.status, saved.message = "interrupted", "The console stopped during this check; upload the file again."
        return saved

    def mine(self, owner: str | None) -> list[RunState]:
        """The kept runs of ``owner`` (None: everyone's), newest first."""
        found = [state for state in (self.get(p.name) for p in self._folders()) if state is not None]
        return sorted((s for s in found if owner is None or s.owner == owner), key=lambda s: s.created_at, reverse=True)

    def file(self, state: RunState, kind: str) -> tuple[Path, str, str] | None:
        """(path, media type, download name) of a finished run's output ``kind``; None for anything else."""
        if kind not in FILES or state.status != "done":
            return None
        name, media = FILES[kind]
        path = self.root / state.id / name
        return (path, media, f"audience-{state.id[:8]}-{name}") if path.is_file() else None

    def sweep(self) -> None:
        cutoff = self.now() - timedelta(seconds=self.config.console.upload_keep)
        with self._lock:
            live = set(self._live)
        for folder in self._folders():
            state = self.get(folder.name)
            if folder.name not in live and (state is None or datetime.fromisoformat(state.created_at) < cutoff):
                shutil.rmtree(folder, ignore_errors=True)

    def _folders(self) -> list[Path]:
        try:
            return [p for p in self.root.iterdir() if p.is_dir() and RUN_ID.fullmatch(p.name)]
        except OSError:
            return []

    def _save(self, state: RunState) -> None:
        from etl.audience.outputs import write_whole

        write_whole(self.root / state.id / STATE, json.dumps(asdict(state)).encode("utf-8"))

    def _set(self, state: RunState, **values: Any) -> None:
        with self._lock:
            for name, value in values.items():
                setattr(state, name, value)

    def _work(self, state: RunState) -> None:
        self._set(state, status="running")
        self._save(state)
        try:
            self._filter(state)
        except StaleData as exc:
            self._set(state, status="refused", message=str(exc))
        except EtlError as exc:
            self._set(state, status="failed", message=str(exc))
        except Exception:  # noqa: BLE001 - a worker thread must record its end, whatever happened
            log.exception("console: audience check %s failed", state.id[:8])
            self._set(state, status="failed", message="The check stopped on an unexpected error (see the console's log).")
        finally:
            (self.root / state.id / INPUT).unlink(missing_ok=True)  # the digest is recorded; the list is not kept
            try:
                self._save(state)
            except OSError:
                log.warning("console: cannot save the state of audience check %s", state.id[:8])
            with self._lock:
                self._live.pop(state.id, None)

    def _filter(self, state: RunState) -> None:
        from etl.audience.outputs import write_whole
        from etl.audience.recorded import AudienceCheck, run_check

        folder = self.root / state.id
        check = AudienceCheck(
            folder / INPUT, folder / FILES["allowed"][0], folder / FILES["blocked"][0], actor=f"console:{state.owner}",
            region=(self.config.api.default_region or "FR").upper(), allow_stale=state.allow_stale,
            column=state.column or None, input_name=state.input_name, workers=self.config.console.audience_workers,
            progress=_ProgressLine(state), stale_hint=STALE_HINT,
        )
        summary, run_id = run_check(self.engine, self.config, self.now, check, reads=self.reads)
        # The report names what the user knows (their file, the download names), not this server's folders.
        summary.input = state.input_name
        summary.allowed_path, summary.blocked_path = (f"audience-{state.id[:8]}-{FILES[k][0]}" for k in ("allowed", "blocked"))
        report = summary.as_report()
        write_whole(folder / FILES["report"][0], (json.dumps(report, indent=2) + "\n").encode("utf-8"))
        counts = {"rows": summary.rows, "allowed": summary.allowed, "blocked": summary.blocked_total,
                  "by_reason": dict(summary.blocked), "stale": bool(summary.freshness and summary.freshness.stale)}
        self._set(state, filter_run_id=run_id, counts=counts, status="done", message="")
