"""Every documented API quirk as a switch (REFERENCE.md §6; numbers cite the quirk).

Defaults reproduce the *documented* behaviour; flip a field to reproduce the other source
(GO testdata, WEB pages) or an undocumented guess. The dataclass is mutable on purpose: a test
flips one field on ``sim.quirks`` and the next HTTP call sees it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Quirks:
    # quirk 11: HTTP status of application errors (success:false); the docs never say.
    error_http_status: int = 200
    # quirk 13: error text under "message" (DOC) or singular "error" (GO, RB).
    error_key: str = "message"  # "message" | "error"
    # quirk 13: code 9 carries errors:[{elementId, message}] (DOC-send) or a plain message.
    validation_errors_array: bool = True
    # quirk 3: /message-status uses "statut"; "status" makes it match the other endpoints.
    message_status_key: str = "statut"  # "statut" | "status"
    # quirk 6: id types per endpoint as documented, or all strings, or all ints.
    id_style: str = "documented"  # "documented" | "strings" | "ints"
    # quirk 5: /message-status date "Y-m-d H:i:s" (DOC, SEED-004) or epoch string (GO).
    message_status_date: str = "ymd"  # "ymd" | "epoch"
    # quirk 5: zone of naive "Y-m-d H:i:s" strings. Our choice: Europe/Paris local time.
    naive_timezone: str = "Europe/Paris"
    # quirk 4: stop flag type: documented per endpoint, or always bool, or always "0"/"1".
    stop_flag_style: str = "documented"  # "documented" | "bool" | "string"
    # quirk 4: stop flag key: documented per endpoint (stopSms / stopSMS) or one spelling.
    stop_flag_key: str = "documented"  # "documented" | "stopSms" | "stopSMS"
    # quirk 17: /message-status "number" national (DOC, SEED-004) or international (GO).
    message_status_number: str = "national"  # "national" | "international"
    # quirk 21: /me credit names creditSmsECO (DOC) or creditSmsLowCost + solde (GO).
    me_credit_names: str = "doc"  # "doc" | "go"
    # quirk 20: money as documented (balance/cost-resume strings, send/status floats),
    # or everything as strings, or everything as floats.
    decimal_style: str = "documented"  # "documented" | "strings" | "floats"
    # cost missing at first then appearing later: share of recipients in default plans,
    # and how the missing cost looks on /message-status.
    cost_delay_share: float = 0.15
    cost_missing_style: str = "absent"  # "absent" | "null" | "zero"
    # quirk 8: /multi-status also answers GET with the same JSON list (WEB).
    multi_status_get: bool = True
    # quirk 2: /stop-sms/add accepts "phoneNumbers" as well as "phoneNumber".
    stop_add_plural_param: bool = True
    # quirk 15: a number already in the stop list gives code 3 (WEB) or is idempotent.
    stop_add_duplicate: str = "error"  # "error" | "idempotent"
    # Our choice, for compliance tests: a send to a number on the STOP list is refused (code 14, the documented
    # behaviour) or goes out anyway ("deliver": a lapse on the provider's side, what a breach is; docs/simulator.md).
    send_to_stopped: str = "refuse"  # "refuse" | "deliver"
    # quirk 24: commercial night hold 20:00-08:00 weekdays, Sundays and holidays.
    commercial_night_hold: bool = False
    # quirk 24: sandbox messages are purged daily (lookups then give code 4).
    sandbox_purge: bool = True
    # §4: unresolved recipients end "Not delivered" after the 48 h validity (else Waiting forever).
    expire_after_validity: bool = True
    validity_hours: float = 48.0
    # §4: status of a cancelled message is undocumented; our choice.
    cancelled_status: str = "Not delivered"  # "Not delivered" | "Waiting" | "not_found"
    # quirk 23: /bulk-status-by-tag page size and meaning of "total".
    tag_page_size: int = 500
    tag_total_meaning: str = "items"  # "items" | "pages"
    # quirk 23: tag items as in 3.6 carry no message id (documented); True adds "messageId".
    tag_items_message_id: bool = False
    # §3.8: /statistics/cost-resume calls allowed per minute of simulated time (None: off).
    cost_resume_rate_limit: int | None = 5
    # quirk 19: /location/status "status" as free text (documented) or the numeric code.
    rental_status_numeric: bool = False
    # quirk 19: /location/file/download success envelope has no "code"; True adds code 200.
    rental_download_code: bool = False
    # GO testdata echoes scheduledDeliveryDate in the /send answer; DOC does not.
    send_echo_scheduled: bool = True
    # ACCOUNTS §3.1: group/add's success carries code 2 (documented); 200 makes it honest.
    group_add_code: int = 2
    # ACCOUNTS §3.2: group/list says success:false with no code (documented); True sends success:true, code 200.
    group_list_honest: bool = False
    # ACCOUNTS §2.2, §3.9: page sizes of subaccount/list and contact/list.
    subaccount_page_size: int = 20
    contact_page_size: int = 20
    # ACCOUNTS §6.13: a page past the end is empty (our answer) or repeats the last page ("last").
    page_past_end: str = "empty"  # "empty" | "last"
    # ACCOUNTS §3.9: contact/list "total" counts the whole group (our answer) or the rows of this page.
    contact_total_meaning: str = "group"  # "group" | "page"
    # ACCOUNTS §2.3: a removed sub-account's balance goes back to the parent (our answer) or is lost.
    subaccount_remove_refund: bool = True
    # ACCOUNTS §4: hlr/notify and lookup calls per 60 s of simulated time, per account (None: off).
    verification_rate_limit: int | None = 360
    # §3.10: stop-list chunk size (entries per write) for the streamed body.
    stream_chunk_entries: int = 2000

    def update(self, **changes: Any) -> None:
        """Set several fields at once, refusing unknown names (typos would silently no-op)."""
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise KeyError(f"unknown quirk {key!r}")
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
