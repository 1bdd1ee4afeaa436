"""Skip or fail for want of something a test needs: skip locally, fail under ``CI=true`` (CI cannot go green by
skipping). Used for the database servers (tests/conftest.py) and the browser (tests/browser)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(label: str, reason: str) -> NoReturn:
    message = f"{label} unavailable: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: failing instead of skipping)", pytrace=False)
    pytest.skip(message)
