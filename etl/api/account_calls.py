"""`AccountCalls`: the sub-account, contact-group and contact calls of `SmsPartnerClient` (docs/accounts.md).

Why a module of its own: these calls page differently from the rest (20 a page, totals that may count the
group or the page, pages past the end that are empty or repeat) and they carry sub-account keys in clear,
which the client must learn as secrets the moment it reads them. The HTTP, retries and masking stay in
`etl.api.client`; this class only needs its ``_call`` and ``learn_secrets``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from etl.api import parse
from etl.api.parse import Contact, ContactGroups, CreditMove, NewSubAccount, SubAccount, Unreadable, WriteResult
from etl.errors import PayloadError
from etl.secrets import Secret

MAX_PAGES = 10_000
"""A listing longer than this is a server that never ends its pages, not an account (200,000 rows)."""

SUBACCOUNT_TYPES = ("simple", "advanced")


class AccountCalls:
    """Mixed into `SmsPartnerClient`, which provides ``_call`` and ``learn_secrets``."""

    def _call(self, method: str, endpoint: str, params: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        raise NotImplementedError

    def learn_secrets(self, secrets: Iterable[Secret]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ reads
    def iter_subaccounts(self) -> Iterator[SubAccount | Unreadable]:
        """``GET /subaccount/list``, page 1 to ceil(``total``/``nb_per_page``); each page's unreadable items
        follow its others. Every key read is learnt as a secret before its sub-account is yielded.

        The sort order and what a page past the end returns are undocumented (ACCOUNTS §2.2), so the loop
        also ends on an empty or short page and on a page whose tokens were all read already (a server
        that repeats its last page).
        """
        endpoint = "subaccount/list"
        tokens: set[str] = set()
        for number in range(1, MAX_PAGES + 1):
            page = parse.parse_subaccount_page(self._call("GET", endpoint, {"page": number}), endpoint)
            self.learn_secrets(s.api_key for s in page.items)
            fresh = [s for s in page.items if s.token not in tokens]
            if page.items and not fresh:
                return
            tokens.update(s.token for s in fresh)
            yield from fresh
            yield from page.unreadable
            size = len(page.items) + len(page.unreadable)
            if size == 0 or size < page.per_page:
                return
            if page.total is not None and number * page.per_page >= page.total:
                return
        raise PayloadError(f"more than {MAX_PAGES} pages", endpoint=endpoint, field="page")

    def group_list(self) -> ContactGroups:
        """``GET /group/list``: every group, not paged; its documented ``success: false`` is a success
        (`etl.api.parse.PAYLOAD_SUCCESS`)."""
        return parse.parse_group_list(self._call("GET", "group/list"))

    def iter_group_contacts(self, group_id: str) -> Iterator[Contact | Unreadable]:
        """``GET /contact/list`` of one group, page after page, until an empty or short (< 20) page.

        ``total`` is a string whose meaning is undocumented (the group or the page, ACCOUNTS §3.9), so it
        never ends the loop; a page whose contacts were all read already (a server repeating its last page)
        does. The caller treats the listing as complete only when this returns normally.
        """
        endpoint = "contact/list"
        ids: set[str] = set()
        for number in range(1, MAX_PAGES + 1):
            page = parse.parse_contact_page(self._call("GET", endpoint, {"groupId": str(group_id), "page": number}), endpoint)
            fresh = [c for c in page.items if c.contact_id not in ids]
            if page.items and not fresh:
                return
            ids.update(c.contact_id for c in fresh)
            yield from fresh
            yield from page.unreadable
            size = len(page.items) + len(page.unreadable)
            if size < parse.CONTACT_PAGE_SIZE:
                return
        raise PayloadError(f"more than {MAX_PAGES} pages", endpoint=endpoint, field="page")

    def contact_detail(self, contact_id: str) -> Contact:
        """``GET /contact/detail``: one contact with its ``groupId``. Unknown: `NotFound` (code 404)."""
        return parse.parse_contact_detail(self._call("GET", "contact/detail", {"contactId": str(contact_id)}))

    # ------------------------------------------------------------------------------------------ writes
    def subaccount_create(
        self,
        email: str,
        type: str = "simple",  # noqa: A002 - the API's name for it
        *,
        credit: Decimal | None = None,
        is_buyer: bool | None = None,
        title: str | None = None,
    ) -> NewSubAccount:
        """``POST /subaccount/create``: only the e-mail and the token come back (ACCOUNTS §2.1); the key is
        read from the list (`iter_subaccounts`). ``type`` is permanent. May raise `UnknownOutcome`."""
        if type not in SUBACCOUNT_TYPES:
            raise ValueError(f"type must be one of {SUBACCOUNT_TYPES}, got {type!r}")
        parameters: dict[str, Any] = {"email": email}
        if credit is not None:
            parameters["creditToAttribute"] = _euros(credit)
        if is_buyer is not None or type == "advanced":
            parameters["isBuyer"] = 1 if is_buyer else 0
        if title:
            parameters["title"] = title
        payload = self._call("POST", "subaccount/create", {"type": type, "parameters": parameters})
        return parse.parse_subaccount_created(payload)

    def subaccount_remove(self, token: str, *, method: str = "DELETE") -> WriteResult:
        """``DELETE /subaccount/remove`` with a JSON body (``method="POST"`` for a server refusing DELETE
        bodies, ACCOUNTS §6.3). Unknown token: `NotFound`. May raise `UnknownOutcome`."""
        return parse.parse_write(self._call(method, "subaccount/remove", {"token": token}), "subaccount/remove")

    def credit_add(self, token: str, credit: Decimal) -> CreditMove:
        """``POST /subaccount/credit/add``: ``credit`` euros from the parent to the sub-account ``token``.
        May raise `UnknownOutcome`: then read both balances back (``me`` and `iter_subaccounts`)."""
        endpoint = "subaccount/credit/add"
        return parse.parse_credit_move(self._call("POST", endpoint, {"credit": _euros(credit), "tokenSubaccount": token}), endpoint)

    def credit_remove(self, token: str, credit: Decimal) -> CreditMove:
        """``POST /subaccount/credit/remove``: ``credit`` euros from the sub-account back to the parent."""
        endpoint = "subaccount/credit/remove"
        return parse.parse_credit_move(self._call("POST", endpoint, {"credit": _euros(credit), "tokenSubaccount": token}), endpoint)


def _euros(amount: Decimal) -> str:
    """An amount as the decimal string most samples send (ACCOUNTS §2.4); refused here when not > 0."""
    value = Decimal(amount)
    if not value.is_finite() or value <= 0:
        raise ValueError(f"an amount must be > 0, got {amount!r}")
    return format(value.normalize(), "f")
