"""Every account in one schema: ``accounts``, and ``account_id`` on every table whose rows the API names.

Issue 17. One deployment mirrors the parent account and its sub-accounts into the same tables:

- ``accounts`` (docs/schema.md, "Accounts"); its row 1 is the parent (label ``main``, type ``parent``),
  created here, so a fresh database has it too and every row that exists before this revision is its.
- ``account_id`` NOT NULL → ``accounts.id``, server default 1, on the run log, the audit, the quarantine
  and every table the API's rows live in (`TABLES`). Rows that hang off one of those by a required key
  (status and cost events, rental files, numbers and events, replies) reach the account through it.
- API ids are per account: the unique keys, the two primary keys that were API values (``tracked_tags``,
  ``monthly_costs``) and the partial ``uq_stop_periods_open_api_stop_id`` gain ``account_id``, first; the
  indexes the jobs scan per account are led by it. ``push_inbox`` keeps its indexes: the applier drains
  every account's callbacks in one pass, and ``content_hash`` stays unique on its own.
- Every view keeps its columns and gains ``account_id`` and ``account_label``; the views that aggregate
  group by account too, so a single-account database reads exactly as before.

Backend differences come from the registry (`etl.db.backends`): partial indexes (none on MariaDB), the
month expression of ``spend_vs_account``, SQLite's batch rebuilds (migrations/env.py). The views are
dropped first and created again last (SQLite's rebuild renames tables under them; PostgreSQL refuses to
alter what a view reads). On MariaDB the account-led indexes are created before the foreign keys, so the
keys use them instead of adding indexes of their own.

The downgrade refuses, before it changes anything, while any row belongs to an account other than 1: the
older schema could not tell them apart.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import importlib.util
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

from etl.db import backends
from etl.db.types import Id, UtcDateTime
from etl.errors import SyncRefused

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PARENT = 1
OPEN_STOP = "uq_stop_periods_open_api_stop_id"


@dataclass(frozen=True)
class Keyed:
    """A table that gains ``account_id``, and which of its keys and indexes gain it (first)."""

    name: str
    #: Indexes led by ``account_id`` from now on: (the columns after it, unique).
    indexes: tuple[tuple[tuple[str, ...], bool], ...] = ()
    #: Unique constraints keyed by account: the columns after ``account_id``.
    uniques: tuple[tuple[str, ...], ...] = ()
    #: The primary key's columns after ``account_id`` (an API value that was the key on its own).
    primary: tuple[str, ...] = ()

    def index_name(self, columns: tuple[str, ...], unique: bool) -> str:
        return f"{'uq' if unique else 'ix'}_{self.name}_{'_'.join(columns)}"


TABLES = (
    Keyed("sync_runs", indexes=((("job", "started_at"), False),)),
    Keyed("write_actions", indexes=((("action", "requested_at"), False), (("outcome",), False))),
    Keyed("stop_periods", indexes=((("api_stop_id", "removed_at"), False),)),
    Keyed("rentals", uniques=(("token",),)),
    Keyed("sends", indexes=((("kind", "discovered_at"), False), (("tag",), False)), uniques=(("message_id",),)),
    Keyed(
        "recipients",
        indexes=(
            (("next_poll_at",), False),
            (("next_cost_at",), False),
            (("sent_day", "country", "currency"), False),
            (("final", "expired"), False),
        ),
        uniques=(("message_id", "phone_e164"),),
    ),
    Keyed("track_intake", indexes=((("processed_at",), False),)),
    Keyed("tracked_tags", primary=("tag",)),
    Keyed("account_snapshots", indexes=((("observed_at",), False),)),
    Keyed("monthly_costs", primary=("period",)),
    Keyed("push_inbox"),
    Keyed("rejected_items", indexes=((("endpoint", "item_hash"), True),)),
)


# --- views -------------------------------------------------------------------------------------------------------

#: Dependants first (rental_numbers_textable reads current_stops).
VIEWS = (
    "rental_numbers_textable", "rental_stops_current", "pushed_stops_unconfirmed", "spend_vs_account",
    "expired_recipients", "pending_recipients", "status_funnel", "spend_daily", "job_health", "stop_removals",
    "current_stops",
)

SYNCED = "('success', 'partial')"

CURRENT_STOPS = f"""
CREATE VIEW current_stops AS
SELECT p.id AS stop_period_id,
       p.api_stop_id,
       p.phone_e164,
       p.phone_raw,
       p.api_created_at,
       p.first_seen_at,
       COALESCE(p.last_seen_at, k.synced_at, p.first_seen_at) AS last_seen_at,
       p.source,
       p.account_id,
       a.label AS account_label
  FROM stop_periods p
  JOIN accounts a ON a.id = p.account_id
  LEFT JOIN (SELECT r.account_id, MAX(r.started_at) AS synced_at FROM sync_runs r
              WHERE r.job = 'stops' AND r.outcome IN {SYNCED}
              GROUP BY r.account_id) k ON k.account_id = p.account_id
 WHERE p.removed_at IS NULL
