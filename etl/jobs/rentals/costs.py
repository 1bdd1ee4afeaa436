"""What each rental order costs: ``/location/status``'s ``location.cost`` into ``rental_costs``, with history.

The status is read every sync anyway (`etl.jobs.rentals.sync_rental`); its cost costs no extra call. The
latest reading wins in ``rental_costs`` (one row per rental); the first reading and every change of total,
unit cost, quantity, currency or order date is a ``rental_cost_events`` row. A cost that cannot be read is
quarantined and the stored one kept: a bad price never holds back the file and its stop flags.
``spend_by_day`` reads ``rental_costs`` (docs/schema.md, "Spend").
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, insert, select, update

from etl import quarantine
from etl.api.parse import API_TIMEZONE, RentalCost, RentalStatus
from etl.db.schema import account_snapshots, rental_cost_events, rental_costs, rentals
from etl.jobs.base import JobContext
from etl.jobs.rentals.outcomes import FollowedRental

ENDPOINT = "location/status"
#: The columns whose change is history (the times are not); Decimals compare by value, so
#: 0.90000000 read back equals the API's 0.900.
FIGURES = ("total", "unit_cost", "quantity", "currency", "ordered_at")


def cost_day(cost: RentalCost, first_seen_at: datetime) -> date:
    """The day the order's spend counts on: the Europe/Paris day of its order date, else of its first reading
    (the days of ``sent_day`` and of the account's months are Paris days too)."""
    return (cost.ordered_at or first_seen_at).astimezone(API_TIMEZONE).date()


def _account_currency(conn: Connection, account_id: int) -> str | None:
    """No currency is documented for a rental: the account's, as its latest balance reading states it."""
    s = account_snapshots.c
    return conn.execute(
        select(s.currency).where(s.account_id == account_id, s.currency.is_not(None)).order_by(s.observed_at.desc()).limit(1)
    ).scalar()


def record(ctx: JobContext, rental: FollowedRental, status: RentalStatus) -> bool:
    """Store the cost ``status`` quotes (if any); returns True when it was new or changed."""
    if status.cost is None and status.cost_error is None:
        return False
    now = ctx.now()
    with ctx.engine.begin() as conn:
        if status.cost is None:
            item = {"token_tail": rental.token[-4:], "rental_id": rental.id}
            reason = f"rental cost unreadable: {status.cost_error}"
            rejection = quarantine.Rejection(ENDPOINT, item, reason, ref_kind="rental", ref=str(rental.id))
            quarantine.record(conn, [rejection], now, run_id=ctx.run_id, secrets=ctx.secrets, account_id=ctx.account.id)
            return False
        return _store(conn, ctx, rental.id, status.cost, now)


def _store(conn: Connection, ctx: JobContext, rental_id: int, cost: RentalCost, now: datetime) -> bool:
    account_id = conn.execute(select(rentals.c.account_id).where(rentals.c.id == rental_id)).scalar_one()
    figures = {
        "total": cost.total, "unit_cost": cost.unit_cost, "quantity": cost.quantity,
        "currency": cost.currency or _account_currency(conn, account_id), "ordered_at": cost.ordered_at,
    }
    c = rental_costs.c
    stored = conn.execute(select(c.id, c.first_seen_at, *(c[name] for name in FIGURES)).where(c.rental_id == rental_id)).first()
    if stored is not None and all(getattr(stored, name) == figures[name] for name in FIGURES):
        conn.execute(update(rental_costs).where(c.id == stored.id).values(observed_at=now, run_id=ctx.run_id))
        return False
    conn.execute(insert(rental_cost_events).values(rental_id=rental_id, observed_at=now, run_id=ctx.run_id, **figures))
    first_seen_at = now if stored is None else stored.first_seen_at
    values = dict(figures, cost_day=cost_day(cost, first_seen_at), changed_at=now, observed_at=now, run_id=ctx.run_id)
    if stored is None:
        conn.execute(insert(rental_costs).values(rental_id=rental_id, account_id=account_id, first_seen_at=now, **values))
    else:
        conn.execute(update(rental_costs).where(c.id == stored.id).values(**values))
    return True

