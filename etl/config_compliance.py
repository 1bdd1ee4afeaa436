"""``[compliance]``: the keyed hash of numbers and how long personal data is kept (docs/compliance.md)."""

from __future__ import annotations

from dataclasses import dataclass

from etl.durations import Duration
from etl.errors import ConfigError

__all__ = [
    "ComplianceConfig", "DEFAULT_BREACH_GRACE", "DEFAULT_STOP_REPLY_COOLOFF", "HASH_KEY_CREDENTIAL", "MIN_OPTOUT_AGE",
    "validate_compliance",
]

#: The systemd credential read when ``hash_key_env`` is unset and there is no ``hash_key_file``.
HASH_KEY_CREDENTIAL = "smspartner-etl-hash-key"
_DAY = 86400.0
#: CNIL practice keeps opt-outs at least 3 years; 1096 days covers a leap year (docs/compliance.md).
MIN_OPTOUT_AGE = 1096 * _DAY
#: One hour: a STOP recorded by SMS Partner reaches this tool at the next stop sync (hourly by default) or at
#: once by callback, and a campaign already queued on the provider's side may still leave (docs/compliance.md,
#: "Breaches").
DEFAULT_BREACH_GRACE = 3600.0
#: 30 days: a number that replied STOP is not put back on the audience the week after on a weak consent
#: (docs/compliance.md, "Removing an opt-out").
DEFAULT_STOP_REPLY_COOLOFF = 30 * _DAY


@dataclass(frozen=True)
class ComplianceConfig:
    """The hash key's sources (never its value) and the retention ages (docs/compliance.md)."""

    #: Environment variable holding the HMAC key that hashes numbers (``""``: not read from the environment).
    hash_key_env: str = "SMSPARTNER_ETL_HASH_KEY"
    #: A file holding the key (chmod 600), read when the environment variable is unset.
    hash_key_file: str = ""
    #: Fail ``filter-audience`` when no key is configured, instead of recording counts without hashes.
    require_hash_key: bool = False
    #: Reply texts (``replies``) and raw callback bodies (``push_inbox``) are purged after this age.
    reply_text_age: Duration = 90 * _DAY
    #: Numbers of rentals no longer followed are purged this long after the rental was dropped (docs/retention.md).
    rental_numbers_age: Duration = 90 * _DAY
    #: Closed opt-out periods keep their readable number this long, then only a keyed hash (≥ 3 years).
    optout_age: Duration = MIN_OPTOUT_AGE
    #: Rows per delete/update statement in the retention job (bounded transactions and memory).
    batch_size: int = 5000
    #: A send this long after the opt-out's time is a breach; earlier ones are the propagation delay.
    breach_grace: Duration = DEFAULT_BREACH_GRACE
    #: The actions job adds the number of each reply flagged as a STOP intent to the account's stop list
    #: (audited, actor ``reply-intent``; docs/compliance.md, "STOP intent in replies"). Off: they are only listed.
    reply_intent_adds_stop: bool = False
    #: A stop that came from a STOP reply (callback or reply intent) is not removed this soon after the STOP
    #: without ``stops remove --override`` (audited; docs/compliance.md, "Removing an opt-out"). ``0``: no cool-off.
    stop_reply_cooloff: Duration = DEFAULT_STOP_REPLY_COOLOFF


def validate_compliance(compliance: ComplianceConfig) -> None:
    if compliance.optout_age < MIN_OPTOUT_AGE:
        raise ConfigError("compliance.optout_age: opt-outs are kept at least 3 years (1096d); set 1096d or more")
    for name in ("reply_text_age", "rental_numbers_age"):
        if getattr(compliance, name) <= 0:
            raise ConfigError(f"compliance.{name}: must be greater than 0")
    if not 1 <= compliance.batch_size <= 100_000:
        raise ConfigError("compliance.batch_size: must be between 1 and 100000")