"""

STOP_REMOVALS = """
CREATE VIEW stop_removals AS
SELECT p.id AS stop_period_id,
       p.api_stop_id,
       p.phone_e164,
       p.phone_raw,
       p.first_seen_at,
       p.last_seen_at,
       p.removed_at,
       p.removed_how,
       w.id AS write_action_id,
       w.actor,
       w.reason,
       p.account_id,
       a.label AS account_label
  FROM stop_periods p
  JOIN accounts a ON a.id = p.account_id
  LEFT JOIN write_actions w ON w.id = p.removed_by_action_id
 WHERE p.removed_at IS NOT NULL
"""

JOB_HEALTH = f"""
CREATE VIEW job_health AS
SELECT j.job,
       (SELECT MAX(r.started_at) FROM sync_runs r
         WHERE r.account_id = j.account_id AND r.job = j.job AND r.outcome IN {SYNCED}) AS last_success_at,
       (SELECT MAX(r.started_at) FROM sync_runs r WHERE r.account_id = j.account_id AND r.job = j.job) AS last_run_at,
       (SELECT COUNT(*) FROM sync_runs r
         WHERE r.account_id = j.account_id AND r.job = j.job AND r.outcome = 'failed') AS failed_runs,
       (SELECT COUNT(*) FROM sync_runs r WHERE r.account_id = j.account_id AND r.job = j.job) AS total_runs,
       j.account_id,
       a.label AS account_label
  FROM (SELECT DISTINCT account_id, job FROM sync_runs) j
  JOIN accounts a ON a.id = j.account_id
"""

# Money is never summed across currencies, nor across accounts: every spend view groups by both.
SPEND_DAILY = """
CREATE VIEW spend_daily AS
SELECT r.sent_day,
       r.country,
       r.currency,
       COUNT(*) AS recipients,
       ROUND(SUM(r.cost), 8) AS spend,
       r.account_id,
       a.label AS account_label
  FROM recipients r
  JOIN accounts a ON a.id = r.account_id
 WHERE r.cost IS NOT NULL
 GROUP BY r.account_id, a.label, r.sent_day, r.country, r.currency
"""

STATUS_FUNNEL = """
CREATE VIEW status_funnel AS
SELECT r.sent_day,
       s.message_id,
       s.tag,
       COUNT(*) AS recipients,
       SUM(CASE WHEN LOWER(r.status) = 'delivered' THEN 1 ELSE 0 END) AS delivered,
       SUM(CASE WHEN r.final AND LOWER(r.status) <> 'delivered' THEN 1 ELSE 0 END) AS failed,
       SUM(CASE WHEN NOT r.final AND NOT r.expired THEN 1 ELSE 0 END) AS pending,
       SUM(CASE WHEN r.expired AND NOT r.final THEN 1 ELSE 0 END) AS expired,
       SUM(CASE WHEN r.status IS NULL AND r.item_code IS NOT NULL THEN 1 ELSE 0 END) AS not_found,
       r.account_id,
       a.label AS account_label
  FROM recipients r
  JOIN sends s ON s.id = r.send_id
  JOIN accounts a ON a.id = r.account_id
 GROUP BY r.account_id, a.label, r.sent_day, s.message_id, s.tag
