"""The console in headless Chromium, on the demo's database (harness/console_site.py): signing in and out, the
overview's stale job and charts, number lookup, a viewer refused a stop removal (on the page and by a direct POST
with their own valid token), and a screenshot of every page (test-results/screenshots/)."""

from __future__ import annotations

from typing import Any

from harness.console_site import FRESH_JOB, STALE_JOB, STOPPED, STOPPED_AS_TYPED, XSS_REASON, LiveConsole
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import text

from .console_ui import RED, sign_in, submit_sign_in, wait_for


def test_a_user_signs_in_lands_on_the_page_asked_for_and_signs_out_for_good(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    driver.get(console_site.url + "/runs")
    assert "/login?next=/runs" in driver.current_url, "an anonymous visit is sent to the sign-in page"
    page.shot("sign-in")
    sign_in(driver, console_site, "viewer", path="/runs")
    assert driver.current_url == console_site.url + "/runs"
    assert driver.get_cookie("smsetl_session") is not None
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait_for(driver, "form.login")
    assert driver.get_cookie("smsetl_session") is None
    driver.get(console_site.url + "/")
    assert "/login" in driver.current_url, "signed out: the overview asks to sign in again"


def test_a_wrong_password_is_told_in_one_sentence_and_opens_no_session(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    submit_sign_in(driver, console_site, "viewer", "not the password")
    message = wait_for(driver, "#message")
    assert message.text == "Wrong name or password."
    assert message.value_of_css_property("color") == RED
    assert driver.find_element(By.NAME, "name").get_attribute("value") == "viewer", "the name is kept, not the password"
    assert driver.find_element(By.NAME, "password").get_attribute("value") == ""
    assert driver.get_cookie("smsetl_session") is None
    page.shot("wrong-password")


def test_the_overview_shows_a_job_past_its_staleness_in_red_and_a_fresh_one_plainly(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    sign_in(driver, console_site, "viewer")
    account = console_site.account
    stale = wait_for(driver, f'#jobs tr.stale[data-job="{STALE_JOB}"][data-account="{account}"]')
    assert "stale" in stale.text
    assert all(cell.value_of_css_property("color") == RED for cell in stale.find_elements(By.TAG_NAME, "td"))
    fresh = driver.find_element(By.CSS_SELECTOR, f'#jobs tr[data-job="{FRESH_JOB}"][data-account="{account}"]')
    assert fresh.get_attribute("class") == "fresh"
    assert fresh.find_element(By.TAG_NAME, "td").value_of_css_property("color") != RED
    page.shot("overview")


def test_the_spend_and_funnel_charts_draw_the_demo_data(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    sign_in(driver, console_site, "viewer")
    charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart.spend svg")
    assert charts, "a spend chart per account and currency"
    bars = charts[0].find_elements(By.CSS_SELECTOR, "rect.bar")
    drawn = [bar for bar in bars if bar.rect["height"] > 0 and bar.rect["width"] > 0]
    assert drawn, "at least one day's spend is a visible bar"
    assert charts[0].rect["width"] > 300, "the chart is laid out at its size, not collapsed"
    segments = driver.find_elements(By.CSS_SELECTOR, "figure.chart.funnel svg rect.part.delivered")
    assert any(s.rect["width"] > 0 for s in segments), "delivered messages in the funnel"
    driver.execute_script("arguments[0].scrollIntoView()", charts[0])
    page.shot("charts")


def test_lookup_shows_a_stopped_numbers_periods_and_a_script_reason_as_plain_text(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    sign_in(driver, console_site, "viewer")
    driver.find_element(By.LINK_TEXT, "Number lookup").click()
    box = wait_for(driver, "form.lookup input[name=number]")
    box.send_keys(STOPPED_AS_TYPED)
    driver.find_element(By.CSS_SELECTOR, "form.lookup button").click()
    verdict = wait_for(driver, "#verdict")
    assert driver.find_element(By.TAG_NAME, "h2").text == STOPPED
    assert "verdict stopped" in verdict.get_attribute("class") and verdict.text.startswith("Opted out now")
    periods = driver.find_elements(By.CSS_SELECTOR, "table.periods tbody tr")
    assert len(periods) == 2, "stopped, released by the tool, stopped again"
    removed = [row for row in periods if "tool" in row.find_element(By.CSS_SELECTOR, "td.how").text]
    assert len(removed) == 1
    assert removed[0].find_element(By.CSS_SELECTOR, "td.reason").text == XSS_REASON, "the reason shown as typed"
    assert driver.find_elements(By.CSS_SELECTOR, "main script") == [], "and never run"
    assert driver.title == "Number lookup · smspartner-etl"
    page.shot("lookup")


def test_an_admin_reaches_every_page_and_each_is_kept_as_a_screenshot(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    sign_in(driver, console_site, "admin")
    page.shot("overview")
    driver.find_element(By.LINK_TEXT, "Runs").click()
    first_run = wait_for(driver, "main table a[href^='/runs/']")
    page.shot("runs")
    first_run.click()
    wait_for(driver, "main h1")
    assert "/runs/" in driver.current_url
    page.shot("run")
    driver.find_element(By.LINK_TEXT, "Users").click()
    names = [row.find_element(By.TAG_NAME, "td").text for row in driver.find_elements(By.CSS_SELECTOR, "table.users tbody tr")]
    assert names == ["admin", "marketing", "viewer"]
    page.shot("users")
    driver.get(console_site.url + "/lookup")
    page.shot("lookup-empty")


def test_a_viewer_sees_no_users_link_and_the_users_page_refuses_them(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    sign_in(driver, console_site, "viewer")
    assert driver.find_elements(By.LINK_TEXT, "Users") == []
    driver.get(console_site.url + "/users")
    assert "This page is for the admin role; you are viewer." in driver.find_element(By.TAG_NAME, "main").text
    page.shot("refused")


def test_a_viewer_is_refused_a_stop_removal_on_the_page_and_by_a_direct_post(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    sign_in(driver, console_site, "viewer")
    assert driver.find_elements(By.LINK_TEXT, "Stops and cancels") == []
    driver.get(console_site.url + "/stops")
    assert "This page is for the admin role; you are viewer." in driver.find_element(By.TAG_NAME, "main").text
    assert driver.find_elements(By.CSS_SELECTOR, "form#stop-remove") == []
    # The removal form built in the viewer's own page with their valid token, as a crafted page would send it.
    driver.get(console_site.url + "/")
    driver.execute_script("""
        const token = document.querySelector('form.logout input[name=csrf]').value;
        const form = document.createElement('form');
        form.method = 'post'; form.action = '/stops/remove';
        const fields = {csrf: token, number: arguments[0], reason: 'by a viewer', consent_evidence: 'none', account: 'main'};
        for (const [name, value] of Object.entries(fields)) {
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
        }
        document.body.appendChild(form); form.submit();""", STOPPED)
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/stops/remove"))
    refused = wait_for(driver, "main")
    assert "This page is for the admin role; you are viewer." in refused.text
    page.shot("stop-removal-refused")
    with console_site.engine.connect() as conn:
        still = conn.execute(text("SELECT COUNT(*) FROM current_stops WHERE phone_e164 = :p"), {"p": STOPPED}).scalar()
        tried = conn.execute(text("SELECT COUNT(*) FROM write_actions WHERE reason = 'by a viewer'")).scalar()
    assert still == 1 and tried == 0, "the number is still stopped and no write was even recorded"
    assert console_site.sim.stop_id_of(STOPPED) is not None, "nor made to the account"


def test_an_admin_sees_the_stop_and_cancel_forms(page: Any, console_site: LiveConsole) -> None:
    driver = page.driver
    sign_in(driver, console_site, "admin")
    driver.find_element(By.LINK_TEXT, "Stops and cancels").click()
    for form in ("stop-add", "stop-remove", "cancel-message"):
        wait_for(driver, f"form#{form}")
    assert driver.find_element(By.ID, "stop-remove-evidence").get_attribute("name") == "consent_evidence"
    page.shot("stops")
