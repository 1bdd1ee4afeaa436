"""``replies.stop_intent``, and the ``reply_stop_intents`` and ``optout_attribution`` views (issue 18).

- ``replies.stop_intent``: the verdict of `etl.compliance.intent.classify` on the reply's text, set by push
  apply at intake. Existing rows are classified here, in Python, in batches of ``BATCH`` ids: the rule
  lives in one place (no SQL copy of it), and only flagged rows are written (the default is false).
- ``reply_stop_intents``: flagged replies that are not already opt-outs (not a STOP callback, no open stop
  period for that number in that account).
- ``optout_attribution``: every stop period with the send it is attributed to (docs/schema.md, "Opt-out
  attribution") and when it became effective here (docs/compliance.md, "Attribution and propagation").

Plain portable SQL; derived tables and correlated scalar subqueries (with ``LIMIT 1``) work on the three.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.compliance.intent import classify

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BATCH = 5000

REPLY_STOP_INTENTS = """
CREATE VIEW reply_stop_intents AS
SELECT rp.id AS reply_id,
       i.account_id,
       a.label AS account_label,
       rp.phone_e164,
       rp.kind,
       rp.message_id,
       rp.text,
       rp.received_at
  FROM replies rp
  JOIN push_inbox i ON i.id = rp.inbox_id
  JOIN accounts a ON a.id = i.account_id
 WHERE rp.stop_intent = TRUE
   AND rp.kind <> 'stop'
   AND NOT EXISTS (SELECT 1 FROM stop_periods p
                    WHERE p.account_id = i.account_id
                      AND p.phone_e164 = rp.phone_e164
                      AND p.removed_at IS NULL)
"""

# s: each period with its first STOP callback (the inbox row that opened or met it), when the STOP happened
# (the earlier of the callback's receipt and the API's createdAt) and when it was effective here (the
# push-created period when its inbox row was applied, any other when a sync or the tool first saw it).
# m: the attributed recipient, by the callback's message id first, else the last send before the STOP.
OPTOUT_ATTRIBUTION = """
CREATE VIEW optout_attribution AS
SELECT m.account_id,
       a.label AS account_label,
       m.stop_period_id,
       m.phone_e164,
       m.stop_source,
       m.stopped_at,
       m.effective_at,
       m.stop_message_id,
       CASE WHEN m.by_message_id IS NOT NULL THEN 'message_id'
            WHEN m.by_last_send IS NOT NULL THEN 'last_send' END AS attributed_by,
       r.id AS recipient_id,
       s.id AS send_id,
       s.message_id,
       s.tag,
       s.sent_at,
       (SELECT MIN(n.rental_id) FROM rental_numbers n JOIN rentals rr ON rr.id = n.rental_id
         WHERE rr.account_id = m.account_id AND n.phone_e164 = m.phone_e164) AS rental_id
  FROM (SELECT st.*,
               (SELECT MIN(r1.id) FROM recipients r1
                 WHERE r1.account_id = st.account_id AND r1.phone_e164 = st.phone_e164
                   AND r1.message_id = st.stop_message_id) AS by_message_id,
               (SELECT r2.id FROM recipients r2 JOIN sends s2 ON s2.id = r2.send_id
                 WHERE r2.account_id = st.account_id AND r2.phone_e164 = st.phone_e164
                   AND s2.sent_at <= st.stopped_at
                 ORDER BY s2.sent_at DESC, r2.id DESC LIMIT 1) AS by_last_send
          FROM (SELECT p.id AS stop_period_id,
                       p.account_id,
                       p.phone_e164,
                       p.source AS stop_source,
                       CASE WHEN cb.received_at IS NOT NULL
                             AND (p.api_created_at IS NULL OR cb.received_at < p.api_created_at)
                            THEN cb.received_at
                            ELSE COALESCE(p.api_created_at, p.first_seen_at) END AS stopped_at,
                       CASE WHEN p.source = 'push' AND cb.applied_at IS NOT NULL THEN cb.applied_at
                            ELSE p.first_seen_at END AS effective_at,
                       cb.message_id AS stop_message_id
                  FROM stop_periods p
                  LEFT JOIN push_inbox cb
                    ON cb.id = (SELECT MIN(i.id) FROM push_inbox i
                                 WHERE i.stop_period_id = p.id AND i.kind = 'stop')) st) m
  JOIN accounts a ON a.id = m.account_id
  LEFT JOIN recipients r ON r.id = COALESCE(m.by_message_id, m.by_last_send)
  LEFT JOIN sends s ON s.id = r.send_id
"""

VIEWS = ("optout_attribution", "reply_stop_intents")


def _backfill() -> None:
    conn = op.get_bind()
    replies = sa.table("replies", sa.column("id", sa.BigInteger), sa.column("text", sa.Text), sa.column("stop_intent", sa.Boolean))
    last = 0
    while True:
        rows = conn.execute(sa.select(replies.c.id, replies.c.text).where(replies.c.id > last).order_by(replies.c.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1].id
        flagged = [{"rid": r.id} for r in rows if classify(r.text).stop]
        if flagged:
            conn.execute(sa.update(replies).where(replies.c.id == sa.bindparam("rid")).values(stop_intent=True), flagged)


def upgrade() -> None:
    op.add_column("replies", sa.Column("stop_intent", sa.Boolean, nullable=False, server_default=sa.false()))
    _backfill()
    op.execute(REPLY_STOP_INTENTS)
    op.execute(OPTOUT_ATTRIBUTION)


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW {name}")
    # Plain DROP COLUMN (SQLite >= 3.35), as 0013: a batch rebuild would rename the table under other views.
    op.execute("ALTER TABLE replies DROP COLUMN stop_intent")
