"""The SMS Partner API: pure parsing (`parse`), the retry policy (`retry`) and the client (`client`).

Job authors import from here::

    from etl.api import SmsPartnerClient, Stop, StatusItem, MessageStatus, is_final
"""

from etl.api.client import MULTI_STATUS_LIMIT, Observer, SmsPartnerClient
from etl.api.parse import (
    Account,
    MessageStatus,
    MonthlyCost,
    RentalNumber,
    RentalStatus,
    SendResult,
    StatusItem,
    Stop,
    WriteResult,
    is_final,
)
from etl.api.retry import RetryPolicy

__all__ = [
    "MULTI_STATUS_LIMIT",
    "Account",
    "MessageStatus",
    "MonthlyCost",
    "Observer",
    "RentalNumber",
    "RentalStatus",
    "RetryPolicy",
    "SendResult",
    "SmsPartnerClient",
    "StatusItem",
    "Stop",
    "WriteResult",
    "is_final",
]
