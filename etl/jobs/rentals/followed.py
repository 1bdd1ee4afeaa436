"""Which rentals are followed: config tokens and the `rentals` table, and each rental's status row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Connection,
    insert,
    select,
    update,
)

from etl.db.schema import rentals
from etl.jobs.base import JobContext
from etl.jobs.rentals.outcomes import FollowedRental, RentalOutcome


def sync_config_tokens(conn: Connection, ctx: JobContext, now: datetime) -> None:
    """Config tokens get a row (source ``config``); config rows no longer in the config are deactivated.

    ``[rentals]`` tokens are the parent account's (a rental token belongs to one account); a
    sub-account follows the rentals added for it (`rentals add`), its run leaves the config alone.
    """
    if not ctx.account.is_parent:
        return
    r = rentals.c
    configured = {t.token: t.label for t in ctx.config.rentals.tokens}
    mine = r.account_id == ctx.account.id
    stored = {row.token: row for row in conn.execute(select(r.id, r.token, r.source, r.active, r.label).where(mine))}
    for token, label in configured.items():
        row = stored.get(token)
        if row is None:
            conn.execute(
                insert(rentals).values(
                    token=token, label=label, source="config", added_at=now, added_by="config", active=True,
                    account_id=ctx.account.id,
                )
            )
        elif not row.active or (label and row.label != label):
            conn.execute(
                update(rentals).where(r.id == row.id).values(active=True, removed_at=None, label=label or row.label)
            )
    for token, row in stored.items():
        if row.source == "config" and row.active and token not in configured:
            conn.execute(update(rentals).where(r.id == row.id).values(active=False, removed_at=now))


def followed(conn: Connection, account_id: int) -> list[FollowedRental]:
    """The account's active rentals."""
    r = rentals.c
    active = (r.account_id == account_id, r.active == True)  # noqa: E712
    rows = conn.execute(select(r.id, r.token, r.label, r.current_file_id).where(*active).order_by(r.id))
    return [FollowedRental(row.id, row.token, row.label, row.current_file_id is not None) for row in rows]


def _mark(ctx: JobContext, rental: FollowedRental, outcome: RentalOutcome, now: datetime) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            update(rentals)
            .where(rentals.c.id == rental.id)
            .values(last_status=outcome.status, last_status_code=outcome.code, last_status_text=outcome.text, last_checked_at=now)
        )
