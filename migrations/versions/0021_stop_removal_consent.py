"""``write_actions.consent_evidence`` and ``cooloff_override``: why a stop was removed, and whether the cool-off was overridden.

Issue 18, "Re-consent, not just removal": ``stops remove`` requires the evidence that the number opted back in
(free text or a reference: a form, a URL, a date), kept on its audit row; a stop that came from a STOP reply
is not removed within ``[compliance] stop_reply_cooloff`` of it unless ``--override`` (the row says so, and the
chain has an entry for it). Existing rows are carried forward as they are: no evidence (NULL, the removals from
before it was asked for) and no override (false). Their chain entries do not name the new columns, so
`verify-audit` still compares them on the columns they recorded (docs/compliance.md, "Removing an opt-out").

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("write_actions", sa.Column("consent_evidence", sa.Text, nullable=True))
    op.add_column("write_actions", sa.Column("cooloff_override", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # A plain DROP COLUMN on every backend (SQLite >= 3.35): a batch rebuild would rename the table under
    # the stop_removals view, which SQLite refuses (as in 0013).
    for name in ("cooloff_override", "consent_evidence"):
        op.execute(f"ALTER TABLE write_actions DROP COLUMN {name}")
