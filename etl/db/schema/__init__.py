"""The schema, as typed SQLAlchemy 2 models. Names here are the product: see docs/schema.md.

Every change is an Alembic revision in ``migrations/versions``; tests build databases with
``upgrade heads``, so a model that drifts from its migration is caught by ``alembic check``.

Timestamps are UTC (`UtcDateTime`), money is exact (`Money`) beside a 3-letter currency, phone
numbers are E.164 with the text as received kept beside them.

One module per area (`base` holds the declarative base and its naming convention); importing this
package registers every model on ``Base.metadata``, which Alembic compares against the migrations.
"""

from __future__ import annotations

from etl.db.schema.accounts import (
    PARENT_ACCOUNT_ID,
    Account,
    accounts,
)
from etl.db.schema.audit_chain import AuditChainEntry, AuditChainHead, audit_chain, audit_chain_head
from etl.db.schema.base import NAMING_CONVENTION, Base, table_of
from etl.db.schema.budget import ApiBudgetSlot, api_budget_slots
from etl.db.schema.compliance import (
    Breach,
    breaches,
)
from etl.db.schema.compliance_records import (
    FilterRun,
    FilterRunBlock,
    OptoutHash,
    filter_run_blocks,
    filter_runs,
    optout_hashes,
)
from etl.db.schema.console import (
    ROLES,
    ConsoleSession,
    ConsoleUser,
    console_sessions,
    console_users,
)
from etl.db.schema.contacts import (
    Contact,
    ContactEvent,
    ContactGroup,
    contact_events,
    contact_groups,
    contacts,
)
from etl.db.schema.push import (
    PushInbox,
    Reply,
    push_inbox,
    replies,
)
from etl.db.schema.quarantine import (
    RejectedItem,
    rejected_items,
)
from etl.db.schema.rentals import (
    Rental,
    RentalCost,
    RentalCostEvent,
    RentalFile,
    RentalNumber,
    RentalNumberEvent,
    rental_cost_events,
    rental_costs,
    rental_files,
    rental_number_events,
    rental_numbers,
    rentals,
)
from etl.db.schema.runs import (
    JobLease,
    SyncRun,
    WriteAction,
    job_leases,
    sync_runs,
    write_actions,
)
from etl.db.schema.statuses import (
    AccountSnapshot,
    CostEvent,
    FunnelDay,
    MonthlyCostRow,
    Recipient,
    Send,
    SpendDay,
    StatusEvent,
    TrackedTag,
    TrackIntake,
    account_snapshots,
    cost_events,
    funnel_days,
    monthly_costs,
    recipients,
    sends,
    spend_days,
    status_events,
    track_intake,
    tracked_tags,
)
from etl.db.schema.stops import (
    StopPeriod,
    stop_periods,
)

__all__ = [
    "ApiBudgetSlot",
    "api_budget_slots",
    "FilterRun",
    "FilterRunBlock",
    "OptoutHash",
    "filter_runs",
    "filter_run_blocks",
    "optout_hashes",
    "NAMING_CONVENTION",
    "Base",
    "table_of",
    "PARENT_ACCOUNT_ID",
    "Account",
    "accounts",
    "SyncRun",
    "WriteAction",
    "JobLease",
    "sync_runs",
    "write_actions",
    "job_leases",
    "StopPeriod",
    "stop_periods",
    "Rental",
    "RentalFile",
    "RentalNumber",
    "RentalNumberEvent",
    "rentals",
    "rental_files",
    "rental_numbers",
    "rental_number_events",
    "RentalCost",
    "RentalCostEvent",
    "rental_costs",
    "rental_cost_events",
    "Send",
    "SpendDay",
    "FunnelDay",
    "Recipient",
    "StatusEvent",
    "CostEvent",
    "TrackIntake",
    "TrackedTag",
    "AccountSnapshot",
    "MonthlyCostRow",
    "sends",
    "spend_days",
    "funnel_days",
    "recipients",
    "status_events",
    "cost_events",
    "track_intake",
    "tracked_tags",
    "account_snapshots",
    "monthly_costs",
    "PushInbox",
    "Reply",
    "push_inbox",
    "replies",
    "RejectedItem",
    "rejected_items",
    "ContactGroup",
    "Contact",
    "ContactEvent",
    "contact_groups",
    "contacts",
    "contact_events",
    "ROLES",
    "ConsoleUser",
    "ConsoleSession",
    "console_users",
    "console_sessions",
    "Breach",
    "breaches",
    "AuditChainEntry",
    "AuditChainHead",
    "audit_chain",
    "audit_chain_head",
]
