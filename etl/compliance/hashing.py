"""The keyed hash of a phone number: HMAC-SHA256 of its E.164 string (docs/compliance.md, "Keyed hash").

Rows store the hash and the key id (first 8 hex of SHA-256 of the key) so that a hash made with
another key is recognised as such. The key itself is held in a `Secret` and never stored or printed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from etl.config_compliance import HASH_KEY_CREDENTIAL, ComplianceConfig
from etl.errors import ConfigError
from etl.secrets import Secret, read_secret

__all__ = ["HASH_LENGTH", "KEY_ID_LENGTH", "NumberHasher", "key_id_of", "load_hasher", "optional_hasher"]

HASH_LENGTH = 64
KEY_ID_LENGTH = 8


def key_id_of(key: Secret) -> str:
    """First 8 hex of SHA-256 of the key: names the key in rows without revealing it."""
    return hashlib.sha256(key.reveal().encode("utf-8")).hexdigest()[:KEY_ID_LENGTH]


@dataclass(frozen=True)
class NumberHasher:
    """Hashes E.164 strings with one key; ``repr`` shows the key id only."""

    key: Secret
    key_id: str

    @classmethod
    def from_key(cls, key: Secret) -> NumberHasher:
        return cls(key=key, key_id=key_id_of(key))

    def hash(self, e164: str) -> str:
        """Lowercase hex HMAC-SHA256(key, UTF-8 E.164 with its ``+``)."""
        return hmac.new(self.key.reveal().encode("utf-8"), e164.encode("utf-8"), hashlib.sha256).hexdigest()

    def hash_many(self, numbers: Iterable[str]) -> list[str]:
        """`hash` of each E.164 string, in order."""
        return self._hash_bytes(number.encode("utf-8") for number in numbers)

    def hash_digits(self, numbers: Iterable[int]) -> list[str]:
        """`hash` of each number given as its E.164 digits (``33612345678`` hashes as ``"+33612345678"``)."""
        return self._hash_bytes(b"+%d" % number for number in numbers)

    def _hash_bytes(self, messages: Iterable[bytes]) -> list[str]:
        # HMAC by its definition (RFC 2104: H(K ^ opad || H(K ^ ipad || m))), the two padded-key states
        # computed once and copied per number: two hashlib copies cost half of one hmac.copy(), which
        # copies them too and adds its Python layer (docs/benchmarks.md, "Filter runs recorded").
        inner, outer = _padded_states(self.key.reveal().encode("utf-8"))
        inner_copy, outer_copy = inner.copy, outer.copy
        out: list[str] = []
        append = out.append
        for message in messages:
            step = inner_copy()
            step.update(message)
            mac = outer_copy()
            mac.update(step.digest())
            append(mac.hexdigest())
        return out


def _padded_states(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states after absorbing the key XOR ipad and XOR opad (a key longer than a block is hashed first)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key))


def _read_key(compliance: ComplianceConfig, environ: Mapping[str, str]) -> Secret:
    return read_secret(
        environ, env_name=compliance.hash_key_env, key_file=compliance.hash_key_file,
        credential=HASH_KEY_CREDENTIAL, setting="compliance.hash", file_key="hash_key_file",
    )


def load_hasher(
    compliance: ComplianceConfig, environ: Mapping[str, str] | None = None, *, purpose: str = ""
) -> NumberHasher:
    """The hasher, or one `ConfigError` sentence naming what needs it and every place the key may come from."""
    try:
        return NumberHasher.from_key(_read_key(compliance, os.environ if environ is None else environ))
    except ConfigError as exc:
        if not purpose:
            raise
        raise ConfigError(f"{purpose} needs the hash key: {exc}") from None


def optional_hasher(compliance: ComplianceConfig, environ: Mapping[str, str] | None = None) -> NumberHasher | None:
    """The hasher when a key is configured, else None; a key file that is set but unreadable still fails."""
    env = os.environ if environ is None else environ
    if compliance.hash_key_file:
        return load_hasher(compliance, env)
    try:
        return load_hasher(compliance, env)
    except ConfigError:
        return None
