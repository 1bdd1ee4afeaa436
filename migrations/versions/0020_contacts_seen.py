"""The ``contacts_seen`` view: when each contact was first and last seen, while the sync stops rewriting them.

From this revision a sync no longer writes ``contacts.last_seen_at`` on every contact it reads (a full-table
write each cycle, issue 17). A complete read of a group saw every contact of it that is not gone, so the
group's ``last_complete_read_at`` is their last sight; the column is written only when that does not say
it (a contact appearing or back, listed by a partial read, or gone: frozen then). The view puts the two
together (docs/schema.md, "contacts_seen").

Existing rows need no change: until now every read wrote ``last_seen_at``, so each stored value is already
at least its group's last complete read, and the view returns it as it was. Downgrade writes the view's
value back into the column, which then means again what 0011's code expects, and drops the view.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# A present contact's last sight: its own, or its group's last complete read when later
# (etl.jobs.contacts.diff.seen_by_group says the same for the sync's writes).
CONTACTS_SEEN = """
CREATE VIEW contacts_seen AS
SELECT c.account_id,
       c.group_id,
       c.contact_id,
       c.phone_e164,
       c.stop_sms,
       c.first_seen_at,
       CASE WHEN c.gone_since IS NULL AND g.last_complete_read_at > c.last_seen_at
            THEN g.last_complete_read_at ELSE c.last_seen_at END AS last_seen_at,
       c.gone_since,
       a.label AS account_label
  FROM contacts c
  JOIN contact_groups g ON g.account_id = c.account_id AND g.group_id = c.group_id
  JOIN accounts a ON a.id = c.account_id
"""


# Downgrade writes the view's value back into the column, for each present contact.
GROUP_READ = """(SELECT g.last_complete_read_at FROM contact_groups g
                  WHERE g.account_id = contacts.account_id AND g.group_id = contacts.group_id)"""


def upgrade() -> None:
    op.execute(CONTACTS_SEEN)


def downgrade() -> None:
    op.execute(f"UPDATE contacts SET last_seen_at = {GROUP_READ} WHERE gone_since IS NULL AND {GROUP_READ} > last_seen_at")
    op.execute("DROP VIEW IF EXISTS contacts_seen")
