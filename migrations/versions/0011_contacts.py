"""Contact groups and their contacts' ``stopSms`` flags, with history: a second set of opt-outs (issue 17).

- ``contact_groups``: each account's groups (``group/list``), whether the contacts job follows them, when
  they left the list, how the last read of their contacts went.
- ``contacts``: one row per contact of a group, its number (as given and E.164) and its ``stopSms`` flag.
- ``contact_events``: appeared, gone, stop_on, stop_off, as the syncs observed them.
- ``contact_stops`` (view): the numbers flagged ``stopSms`` in a followed group that is not gone, which
  the audience filter blocks with the reason ``contact_stop`` (docs/audience.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

API_ID = sa.String(64)
PHONE = sa.String(16)

CONTACT_STOPS = """
CREATE VIEW contact_stops AS
SELECT c.account_id,
       c.phone_e164,
       c.group_id,
       c.stop_since AS since,
       a.label AS account_label
  FROM contacts c
  JOIN contact_groups g ON g.account_id = c.account_id AND g.group_id = c.group_id
  JOIN accounts a ON a.id = c.account_id
 WHERE c.stop_sms = TRUE
   AND c.gone_since IS NULL
   AND g.gone_since IS NULL
   AND g.followed = TRUE
"""


def _account_id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("account_id", Id, server_default=sa.text("1"), nullable=False)


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=f"fk_{table}_account_id_accounts")


def upgrade() -> None:
    op.create_table(
        "contact_groups",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        _account_id(),
        sa.Column("group_id", API_ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("api_created_at", UtcDateTime, nullable=True),
        sa.Column("is_special_file", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_location_file", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("followed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("gone_since", UtcDateTime, nullable=True),
        sa.Column("last_read", sa.String(16), nullable=True),
        sa.Column("last_complete_read_at", UtcDateTime, nullable=True),
        _account_fk("contact_groups"),
        sa.PrimaryKeyConstraint("id", name="pk_contact_groups"),
        sa.UniqueConstraint("account_id", "group_id", name="uq_contact_groups_account_id_group_id"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        _account_id(),
        sa.Column("group_id", API_ID, nullable=False),
        sa.Column("contact_id", API_ID, nullable=False),
        sa.Column("phone_raw", sa.String(64), nullable=False),
        sa.Column("phone_e164", PHONE, nullable=True),
        sa.Column("stop_sms", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("stop_since", UtcDateTime, nullable=True),
        sa.Column("api_created_at", UtcDateTime, nullable=True),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("gone_since", UtcDateTime, nullable=True),
        sa.Column("first_run_id", Id, nullable=True),
        sa.Column("last_run_id", Id, nullable=True),
        sa.ForeignKeyConstraint(["first_run_id"], ["sync_runs.id"], name="fk_contacts_first_run_id_sync_runs"),
        sa.ForeignKeyConstraint(["last_run_id"], ["sync_runs.id"], name="fk_contacts_last_run_id_sync_runs"),
        _account_fk("contacts"),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("account_id", "group_id", "contact_id", name="uq_contacts_account_id_group_id_contact_id"),
    )
    op.create_index("ix_contacts_phone_e164", "contacts", ["phone_e164"])
    op.create_table(
        "contact_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        _account_id(),
        sa.Column("group_id", API_ID, nullable=False),
        sa.Column("contact_id", API_ID, nullable=False),
        sa.Column("phone_e164", PHONE, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.CheckConstraint("kind IN ('appeared', 'gone', 'stop_on', 'stop_off')", name="ck_contact_events_kind"),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name="fk_contact_events_run_id_sync_runs"),
        _account_fk("contact_events"),
        sa.PrimaryKeyConstraint("id", name="pk_contact_events"),
    )
    op.create_index(
        "ix_contact_events_account_id_group_id_contact_id_at", "contact_events", ["account_id", "group_id", "contact_id", "at"]
    )
    op.create_index("ix_contact_events_at", "contact_events", ["at"])
    op.execute(CONTACT_STOPS)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS contact_stops")
    op.drop_table("contact_events")
    op.drop_table("contacts")
    op.drop_table("contact_groups")