"""

PENDING = """
CREATE VIEW pending_recipients AS
SELECT r.id AS recipient_id, r.message_id, s.tag, r.phone_e164, r.status, r.status_at, r.poll_count,
       r.last_polled_at, r.next_poll_at, r.poll_until, r.item_code, r.item_error, r.account_id, a.label AS account_label
  FROM recipients r
  JOIN sends s ON s.id = r.send_id
  JOIN accounts a ON a.id = r.account_id
 WHERE NOT r.final AND NOT r.expired
"""

EXPIRED = """
CREATE VIEW expired_recipients AS
SELECT r.id AS recipient_id, r.message_id, s.tag, r.phone_e164, r.status, r.status_at, r.final,
       r.expired_reason, r.poll_count, r.last_polled_at, r.poll_until, r.item_code, r.item_error, r.account_id,
       a.label AS account_label
  FROM recipients r
  JOIN sends s ON s.id = r.send_id
  JOIN accounts a ON a.id = r.account_id
 WHERE r.expired
"""

SPEND_VS_ACCOUNT = """
CREATE VIEW spend_vs_account AS
SELECT m.period,
       COALESCE(m.currency, x.currency) AS currency,
       m.cost AS account_cost,
       m.nb_send AS account_nb_send,
       COALESCE(x.spend, 0) AS recorded_spend,
       COALESCE(x.recipients, 0) AS recorded_recipients,
       m.cost - COALESCE(x.spend, 0) AS difference,
       m.observed_at AS account_observed_at,
       m.account_id,
       a.label AS account_label
  FROM monthly_costs m
  JOIN accounts a ON a.id = m.account_id
  LEFT JOIN (SELECT r.account_id, {month} AS period, r.currency, ROUND(SUM(r.cost), 8) AS spend, COUNT(*) AS recipients
               FROM recipients r
              WHERE r.cost IS NOT NULL
              GROUP BY r.account_id, {month}, r.currency) x
    ON x.account_id = m.account_id AND x.period = m.period AND (m.currency IS NULL OR x.currency = m.currency)
"""

#: The audience filter reads ``phone_e164`` of this exact name; a number stopped in two accounts' rentals is two rows.
RENTAL_STOPS_CURRENT = """
CREATE VIEW rental_stops_current AS
SELECT DISTINCT n.phone_e164,
       r.account_id,
       a.label AS account_label
  FROM rental_numbers n
  JOIN rentals r ON r.id = n.rental_id
  JOIN accounts a ON a.id = r.account_id
 WHERE r.active = TRUE
   AND n.in_file = TRUE
   AND n.stop = TRUE
   AND n.phone_e164 IS NOT NULL
"""

#: Fail-closed across accounts: a number stopped in any account's list or any followed rental is not textable.
RENTAL_NUMBERS_TEXTABLE = """
CREATE VIEW rental_numbers_textable AS
SELECT n.rental_id,
       r.label AS rental_label,
       n.phone_e164,
       n.first_seen_at,
       r.last_loaded_at AS file_loaded_at,
       r.account_id,
       a.label AS account_label
  FROM rental_numbers n
  JOIN rentals r ON r.id = n.rental_id
  JOIN accounts a ON a.id = r.account_id
 WHERE r.active = TRUE
   AND n.in_file = TRUE
   AND n.stop = FALSE
   AND n.phone_e164 IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM current_stops s WHERE s.phone_e164 = n.phone_e164)
   AND NOT EXISTS (SELECT 1 FROM rental_numbers o JOIN rentals ro ON ro.id = o.rental_id
                    WHERE o.phone_e164 = n.phone_e164 AND o.stop = TRUE AND o.in_file = TRUE
                      AND ro.active = TRUE)
