"""How a job run or an audited write ended, and the exit code of each: the one place they are mapped.

Two vocabularies, because they describe two different things:

- `Outcome`: a job run (``sync_runs.outcome``, `etl.runner.RunReport`, the status of ``sync --once``);
- `ActionOutcome`: one write to the account (``write_actions.outcome``, the status of ``stops add``,
  ``stops remove`` and ``messages cancel``).

Both are str-enums, so what the database and the JSON logs hold is the value, exactly as before
(``"success"``, ``"resolved_not_done"``, ...). `ExitCode` names the process exit statuses
(sysexits-style); `etl.cli.EXIT_CODES` maps each `EtlError` to one of them.

`RunResult` (what a job reports) lives here too, beside its outcome, so that `etl.runlog` can record
it without importing from `etl.jobs`. Imports nothing from ``etl``: the run log, the runner, the
jobs and the CLI all sit above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """The exit statuses of every command (docs/operations.md, "Bad input: one sentence and an exit code")."""

    OK = 0
    #: A job failed, a write was refused or not done, anything not named below.
    FAILED = 1
    #: A safety guard refused a sync (``--force`` overrides it).
    REFUSED = 3
    #: Data a safety decision needs is older than allowed.
    STALE = 4
    #: ``verify-audit``: the audit chain or an audited row was changed behind the tool's back.
    TAMPERED = 5
    #: EX_DATAERR: bad input (a phone number, a CSV line, an argument).
    DATAERR = 65
    #: EX_UNAVAILABLE: the database cannot be reached.
    UNAVAILABLE = 69
    #: EX_TEMPFAIL: try again later (another instance holds the lock; a write's outcome still unknown).
    TEMPFAIL = 75
    #: EX_CONFIG: fix the configuration or the installation.
    CONFIG = 78


class Outcome(StrEnum):
    """How a job run ended; the value is what ``sync_runs.outcome`` stores (docs/schema.md)."""

    #: The row is open: the run has started and not finished (or its process died: see ``ABANDONED``).
    RUNNING = "running"
    SUCCESS = "success"
    #: Applied, but some items were quarantined (`etl.quarantine.summary` says how many in ``detail``).
    PARTIAL = "partial"
    FAILED = "failed"
    #: A safety guard refused to apply the sync; nothing written.
    REFUSED = "refused"
    #: Not run: another instance held the lock, or a recent success made it unneeded. Never stored.
    SKIPPED = "skipped"
    #: The process died mid-run; marked so by the next run of the job.
    ABANDONED = "abandoned"

    @property
    def exit_code(self) -> ExitCode:
        """The exit status of ``sync --once`` for a run that ended so."""
        return _RUN_EXIT[self]

    @property
    def synced(self) -> bool:
        """A run whose data is current: success, or partial (all it could read applied, the rest read
        fail-closed and quarantined). Freshness, health and the views count both (migration 0009)."""
        return self in SYNCED

    @property
    def failed(self) -> bool:
        """A run that did not apply what it fetched: counted as a failure by metrics and health."""
        return self in (Outcome.FAILED, Outcome.REFUSED)


#: The outcomes `Outcome.synced` accepts.
SYNCED: frozenset[Outcome] = frozenset({Outcome.SUCCESS, Outcome.PARTIAL})

#: ``partial`` exits 0: the data was applied; the quarantined items are in ``rejected_items``.
_RUN_EXIT: dict[Outcome, ExitCode] = {
    Outcome.RUNNING: ExitCode.FAILED,
    Outcome.SUCCESS: ExitCode.OK,
    Outcome.PARTIAL: ExitCode.OK,
    Outcome.FAILED: ExitCode.FAILED,
    Outcome.REFUSED: ExitCode.REFUSED,
    Outcome.SKIPPED: ExitCode.TEMPFAIL,
    Outcome.ABANDONED: ExitCode.FAILED,
}

#: Several runs, one exit status: the first of these that occurred wins (a failure says more than a
#: refusal, which says more than a skip); anything else exits with its own code (0).
_RUN_EXIT_PRECEDENCE = (Outcome.FAILED, Outcome.ABANDONED, Outcome.RUNNING, Outcome.REFUSED, Outcome.SKIPPED)


def exit_code_of(outcomes: Iterable[Outcome]) -> ExitCode:
    """The exit status of ``sync --once`` after runs that ended with ``outcomes``."""
    seen = set(outcomes)
    for outcome in _RUN_EXIT_PRECEDENCE:
        if outcome in seen:
            return outcome.exit_code
    return ExitCode.OK


class ActionOutcome(StrEnum):
    """How one audited write ended; the value is what ``write_actions.outcome`` stores."""

    #: Committed before the call; still so after a crash mid-call.
    PENDING = "pending"
    SUCCESS = "success"
    #: The API refused it, or it was never sent (the API could not be reached).
    REJECTED = "rejected"
    #: The call may have reached the server but no answer came: resolved later by re-reading.
    UNKNOWN = "unknown"
    RESOLVED_SUCCESS = "resolved_success"
    RESOLVED_NOT_DONE = "resolved_not_done"
    #: ``--dry-run``: no call, no row.
    DRY_RUN = "dry_run"

    @property
    def exit_code(self) -> ExitCode:
        """0 done (or a dry run), 1 refused or not done, 75 (EX_TEMPFAIL) still unknown."""
        return _ACTION_EXIT[self]

    @property
    def ok(self) -> bool:
        """Done, or would be done (a dry run)."""
        return self.exit_code == ExitCode.OK


_ACTION_EXIT: dict[ActionOutcome, ExitCode] = {
    ActionOutcome.PENDING: ExitCode.FAILED,
    ActionOutcome.SUCCESS: ExitCode.OK,
    ActionOutcome.REJECTED: ExitCode.FAILED,
    ActionOutcome.UNKNOWN: ExitCode.TEMPFAIL,
    ActionOutcome.RESOLVED_SUCCESS: ExitCode.OK,
    ActionOutcome.RESOLVED_NOT_DONE: ExitCode.FAILED,
    ActionOutcome.DRY_RUN: ExitCode.OK,
}


@dataclass(frozen=True)
class RunResult:
    """Counts a job reports; ``outcome`` is ``success`` unless the job says otherwise."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    outcome: Outcome = Outcome.SUCCESS
    detail: str | None = None
    #: Extra figures for the log line and metrics (e.g. API calls per endpoint).
    figures: dict[str, int | float] = field(default_factory=dict)
