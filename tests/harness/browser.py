"""Headless Chromium from Debian's packages, driven by Selenium: what tests/browser needs, usable outside pytest.

``/usr/bin/chromium`` through ``/usr/bin/chromedriver`` (both from apt, scripts/deps-browser.sh): Selenium is given
the driver's path, so it never looks for or downloads a browser of its own. One browser per pytest process.
"""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1280, 900)

# Root in CI: no sandbox. /dev/shm may be small in containers. The rest keeps one browser small and quiet on a
# shared 2-core box: no background work, few renderer processes, a capped JavaScript heap.
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--mute-audio",
    "--renderer-process-limit=2",
    "--js-flags=--max-old-space-size=128",
    "--lang=en-US",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("selenium") is None:
        return "the selenium package is not installed (make venv)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing (apt-get install {package}; make deps-test does it as root)"
    return None


def start_chromium(downloads: Path) -> Any:
    """A headless Chromium saving downloads into ``downloads`` without asking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def forget_everything(driver: Any) -> None:
    """Cookies and storage of every origin gone (cookies ignore ports: two test servers on 127.0.0.1 share them)."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
    driver.get("about:blank")


def screenshot(driver: Any, path: Path) -> Path:
    """The whole page (beyond the window's height) as a PNG at ``path``."""
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def save_failure(driver: Any, directory: Path, name: str) -> list[Path]:
    """A failed test's last page: ``<name>.png`` and ``<name>.html`` (its source) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / f"{name}.html"
    source.write_text(f"<!-- {driver.current_url} -->\n{driver.page_source}", encoding="utf-8")
    return [screenshot(driver, directory / f"{name}.png"), source]
