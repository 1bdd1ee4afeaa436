"""etl/outcome.py: each outcome's exit code is mapped once, and the stored strings are the plain values."""

from __future__ import annotations

import json

import pytest

from etl.cli import exit_code_for
from etl.errors import ConfigError, InputError, LockHeld, SyncRefused
from etl.outcome import ActionOutcome, ExitCode, Outcome, RunResult, exit_code_of


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (Outcome.SUCCESS, 0),
        (Outcome.PARTIAL, 0),  # the data was applied; the quarantined items are in rejected_items
        (Outcome.FAILED, 1),
        (Outcome.REFUSED, 3),
        (Outcome.SKIPPED, 75),
    ],
    ids=lambda v: str(v),
)
def test_a_run_outcome_gives_the_sync_exit_status(outcome, code):
    assert exit_code_of([outcome]) == code


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        ([], 0),
        ([Outcome.SUCCESS, Outcome.PARTIAL], 0),
        ([Outcome.SKIPPED, Outcome.REFUSED], 3),
        ([Outcome.SKIPPED, Outcome.REFUSED, Outcome.FAILED, Outcome.SUCCESS], 1),
        ([Outcome.PARTIAL, Outcome.SKIPPED], 75),
    ],
    ids=["none", "success_and_partial", "refused_before_skipped", "failed_before_all", "skipped_before_partial"],
)
def test_several_runs_exit_with_the_most_serious_outcome(outcomes, code):
    assert exit_code_of(outcomes) == code


def test_every_outcome_has_an_exit_code():
    assert {o: o.exit_code for o in Outcome}.keys() == set(Outcome)
    assert {o: o.exit_code for o in ActionOutcome}.keys() == set(ActionOutcome)


@pytest.mark.parametrize(
    ("outcome", "code", "ok"),
    [
        (ActionOutcome.SUCCESS, 0, True),
        (ActionOutcome.RESOLVED_SUCCESS, 0, True),
        (ActionOutcome.DRY_RUN, 0, True),
        (ActionOutcome.REJECTED, 1, False),
        (ActionOutcome.RESOLVED_NOT_DONE, 1, False),
        (ActionOutcome.UNKNOWN, 75, False),
    ],
    ids=lambda v: str(v),
)
def test_a_write_outcome_gives_the_command_exit_status(outcome, code, ok):
    assert (outcome.exit_code, outcome.ok) == (code, ok)


def test_an_error_and_the_run_outcome_it_causes_exit_alike():
    assert exit_code_for(SyncRefused("shrank")) == Outcome.REFUSED.exit_code == ExitCode.REFUSED
    assert exit_code_for(LockHeld("held")) == Outcome.SKIPPED.exit_code == ExitCode.TEMPFAIL
    assert (exit_code_for(ConfigError("x")), exit_code_for(InputError("x"))) == (78, 65)


def test_outcomes_are_their_stored_strings_in_text_json_and_comparisons():
    assert Outcome.PARTIAL == "partial" and f"{Outcome.PARTIAL}" == "partial" and str(Outcome.ABANDONED) == "abandoned"
    assert json.dumps({"outcome": Outcome.SKIPPED}) == '{"outcome": "skipped"}'
    assert Outcome("refused") is Outcome.REFUSED and ActionOutcome("resolved_not_done") is ActionOutcome.RESOLVED_NOT_DONE
    assert RunResult().outcome is Outcome.SUCCESS


def test_failed_and_refused_runs_are_the_failures():
    assert {o for o in Outcome if o.failed} == {Outcome.FAILED, Outcome.REFUSED}
