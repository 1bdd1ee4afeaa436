"""SMS Partner answers → frozen records. Pure: no I/O, no clock, no `requests`.

Every function takes the *decoded* JSON (``json.loads(..., parse_float=Decimal)`` or an ``ijson`` item)
and returns a frozen dataclass, tolerating each documented quirk (numbers refer to
``shared/api/REFERENCE.md`` §6). Anything that does not have the documented shape raises
`PayloadError` naming the endpoint and the field; it is never silently dropped or guessed.

Decisions taken here, and why:

* **Time zone.** The API writes local times as ``"Y-m-d H:i:s"`` with no zone (quirk 5). The provider
  is French, its servers and dashboard are in France and PHP's ``date()`` formats in the server's
  zone, so we read those as **Europe/Paris** (DST-aware, first occurrence in the autumn overlap) and
  convert to UTC. Epoch seconds (string or int) are unambiguous UTC. Every datetime returned is
  aware and in UTC.
* **Money.** JSON is decoded with ``parse_float=Decimal`` so ``0.045`` never passes through a binary
  float; a float handed in anyway goes through ``Decimal(str(x))``. Strings (``"10225.119"``,
  quirk 20) are parsed as decimals. An amount is taken exactly or not at all: NaN, infinities,
  a negative cost, more than `MONEY_DECIMALS` decimals or `MONEY_INTEGER_DIGITS` integer digits
  (what the database stores exactly, ``etl.db.types.Money``) are refused, never rounded.
* **Codes.** A currency is three letters A-Z (ISO 4217), a country two (ISO 3166-1 alpha-2);
  anything else is refused, never cut to fit.
* **Item by item.** A list answer is read one item at a time: an item that cannot be read becomes
  an `Unreadable` beside the good ones (`StatusItems.unreadable`), which the job quarantines
  (``etl.quarantine``); it never fails its answer. A one-item answer (``/message-status``) that
  cannot be read raises `UnreadableItem`, which carries the item for the quarantine.
* **Ids.** Message ids are always ``str`` (int here, str there, UUID for long numbers: quirk 6);
  stop ids are always ``int``; rental ids are ``str`` (the example shows them truncated, quirk 18).
* **Phones.** The raw text is kept; ``phone_e164`` is `etl.phones.canonicalize` (any parseable number,
  ``None`` only when unparseable) so a stop is never dropped for a number the metadata dislikes.
* **Error codes are per endpoint** (quirk 15): 1 and 10 are always `AuthError`; the "not found"
  codes depend on the endpoint (`NOT_FOUND_CODES`); anything else is `ApiRejected`.
* **Per-item failures** (quirk 12): a multi-status item ``{success: false, code: 4, status:
  "Numéro introuvable"}`` becomes ``ok=False, status=None, error="Numéro introuvable"``; the text
  never becomes a delivery status.

One module per concern, each importing only those above it:

* `values`: value readers (ids, integers, text, booleans, money, codes, dates), each naming the
  endpoint and field in its `PayloadError`;
* `envelope`: success or the mapped error, and the provider's error text;
* `unreadable`: `Unreadable`, an item of a list answer kept for the quarantine;
* `statuses` (and `is_final`), `costs`, `stops`, `rentals`, `account`, `writes`, `accounts`
  (sub-accounts), `contacts` (groups and contacts): the records of one endpoint family and their parsers
  (record field names are a contract with the job authors).

Import the records and parsers from here (``from etl.api.parse import Stop``); the modules are the
package's layout, not its interface.
"""


from etl.api.parse.account import Account, parse_account
from etl.api.parse.accounts import (
    SUBACCOUNT_PAGE_SIZE,
    CreditMove,
    NewSubAccount,
    SubAccount,
    SubAccountPage,
    parse_credit_move,
    parse_subaccount_created,
    parse_subaccount_item,
    parse_subaccount_page,
)
from etl.api.parse.contacts import (
    CONTACT_PAGE_SIZE,
    Contact,
    ContactGroup,
    ContactGroups,
    ContactPage,
    parse_contact_detail,
    parse_contact_item,
    parse_contact_page,
    parse_group_item,
    parse_group_list,
)
from etl.api.parse.costs import MonthlyCost, MonthlyCosts, parse_cost_resume
from etl.api.parse.envelope import AUTH_CODES, AUTH_CODES_BY_ENDPOINT, NOT_FOUND_CODES, PAYLOAD_SUCCESS, check_envelope, error_text
from etl.api.parse.rentals import (
    RentalCost,
    RentalNumber,
    RentalStatus,
    parse_rental_cost,
    parse_rental_file,
    parse_rental_item,
    parse_rental_status,
)
from etl.api.parse.statuses import (
    MessageStatus,
    StatusItem,
    StatusItems,
    is_final,
    parse_bulk_status,
    parse_message_status,
    parse_multi_status,
    parse_status_page,
)
from etl.api.parse.stops import Stop, parse_stop_item, parse_stop_list
from etl.api.parse.unreadable import Unreadable
from etl.api.parse.values import API_TIMEZONE, MONEY_DECIMALS, MONEY_INTEGER_DIGITS, parse_datetime
from etl.api.parse.writes import SendResult, WriteResult, parse_send, parse_write

__all__ = [
    "API_TIMEZONE",
    "AUTH_CODES",
    "AUTH_CODES_BY_ENDPOINT",
    "CONTACT_PAGE_SIZE",
    "Contact",
    "ContactGroup",
    "ContactGroups",
    "ContactPage",
    "CreditMove",
    "NewSubAccount",
    "PAYLOAD_SUCCESS",
    "SUBACCOUNT_PAGE_SIZE",
    "SubAccount",
    "SubAccountPage",
    "parse_contact_detail",
    "parse_contact_item",
    "parse_contact_page",
    "parse_credit_move",
    "parse_group_item",
    "parse_group_list",
    "parse_subaccount_created",
    "parse_subaccount_item",
    "parse_subaccount_page",
    "MONEY_DECIMALS",
    "MONEY_INTEGER_DIGITS",
    "NOT_FOUND_CODES",
    "Account",
    "MessageStatus",
    "MonthlyCost",
    "MonthlyCosts",
    "RentalNumber",
    "RentalStatus",
    "RentalCost",
    "parse_rental_cost",
    "SendResult",
    "StatusItem",
    "StatusItems",
    "Stop",
    "Unreadable",
    "WriteResult",
    "check_envelope",
    "error_text",
    "is_final",
    "parse_account",
    "parse_bulk_status",
    "parse_cost_resume",
    "parse_datetime",
    "parse_message_status",
    "parse_multi_status",
    "parse_rental_item",
    "parse_rental_status",
    "parse_send",
    "parse_status_page",
    "parse_stop_item",
    "parse_stop_list",
    "parse_rental_file",
    "parse_write",
]
