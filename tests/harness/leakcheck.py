"""pytest plugin: fail any test whose captured logs or output contain the test API key or a sub-account key.

The simulator fixture runs with ``TEST_API_KEY``; the client must never write it to a log (``requests`` errors quote
the full URL, ``apiKey=`` included). This plugin turns a leak into a test failure wherever it happens:

- During each test the ``etl`` logger is set to DEBUG, so that our own debug records reach pytest's log capture too
  (the root logger stays at WARNING, so a third-party DEBUG line, e.g. urllib3's request line with the query string,
  is only seen when a test or ``--log-level=DEBUG`` turns it on; then it counts as a leak as well).
- After each phase (setup, call, teardown), ``pytest_runtest_makereport`` searches that phase's captured sections
  ("Captured log", "Captured stdout", "Captured stderr"; threads included) and fails the report when the key is there.

The compliance hash key (``TEST_HASH_KEY``, issue 18) is searched the same way: a hash may be shown, its key never.

Sub-account keys (``sim-sub-<hex>``, issue 17) are searched by pattern (`SUBACCOUNT_KEY_PATTERN`): every key the
simulator makes, whichever sub-account and test made it.

Limits: with ``-s`` stdout/stderr are not captured, so only logs are checked; output a test reads itself through
``capsys``/``capfd`` is consumed by that test and not re-checked. A test that must handle the raw key in its output
(a test of this plugin, say) opts out with ``@pytest.mark.key_may_leak``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator

import pytest

from . import SUBACCOUNT_KEY_PATTERN, TEST_API_KEY, TEST_HASH_KEY

DEBUG_LOGGERS = ("etl",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "key_may_leak: exempt this test from the API-key leak check")


@pytest.fixture(autouse=True)
def _etl_logs_at_debug_for_leak_check() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in DEBUG_LOGGERS]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield
    for lg, level in zip(loggers, saved):
        lg.setLevel(level)


def leaked_sections(report: pytest.TestReport, secret: str = TEST_API_KEY) -> list[str]:
    """Titles of this phase's captured sections that contain ``secret`` or a sub-account key."""
    suffix = f" {report.when}"
    return [
        title
        for title, content in report.sections
        if title.endswith(suffix)
        and (secret in content or TEST_HASH_KEY in content or SUBACCOUNT_KEY_PATTERN.search(content))
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if item.get_closest_marker("key_may_leak") is not None:
        return report
    leaks = leaked_sections(report)
    if not leaks:
        return report
    message = f"the test API key, hash key or a sub-account key leaked into: {', '.join(leaks)} (see tests/harness/leakcheck.py)"
    if report.failed:
        report.sections.append(("API key leak", message))
    else:
        report.outcome = "failed"
        report.longrepr = message
    return report
