"""Rental files: followed tokens, downloaded files, numbers with stop flags, their history, views.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23

Branches from 0001 (0002 is another branch); deploy with ``upgrade heads``.
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, Phone, UtcDateTime

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Numbers of followed rentals flagged stop in the rental's latest file. The audience filter
#: reads this exact name and column.
RENTAL_STOPS_CURRENT = """
CREATE VIEW rental_stops_current AS
SELECT DISTINCT n.phone_e164
  FROM rental_numbers n
  JOIN rentals r ON r.id = n.rental_id
 WHERE r.active = TRUE
   AND n.in_file = TRUE
   AND n.stop = TRUE
   AND n.phone_e164 IS NOT NULL
"""

#: "Which rented numbers may be texted now": in the latest file of a followed rental, not flagged
#: stop there, not flagged stop in any other followed rental's file, not in the account's stop list.
RENTAL_NUMBERS_TEXTABLE = """
CREATE VIEW rental_numbers_textable AS
SELECT n.rental_id,
       r.label AS rental_label,
       n.phone_e164,
       n.first_seen_at,
       r.last_loaded_at AS file_loaded_at
  FROM rental_numbers n
  JOIN rentals r ON r.id = n.rental_id
 WHERE r.active = TRUE
   AND n.in_file = TRUE
   AND n.stop = FALSE
   AND n.phone_e164 IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM current_stops s WHERE s.phone_e164 = n.phone_e164)
   AND NOT EXISTS (SELECT 1 FROM rental_numbers o JOIN rentals ro ON ro.id = o.rental_id
                    WHERE o.phone_e164 = n.phone_e164 AND o.stop = TRUE AND o.in_file = TRUE
                      AND ro.active = TRUE)
"""


def upgrade() -> None:
    op.create_table(
        "rentals",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.Column("last_status", sa.String(32), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_status_text", sa.Text(), nullable=True),
        sa.Column("last_checked_at", UtcDateTime(), nullable=True),
        sa.Column("last_loaded_at", UtcDateTime(), nullable=True),
        sa.Column("current_file_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rentals"),
        sa.UniqueConstraint("token", name="uq_rentals_token"),
    )
    op.create_table(
        "rental_files",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("rental_id", Id, nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("downloaded_at", UtcDateTime(), nullable=False),
        sa.Column("loaded_at", UtcDateTime(), nullable=False),
        sa.Column("file_rows", sa.Integer(), nullable=False),
        sa.Column("numbers", sa.Integer(), nullable=False),
        sa.Column("stopped", sa.Integer(), nullable=False),
        sa.Column("unparseable", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("stop_on", sa.Integer(), nullable=False),
        sa.Column("stop_off", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rental_files"),
        sa.ForeignKeyConstraint(["rental_id"], ["rentals.id"], name="fk_rental_files_rental_id_rentals"),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name="fk_rental_files_run_id_sync_runs"),
    )
    op.create_index("ix_rental_files_rental_id_loaded_at", "rental_files", ["rental_id", "loaded_at"])
    op.create_table(
        "rental_numbers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("rental_id", Id, nullable=False),
        sa.Column("phone_key", sa.String(80), nullable=False),
        sa.Column("phone_e164", Phone, nullable=True),
        sa.Column("phone_raw", sa.String(64), nullable=False),
        sa.Column("api_contact_id", sa.String(32), nullable=True),
        sa.Column("stop", sa.Boolean(), nullable=False),
        sa.Column("in_file", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("left_at", UtcDateTime(), nullable=True),
        sa.Column("stop_changed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rental_numbers"),
        sa.ForeignKeyConstraint(["rental_id"], ["rentals.id"], name="fk_rental_numbers_rental_id_rentals"),
        sa.UniqueConstraint("rental_id", "phone_key", name="uq_rental_numbers_rental_id_phone_key"),
    )
    op.create_index("ix_rental_numbers_phone_e164", "rental_numbers", ["phone_e164"])
    op.create_table(
        "rental_number_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("rental_id", Id, nullable=False),
        sa.Column("file_id", Id, nullable=False),
        sa.Column("phone_key", sa.String(80), nullable=False),
        sa.Column("phone_e164", Phone, nullable=True),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("stop", sa.Boolean(), nullable=False),
        sa.Column("observed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rental_number_events"),
        sa.ForeignKeyConstraint(["rental_id"], ["rentals.id"], name="fk_rental_number_events_rental_id_rentals"),
        sa.ForeignKeyConstraint(["file_id"], ["rental_files.id"], name="fk_rental_number_events_file_id_rental_files"),
    )
    op.create_index("ix_rental_number_events_file_id", "rental_number_events", ["file_id"])
    op.create_index("ix_rental_number_events_phone_e164", "rental_number_events", ["phone_e164"])
    op.execute(RENTAL_STOPS_CURRENT)
    op.execute(RENTAL_NUMBERS_TEXTABLE)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS rental_numbers_textable")
    op.execute("DROP VIEW IF EXISTS rental_stops_current")
    op.drop_table("rental_number_events")
    op.drop_table("rental_numbers")
    op.drop_table("rental_files")
    op.drop_table("rentals")
