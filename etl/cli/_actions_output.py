"""What the write commands (`stops add/remove`, `messages cancel`) share: ``--account``, and how they report a
result and pick an exit code."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from etl.outcome import ExitCode

if TYPE_CHECKING:
    from etl.config import Config
    from etl.jobs.actions import ActionResult


#: Whose list (and key) the write is for: the parent unless named (docs/rentals-and-actions.md, "Which account").
account_option = click.option(
    "--account", "account_label", default="main", show_default=True, metavar="LABEL",
    help="The account to act on (a label from `accounts list`); its own key makes the call.",
)


def report(result: ActionResult) -> None:
    """One line for people (stdout when it worked, stderr otherwise), then exit with the outcome's code.

    The code is the outcome's (`etl.outcome.ActionOutcome.exit_code`): 0 done (or dry run), 1 refused by
    the API or not done, 75 (EX_TEMPFAIL) outcome still unknown."""
    audit = f" [audit #{result.action_id}]" if result.action_id is not None else " [dry run: no call, no audit row]"
    code = result.outcome.exit_code
    if code == ExitCode.OK:
        click.echo(f"{result.message}{audit}")
    else:
        click.echo(f"{result.outcome}: {result.message}{audit}", err=True)
    sys.exit(code)


def region(config: Config) -> str:
    """Default region for numbers written without a country code (config api.default_region, else FR)."""
    return config.api.default_region or "FR"
