"""Contact groups and their contacts' ``stopSms`` flags → `contact_groups`, `contacts`, `contact_events`, per account.

A second set of opt-outs (issue 17; ACCOUNTS.md §3): each contact of a group carries its own
``stopSms``, which the audience filter blocks (``contact_stop``, through the ``contact_stops`` view).
The API has no ``updatedAt`` and pages contacts 20 at a time, so every run is a full read:

1. `read`: ``group/list``, then every followed group's contact pages (``[contacts] groups``, empty:
   all), each call spaced by ``contacts.max_calls_per_minute`` on the injected clock and sleep (the
   limits are not documented; a 429 is retried by the client with its Retry-After). Held in memory:
   no transaction is open while the calls are spaced out.
2. `apply`: staged into two session-private tables and compared set-based with the stored rows, one
   statement per kind of change (`diff`): a new contact appeared (and ``stop_on`` if flagged), one back
   after it went appeared again, a flag flipped (``stop_on`` / ``stop_off``), a contact missing from a
   complete read of its group is gone, a group missing from a complete group list is gone with its
   contacts. One transaction with the run row and the quarantine.

What a broken read never does (fail-closed): a group whose read failed (a refused or failing call,
after the client's retries) or was partial (an item quarantined, `etl.quarantine`) never clears a flag
and never marks a contact gone; its stored flags stand until a complete read, and the run, ``partial``,
names the groups kept. A ``stopSms`` that cannot be read counts as set. A group list with an unreadable
item marks no group gone. A refused key (code 10) or a failing ``group/list`` fails the run: nothing
is written. See docs/contacts.md.
"""

from __future__ import annotations

import logging

from etl.jobs.base import JobContext, RunResult
from etl.jobs.contacts.apply import apply
from etl.jobs.contacts.read import Pacer, read_account
from etl.jobs.contacts.source import ENDPOINTS, ClientSource

__all__ = ["ENDPOINTS", "NAME", "run"]

log = logging.getLogger(__name__)

NAME = "contacts"


def run(ctx: JobContext) -> RunResult:
    settings = ctx.config.contacts
    followed = set(settings.groups) or None
    pacer = Pacer(settings.max_calls_per_minute, ctx.now, ctx.client.retry_budget().sleep)
    reading = read_account(
        ClientSource(ctx.client), lambda group_id: followed is None or group_id in followed, pacer,
        should_stop=ctx.should_stop,
    )
    now = ctx.now()
    with ctx.engine.begin() as conn:
        result = apply(ctx, conn, reading, followed, now)
    log.info("contacts of account %s: %s", ctx.account.label, result.detail)
    return result
