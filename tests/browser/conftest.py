"""Browser tests: one headless Chromium per pytest process (per xdist worker), screenshots as test artifacts.

``browser``     Session fixture: the Selenium driver (harness/browser.py). Without Chromium, chromedriver or
                selenium the tests skip with the reason; under ``CI=true`` they fail instead.
``page``        The browser for one test, with every cookie and storage forgotten first; ``page.shot("label")``
                saves a full-page screenshot as ``<artifacts>/<test>-<label>.png``.
``downloads``   The directory the browser saves downloads into (emptied before each test).
``console_site`` Session fixture: the live console on the demo's database, a user per role
                (harness/console_site.py); seeding takes about half a minute, once per process.

Artifacts go to ``test-results/screenshots/`` (``SMSETL_SCREENSHOTS`` overrides), kept by make test and CI; a failed
test also leaves its last page there as ``failures/<test>.png`` and ``.html`` (docs/console.md, "Browser tests").
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.availability import unavailable
from harness.browser import forget_everything, missing, save_failure, screenshot, start_chromium
from harness.console_site import LiveConsole, live_console


def artifacts_dir(config: pytest.Config) -> Path:
    return Path(os.environ.get("SMSETL_SCREENSHOTS") or config.rootpath / "test-results" / "screenshots")


def artifact_name(item: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)[:120]


class Page:
    """The browser as one test sees it."""

    def __init__(self, driver: Any, shots: Path, name: str) -> None:
        self.driver = driver
        self._shots = shots
        self._name = name

    def shot(self, label: str) -> Path:
        return screenshot(self.driver, self._shots / f"{self._name}-{label}.png")


@pytest.fixture(scope="session")
def browser_downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(browser_downloads: Path) -> Iterator[Any]:
    reason = missing()
    if reason is not None:
        unavailable("Chromium", reason)
    try:
        driver = start_chromium(browser_downloads)
    except Exception as exc:  # noqa: BLE001 - selenium's errors say why; reported as the skip/fail reason
        unavailable("Chromium", f"could not start headless Chromium: {str(exc).splitlines()[0]}")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def console_site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    with live_console(tmp_path_factory.mktemp("console")) as site:
        yield site


@pytest.fixture
def downloads(browser_downloads: Path) -> Path:
    for entry in browser_downloads.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return browser_downloads


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Any) -> Page:
    forget_everything(browser)
    shots = artifacts_dir(request.config)
    name = artifact_name(request.node)
    for stale in (shots / "failures").glob(f"{name}.*"):
        stale.unlink()
    return Page(browser, shots, name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" and report.failed and "page" in getattr(item, "funcargs", {}):
        page: Page = item.funcargs["page"]  # type: ignore[attr-defined]
        try:
            saved = save_failure(page.driver, artifacts_dir(item.config) / "failures", artifact_name(item))
        except Exception as exc:  # noqa: BLE001 - a dead browser must not hide the test's own failure
            report.sections.append(("browser", f"could not save the failed page: {exc}"))
        else:
            report.sections.append(("browser", "the failed page: " + ", ".join(map(str, saved))))
    return report
