"""How the write commands (`stops add/remove`, `messages cancel`) report a result and pick an exit code."""

from __future__ import annotations

import sys
from typing import Any

import click

#: 0 done (or dry run), 1 refused by the API or not done, 75 (EX_TEMPFAIL) outcome still unknown.
EXIT_BY_OUTCOME = {"success": 0, "resolved_success": 0, "dry_run": 0, "rejected": 1, "resolved_not_done": 1, "unknown": 75}


def report(result: Any) -> None:
    """One line for people (stdout when it worked, stderr otherwise), then exit with the outcome's code."""
    audit = f" [audit #{result.action_id}]" if result.action_id is not None else " [dry run: no call, no audit row]"
    code = EXIT_BY_OUTCOME.get(result.outcome, 1)
    if code == 0:
        click.echo(f"{result.message}{audit}")
    else:
        click.echo(f"{result.outcome}: {result.message}{audit}", err=True)
    sys.exit(code)


def region(config: Any) -> str:
    """Default region for numbers written without a country code (config api.default_region, else FR)."""
    return str(getattr(config.api, "default_region", "FR") or "FR")