"""

PUSHED_STOPS_UNCONFIRMED = """
CREATE VIEW pushed_stops_unconfirmed AS
SELECT p.id AS stop_period_id,
       p.phone_e164,
       p.phone_raw,
       p.first_seen_at,
       p.account_id,
       a.label AS account_label
  FROM stop_periods p
  JOIN accounts a ON a.id = p.account_id
 WHERE p.source = 'push'
   AND p.api_stop_id IS NULL
   AND p.removed_at IS NULL
"""


def _drop_views() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")


def _create_views(backend: backends.Backend) -> None:
    month = backend.month_sql("r.sent_day")
    for text in (
        CURRENT_STOPS, STOP_REMOVALS, JOB_HEALTH, SPEND_DAILY, STATUS_FUNNEL, PENDING, EXPIRED,
        SPEND_VS_ACCOUNT.format(month=month), RENTAL_STOPS_CURRENT, RENTAL_NUMBERS_TEXTABLE, PUSHED_STOPS_UNCONFIRMED,
    ):
        op.execute(text)


def _revision(filename: str) -> ModuleType:
    """An older revision (its view texts), loaded by path: a module name cannot start with a digit."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"_migration_{filename[:4]}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _create_views_0009(backend: backends.Backend) -> None:
    """The views as revision 0009 left them (0001-0004 texts, 0008's 8 decimals, 0009's synced runs)."""
    m1, m2, m3, m4, m9 = (_revision(f) for f in (
        "0001_stops_runs_audit.py", "0002_statuses.py", "0003_rentals.py", "0004_push_inbox.py",
        "0009_partial_runs_count_as_synced.py",
    ))
    op.execute(f"CREATE VIEW current_stops AS {m9._current_stops(m9.SYNCED)}")
    op.execute(m1.STOP_REMOVALS)
    op.execute(f"CREATE VIEW job_health AS {m9._job_health(m9.SYNCED)}")
    spend = (m2.SPEND_DAILY, m2.STATUS_FUNNEL, m2.PENDING, m2.EXPIRED, m2.SPEND_VS_ACCOUNT.format(month=backend.month_sql("r.sent_day")))
    for text in spend:
        op.execute(text.replace("), 6)", "), 8)"))
    op.execute(m3.RENTAL_STOPS_CURRENT)
    op.execute(m3.RENTAL_NUMBERS_TEXTABLE)
    op.execute(m4.PUSHED_STOPS_UNCONFIRMED)


# --- tables --------------------------------------------------------------------------------------------------------


def _create_accounts() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("api_id", sa.String(32), nullable=True),
        sa.Column("parent_id", Id, nullable=True),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("token", sa.String(64), nullable=True),
        sa.Column("api_created_at", UtcDateTime(), nullable=True),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=True),
        sa.Column("gone_since", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.ForeignKeyConstraint(["parent_id"], ["accounts.id"], name="fk_accounts_parent_id_accounts"),
        sa.UniqueConstraint("label", name="uq_accounts_label"),
        sa.UniqueConstraint("token", name="uq_accounts_token"),
        sa.UniqueConstraint("api_id", name="uq_accounts_api_id"),
        sa.CheckConstraint("type IN ('parent', 'simple', 'advanced')", name=op.f("ck_accounts_type")),
    )
    bind = op.get_bind()
    # The parent was first seen when the tool first ran against it (a fresh database: now).
    runs = sa.table("sync_runs", sa.column("started_at", UtcDateTime()))
    first_run = bind.execute(sa.select(sa.func.min(runs.c.started_at))).scalar()
    table = sa.table(
        "accounts", sa.column("id", Id), sa.column("label", sa.String()), sa.column("type", sa.String()),
        sa.column("first_seen_at", UtcDateTime()), sa.column("last_seen_at", UtcDateTime()),
    )
    now = datetime.now(timezone.utc)
    bind.execute(sa.insert(table).values(label="main", type="parent", first_seen_at=first_run or now, last_seen_at=now))
    # Not an explicit id: PostgreSQL's sequence would not know of it. A fresh table numbers from 1 everywhere.
    parent = bind.execute(sa.select(table.c.id).where(table.c.label == "main")).scalar_one()
    if parent != PARENT:
        raise RuntimeError(f"the parent account was numbered {parent}, not {PARENT}; check the server's auto-increment settings")


