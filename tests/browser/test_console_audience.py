"""A marketing user checks a campaign file in the console, in Chromium: upload, wait for the run, download the
allowed and blocked files, and every row lands where the stop list says (harness/console_site.py's database)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from harness.console_site import LiveConsole
from selenium.webdriver.common.by import By
from sqlalchemy import text

from etl.phones import canonicalize

from .console_ui import sign_in, wait_for

#: Numbers the demo never stops (checked against the database first).
CLEAN = ("+33655010203", "+33655010204", "+33655010205", "+33655010206")
OPTED_OUT = ("SELECT phone_e164 FROM current_stops UNION SELECT phone_e164 FROM contact_stops "
             "UNION SELECT phone_e164 FROM rental_stops_current")


def spaced(e164: str) -> str:
    national = "0" + e164[3:]
    return " ".join(national[i:i + 2] for i in range(0, 10, 2))


def campaign(stopped: list[str]) -> tuple[str, dict[str, str | None]]:
    """The file's text and each row's expected fate by name: None allowed, else the blocked reason."""
    rows = [
        ("stop spaced +33", "+33 " + spaced(stopped[0])[1:], "stop_list"),
        ("stop dots", spaced(stopped[1]).replace(" ", "."), "stop_list"),
        ("stop 0033", "0033" + stopped[2][3:], "stop_list"),
        ("ok +33", "+33 6 55 01 02 03", None),
        ("ok 0033", "0033 655 010 204", None),
        ("ok 06", spaced(CLEAN[2]), None),
        ("ok dots", spaced(CLEAN[3]).replace(" ", "."), None),
        ("again +33", CLEAN[0], "duplicate"),
        ("junk word", "hello", "invalid"),
        ("junk short", "06 12 34", "invalid"),
        ("junk empty", "", "invalid"),
    ]
    body = "name;phone\n" + "".join(f"{name};{phone}\n" for name, phone, _ in rows)
    return body, {name: fate for name, _, fate in rows}


def downloaded(directory: Path, suffix: str, seconds: float = 20) -> Path:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = [p for p in directory.glob(f"*{suffix}") if not p.name.endswith(".crdownload")]
        if done and not list(directory.glob("*.crdownload")):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no *{suffix} in {sorted(p.name for p in directory.iterdir())}")


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def test_a_marketing_user_uploads_messy_numbers_and_downloads_files_that_follow_the_stop_list(
    page: Any, console_site: LiveConsole, downloads: Path, tmp_path: Path,
) -> None:
    with console_site.engine.connect() as conn:
        opted_out = {str(p) for (p,) in conn.execute(text(OPTED_OUT)) if p}
        stopped = [str(p) for (p,) in conn.execute(text(
            "SELECT phone_e164 FROM current_stops WHERE phone_e164 LIKE '+336%' ORDER BY phone_e164 LIMIT 3"))]
    assert len(stopped) == 3 and not opted_out & set(CLEAN)
    body, fate = campaign(stopped)
    upload = tmp_path / "campaign-january.csv"
    upload.write_text(body, encoding="utf-8")

    driver = page.driver
    sign_in(driver, console_site, "marketing")
    driver.find_element(By.LINK_TEXT, "Audience check").click()
    form = wait_for(driver, "form#audience-upload")
    form.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(upload))
    page.shot("audience-form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(driver, '#run-status[data-status="done"]', seconds=60)
    assert driver.find_element(By.ID, "count-allowed").text == "4"
    assert driver.find_element(By.ID, "count-blocked").text == "7"
    page.shot("audience-run")

    driver.find_element(By.ID, "download-allowed").click()
    allowed = rows_of(downloaded(downloads, "-allowed.csv"))
    driver.find_element(By.ID, "download-blocked").click()
    blocked = rows_of(downloaded(downloads, "-blocked.csv"))
    driver.find_element(By.ID, "download-report").click()
    downloaded(downloads, "-report.json")

    assert {r["name"]: None for r in allowed} | {r["name"]: r["reason"] for r in blocked} == fate
    assert all(canonicalize(r["phone"], "FR") not in opted_out for r in allowed), "nobody opted out is allowed"
    assert {canonicalize(r["phone"], "FR") for r in blocked if r["reason"] == "stop_list"} == set(stopped)
    assert [r["phone"] for r in allowed] == [line.split(";")[1] for line in body.splitlines() if line.startswith("ok ")], \
        "allowed rows as they were typed"


#: Records the progress bar's every change into sessionStorage, which outlives the navigation to the run page.
WATCH_PROGRESS = """
sessionStorage.setItem("progress", "[]");
var bar = document.getElementById("upload-progress");
new MutationObserver(function () {
  var seen = JSON.parse(sessionStorage.getItem("progress"));
  seen.push([bar.hidden, Number(bar.value), Number(bar.max), document.getElementById("upload-status").textContent]);
  sessionStorage.setItem("progress", JSON.stringify(seen));
}).observe(bar, {attributes: true});
"""


def big_campaign(path: Path, rows: int) -> int:
    """A campaign file of ``rows`` distinct mobiles (several MiB); its size in bytes."""
    path.write_text("name;phone\n" + "".join(f"row {i};+3375{i:07d}\n" for i in range(rows)), encoding="utf-8")
    return path.stat().st_size


def test_the_upload_shows_its_progress_up_to_the_whole_file_then_lands_on_the_run(
    page: Any, console_site: LiveConsole, tmp_path: Path,
) -> None:
    upload = tmp_path / "campaign-large.csv"
    size = big_campaign(upload, 250_000)
    driver = page.driver
    sign_in(driver, console_site, "marketing", "/audience")
    form = wait_for(driver, "form#audience-upload")
    assert not driver.find_element(By.ID, "upload-progress").is_displayed(), "no bar before an upload"
    driver.execute_script(WATCH_PROGRESS)
    form.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(upload))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(driver, '#run-status[data-status="done"]', seconds=120)
    assert "/audience/runs/" in driver.current_url
    assert driver.find_element(By.ID, "count-rows").text.replace(",", "") == "250000"
    page.shot("audience-progress-done")

    seen = json.loads(driver.execute_script("return sessionStorage.getItem('progress')"))
    shown = [(value, top, said) for hidden, value, top, said in seen if not hidden]
    assert shown, f"the bar was shown while uploading: {seen}"
    value, top, said = shown[-1]
    assert top >= size and value == top, "the bar ends full: every byte of the form (the file and its fields) sent"
    assert said.startswith("Uploading: 100 % (") and said.endswith(" MiB)"), said


def test_without_javascript_the_form_posts_as_before_and_the_bar_stays_hidden(
    page: Any, console_site: LiveConsole, tmp_path: Path,
) -> None:
    upload = tmp_path / "campaign-nojs.csv"
    big_campaign(upload, 1_000)
    driver = page.driver
    sign_in(driver, console_site, "marketing", "/audience")
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        driver.get(console_site.url + "/audience")
        form = wait_for(driver, "form#audience-upload")
        form.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(upload))
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(driver, '#run-status[data-status="done"]', seconds=60)
        assert "/audience/runs/" in driver.current_url
        assert driver.find_element(By.ID, "count-rows").text.replace(",", "") == "1000"
    finally:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
