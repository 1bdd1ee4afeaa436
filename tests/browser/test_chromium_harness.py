"""The browser harness itself, on a page served by a plain local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from harness.browser import forget_everything, save_failure
from selenium.webdriver.common.by import By

PAGE = b"""<!doctype html><html><head><title>harness</title></head><body>
<h1 id="hello">hello</h1><a id="away" href="/set-cookie">set a cookie</a>
<svg width="200" height="100"><circle class="point" cx="50" cy="50" r="10"/><circle class="point" cx="150" cy="50" r="10"/></svg>
<div style="height:3000px">tall</div><p id="bottom">bottom</p></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        if self.path == "/set-cookie":
            self.send_header("Set-Cookie", "seen=1; Path=/; HttpOnly")
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass


@pytest.fixture(scope="module")
def local_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_browser_renders_a_served_page_and_saves_a_full_page_screenshot(page: Any, local_site: str) -> None:
    page.driver.get(local_site + "/")
    assert page.driver.find_element(By.ID, "hello").text == "hello"
    points = page.driver.find_elements(By.CSS_SELECTOR, "svg circle.point")
    assert len(points) == 2 and all(p.is_displayed() and p.size["width"] > 0 for p in points)
    shot = page.shot("page")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height = int.from_bytes(shot.read_bytes()[20:24], "big")  # the PNG header's height: the whole page, not the window
    assert height > 3000


def test_each_test_starts_without_the_cookies_an_earlier_one_got(page: Any, local_site: str) -> None:
    page.driver.get(local_site + "/set-cookie")
    assert page.driver.get_cookie("seen") is not None
    forget_everything(page.driver)
    page.driver.get(local_site + "/")
    assert page.driver.get_cookie("seen") is None


def test_a_failed_page_is_kept_as_a_screenshot_and_its_source(page: Any, local_site: str, tmp_path: Path) -> None:
    page.driver.get(local_site + "/")
    png, html = save_failure(page.driver, tmp_path, "a_test")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert local_site in html.read_text() and 'id="hello"' in html.read_text()
