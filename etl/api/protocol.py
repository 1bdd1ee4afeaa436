"""`ApiClient`: what the jobs, the runner and the write operations call on the API client.

`etl.api.client.SmsPartnerClient` is the implementation; the daemon's client factory is typed with
this protocol, so mypy checks the two agree. Tests may pass any object with these methods (a
wrapper that repeats or reorders a page, a client that moves a clock). Only the calls a job makes
are here: the CLI's own calls (``send``, the typed readers of the demo) stay on the class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Protocol, TypeVar

from etl.api.budget import CallBudget
from etl.api.lists import ListSpec, Shaper
from etl.api.parse import (
    Account,
    Contact,
    ContactGroups,
    CreditMove,
    MessageStatus,
    MonthlyCosts,
    NewSubAccount,
    RentalStatus,
    StatusItem,
    StatusItems,
    Stop,
    SubAccount,
    Unreadable,
    WriteResult,
)
from etl.api.retry import RetryBudget
from etl.config import Secret

_R = TypeVar("_R")


class ApiClient(Protocol):
    """The SMS Partner API as the jobs see it (docs/api-reference.md for each endpoint)."""

    @property
    def secret(self) -> Secret:
        """The API key, masked in ``repr``/``str``: the runner removes it from every text it stores."""
        ...

    def use_budget(self, budget: CallBudget) -> None:
        """Ask ``budget`` (shared by every instance) before each call from now on."""
        ...

    def retry_budget(self) -> RetryBudget:
        """A fresh budget of retries, shared by the restarts of one download."""
        ...

    def close(self) -> None: ...

    # Account and cost (finance)
    def me(self) -> Account: ...

    def cost_resume(
        self, interval: str = ..., date_from: date | None = ..., date_to: date | None = ...
    ) -> MonthlyCosts: ...

    # Big lists (stops, rentals): one streaming reader, the caller shapes the runs (etl.api.lists)
    def stream_list(self, spec: ListSpec, shaper: Shaper[_R], *, budget: RetryBudget | None = ...) -> Iterator[_R]:
        """``shape(run)`` per run of raw items of ``spec``'s list; errors mid-stream are the caller's to restart."""
        ...

    # Stop list (actions)
    def find_stop_by_phone(self, phone: str) -> Stop | None: ...

    def stop_exists(self, stop_id: int) -> bool: ...

    # Writes (actions): each call is made once; `UnknownOutcome` when it may have reached the server
    def add_stop(self, phone_e164: str) -> WriteResult: ...

    def delete_stop(self, stop_id: int) -> WriteResult: ...

    def cancel_message(self, message_id: str) -> WriteResult: ...

    # Delivery statuses (statuses, actions)
    def message_status(self, message_id: str, phone: str) -> MessageStatus: ...

    def multi_status(self, pairs: Sequence[tuple[str, str]]) -> StatusItems: ...

    def bulk_status(self, message_id: str) -> StatusItems: ...

    def iter_bulk_status_by_tag(self, tag: str) -> Iterator[StatusItem | Unreadable]: ...

    # Rented numbers (rentals)
    def rental_status(self, token: str) -> RentalStatus: ...

    # Sub-accounts, contact groups and contacts (accounts, contacts; docs/accounts.md)
    def learn_secrets(self, secrets: Iterable[Secret]) -> None:
        """Mask these keys too in every text the client hands out (sub-account keys)."""
        ...

    def iter_subaccounts(self) -> Iterator[SubAccount | Unreadable]:
        """Every sub-account, page by page; each key read is learnt as a secret first."""
        ...

    def group_list(self) -> ContactGroups: ...

    def iter_group_contacts(self, group_id: str) -> Iterator[Contact | Unreadable]:
        """A group's contacts; complete only when the iteration ends without an error."""
        ...

    def contact_detail(self, contact_id: str) -> Contact: ...

    def subaccount_create(
        self,
        email: str,
        type: str = ...,  # noqa: A002 - the API's name for it
        *,
        credit: Decimal | None = ...,
        is_buyer: bool | None = ...,
        title: str | None = ...,
    ) -> NewSubAccount: ...

    def subaccount_remove(self, token: str, *, method: str = ...) -> WriteResult: ...

    def credit_add(self, token: str, credit: Decimal) -> CreditMove: ...

    def credit_remove(self, token: str, credit: Decimal) -> CreditMove: ...
