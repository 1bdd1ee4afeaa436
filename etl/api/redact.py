"""Secrets out of API text: `redact(text, secrets)` masks each secret in every form an API may write it.

Why: an API may quote the caller's key back in an error or a message ("Clé API abc123... invalide", issue 16),
URL-encoded when it echoes the request line, or upper-cased; `requests` quotes whole URLs, ``apiKey=`` included.
The client (`etl.api.client`) passes every text it receives through this module where that text enters the
program, so no later path (run rows, audit rows, command output, logs) has to remember to.

Masked, case-insensitively: the secret itself, its URL-encoded forms (``quote`` with and without ``/`` safe,
``quote_plus``), its JSON form with ``\\/`` for ``/`` (PHP's ``json_encode`` default), and the value of any
``apiKey=`` query parameter, whatever it is (a wrong or old key is still a key). A secret shorter than
`MIN_SECRET_LENGTH` is not searched for: masking "ab" everywhere would destroy the text and protect nothing.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "MIN_SECRET_LENGTH", "SecretBook", "masker", "redact"]

MASK = "***"

MIN_SECRET_LENGTH = 6
"""Shorter secrets are ignored (a real SMS Partner key is 40 characters)."""

# The value of an apiKey query parameter (the request line an API or a library echoes), up to the next separator.
_QUERY_KEY = r"(?<=apiKey=)[^&\s\"'<>]+"


def _forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` to look for (case is handled by the pattern)."""
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe="/"),
        secret.replace("/", "\\/"),
    }


@functools.lru_cache(maxsize=16)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    forms = {form for secret in secrets if len(secret) >= MIN_SECRET_LENGTH for form in _forms(secret)}
    # Longest first, so a URL-encoded form is masked whole rather than around a shorter match.
    alternatives = [re.escape(form) for form in sorted(forms, key=lambda f: (-len(f), f))]
    return re.compile("|".join([*alternatives, _QUERY_KEY]), re.IGNORECASE)


def masker(secrets: Iterable[str]) -> Callable[[str], str]:
    """``redact`` with its secrets bound: for a caller masking many strings with the same secrets."""
    pattern = _pattern(tuple(sorted({s for s in secrets if s})))

    def mask(text: str) -> str:
        return pattern.sub(MASK, text) if text else text

    return mask


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of each secret, and any ``apiKey=`` value, replaced by `MASK`."""
    return masker(secrets)(text)


class SecretBook:
    """The secrets a client masks, growing as it learns sub-account keys (issue 17): one book may be shared by
    the clients of every account, so no client's text carries another account's key either.

    Thread-safe; ``mask`` always uses every secret added so far.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._mask: Callable[[str], str] = masker(())
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Learn ``secrets`` (empty strings ignored); the masker is rebuilt only when one is new."""
        new = {s for s in secrets if s} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            self._mask = masker(self._secrets)

    def __contains__(self, secret: object) -> bool:
        return secret in self._secrets

    def __len__(self) -> int:
        return len(self._secrets)

    def mask(self, text: str) -> str:
        """``text`` with every known secret (and any ``apiKey=`` value) replaced by `MASK`."""
        return self._mask(text)
