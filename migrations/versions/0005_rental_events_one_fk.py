"""Rental history: one composite foreign key (file_id, rental_id) → rental_files instead of two.

A file belongs to one rental, so ``file_id`` already implies ``rental_id``; the composite key
keeps both right (the event's rental is its file's rental) with one check per inserted row instead
of two. On PostgreSQL each foreign key is one trigger call per row: ~6 s each for the 500,000
events of a first load (``docs/benchmarks.md``, "Rental sync").

- ``uq_rental_files_id_rental_id``: the unique index the composite key refers to (a unique index,
  not a constraint, so SQLite need not rebuild ``rental_files``, which other tables refer to);
- ``ix_rental_number_events_file_id_rental_id`` replaces ``ix_rental_number_events_file_id``
  (same leading column; MariaDB needs an index led by the key's columns);
- ``fk_rental_number_events_file_id_rental_files`` now covers both columns;
  ``fk_rental_number_events_rental_id_rentals`` is gone.

MariaDB had created an index of its own for the dropped ``rental_id`` key (named after the key);
it is dropped with it, and created again by the downgrade's key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

EVENTS = "rental_number_events"
FK_FILE = "fk_rental_number_events_file_id_rental_files"
FK_RENTAL = "fk_rental_number_events_rental_id_rentals"
IX_FILE = "ix_rental_number_events_file_id"
IX_FILE_RENTAL = "ix_rental_number_events_file_id_rental_id"
UQ_FILE_RENTAL = "uq_rental_files_id_rental_id"


def _drop_index_if_present(table: str, name: str) -> None:
    if name in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(table)}:
        op.drop_index(name, table_name=table)


def upgrade() -> None:
    op.create_index(UQ_FILE_RENTAL, "rental_files", ["id", "rental_id"], unique=True)
    with op.batch_alter_table(EVENTS) as batch:
        batch.drop_constraint(FK_RENTAL, type_="foreignkey")
        batch.drop_constraint(FK_FILE, type_="foreignkey")
        batch.create_index(IX_FILE_RENTAL, ["file_id", "rental_id"])
        batch.drop_index(IX_FILE)
        batch.create_foreign_key(FK_FILE, "rental_files", ["file_id", "rental_id"], ["id", "rental_id"])
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        _drop_index_if_present(EVENTS, FK_RENTAL)
        _drop_index_if_present(EVENTS, FK_FILE)


def downgrade() -> None:
    with op.batch_alter_table(EVENTS) as batch:
        batch.drop_constraint(FK_FILE, type_="foreignkey")
        batch.create_index(IX_FILE, ["file_id"])
        batch.drop_index(IX_FILE_RENTAL)
        batch.create_foreign_key(FK_RENTAL, "rentals", ["rental_id"], ["id"])
        batch.create_foreign_key(FK_FILE, "rental_files", ["file_id"], ["id"])
    op.drop_index(UQ_FILE_RENTAL, table_name="rental_files")