def _key_by_account(spec: Keyed) -> None:
    for columns, unique in spec.indexes:
        op.drop_index(spec.index_name(columns, unique), table_name=spec.name)
    with op.batch_alter_table(spec.name) as batch:
        batch.add_column(sa.Column("account_id", Id, nullable=False, server_default=sa.text(str(PARENT))))
        for columns in spec.uniques:
            batch.drop_constraint(f"uq_{spec.name}_{'_'.join(columns)}", type_="unique")
            batch.create_unique_constraint(f"uq_{spec.name}_account_id_{'_'.join(columns)}", ["account_id", *columns])
        if spec.primary:
            batch.drop_constraint(f"pk_{spec.name}", type_="primary")
            batch.create_primary_key(f"pk_{spec.name}", ["account_id", *spec.primary])
        for columns, unique in spec.indexes:
            batch.create_index(spec.index_name(("account_id", *columns), unique), ["account_id", *columns], unique=unique)
        batch.create_foreign_key(f"fk_{spec.name}_account_id_accounts", "accounts", ["account_id"], ["id"])


def _unkey(spec: Keyed) -> None:
    with op.batch_alter_table(spec.name) as batch:
        batch.drop_constraint(f"fk_{spec.name}_account_id_accounts", type_="foreignkey")
        for columns, unique in spec.indexes:
            batch.drop_index(spec.index_name(("account_id", *columns), unique))
        for columns in spec.uniques:
            batch.drop_constraint(f"uq_{spec.name}_account_id_{'_'.join(columns)}", type_="unique")
            batch.create_unique_constraint(f"uq_{spec.name}_{'_'.join(columns)}", list(columns))
        if spec.primary:
            batch.drop_constraint(f"pk_{spec.name}", type_="primary")
            batch.create_primary_key(f"pk_{spec.name}", list(spec.primary))
        batch.drop_column("account_id")
    for columns, unique in spec.indexes:
        op.create_index(spec.index_name(columns, unique), spec.name, list(columns), unique=unique)


def _open_stop_index(backend: backends.Backend, columns: list[str]) -> None:
    if backend.partial_indexes:
        where = sa.text("removed_at IS NULL")
        op.create_index(OPEN_STOP, "stop_periods", columns, unique=True, postgresql_where=where, sqlite_where=where)


def _refuse_other_accounts() -> None:
    bind = op.get_bind()
    found = []
    for spec in TABLES:
        table = sa.table(spec.name, sa.column("account_id", Id))
        count = bind.execute(sa.select(sa.func.count()).select_from(table).where(table.c.account_id != PARENT)).scalar_one()
        if count:
            found.append(f"{spec.name} {count}")
    if found:
        raise SyncRefused(
            f"refusing to downgrade below 0010: rows of accounts other than the parent (account {PARENT}) exist "
            f"({', '.join(found)}), and the older schema cannot tell them apart"
        )


def upgrade() -> None:
    backend = backends.of(op.get_bind())
    _drop_views()
    _create_accounts()
    if backend.partial_indexes:
        op.drop_index(OPEN_STOP, table_name="stop_periods")
    for spec in TABLES:
        _key_by_account(spec)
    _open_stop_index(backend, ["account_id", "api_stop_id"])
    _create_views(backend)


def downgrade() -> None:
    backend = backends.of(op.get_bind())
    _refuse_other_accounts()
    _drop_views()
    if backend.partial_indexes:
        op.drop_index(OPEN_STOP, table_name="stop_periods")
    for spec in reversed(TABLES):
        _unkey(spec)
    _open_stop_index(backend, ["api_stop_id"])
    op.drop_table("accounts")
    _create_views_0009(backend)
