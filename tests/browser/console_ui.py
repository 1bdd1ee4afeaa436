"""What the console's browser tests do on every page: wait for an element, sign in through the form."""

from __future__ import annotations

from typing import Any

from harness.console_site import LiveConsole
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

RED = "rgba(176, 0, 32, 1)"  # #b00020, console.css's colour for stale rows and errors


def wait_for(driver: Any, css: str, seconds: float = 10) -> Any:
    return WebDriverWait(driver, seconds).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def submit_sign_in(driver: Any, site: LiveConsole, name: str, password: str, path: str = "/") -> None:
    driver.get(site.url + path)
    form = wait_for(driver, "form.login")
    form.find_element(By.NAME, "name").send_keys(name)
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def sign_in(driver: Any, site: LiveConsole, role: str, path: str = "/") -> None:
    submit_sign_in(driver, site, *site.user(role), path=path)
    who = wait_for(driver, "header .who")
    assert who.text == f"{role} ({role})"
