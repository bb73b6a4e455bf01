"""Browser test: the organiser's desk on a phone and on a desktop, JavaScript off.

Runs the real `charter` binary on a fresh SQLite file with the demo conversation, an organiser
made with `charter admin create-organiser`, some votes and participants' statements (two of them
near-duplicates), and drives headless Chromium through Selenium at 390×900 and 1280×900:

- no page scrolls sideways (the document is no wider than the viewport): the conversation's
  overview, the moderation queue, the new-conversation form, the conversations list, the audit
  log and the API tokens page;
- the overview draws its charts (one bar a bucket) and the queue shows counts, shares and the
  near-duplicates together;
- the slug's `pattern` works in the browser's `v` regular-expression mode: a bad slug is
  `:invalid`, a good one is not (a pattern the browser cannot compile is ignored, and then
  every value would pass).

    python3 -m pytest Tests/Browser -q

Environment: CHARTER_BIN (default .build/debug/charter); CHARTER_SCREENSHOT_DIR, if set, gets a
PNG of each page at each size.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_participant_js_off import (  # noqa: E402
    CHROMEDRIVER,
    CHROMIUM,
    Server,
    _assert_javascript_disabled,
    _charter_binary,
    _wait_for_url,
)

EMAIL = "desk@example.org"
PASSWORD = "a long enough passphrase"
SIZES = [(390, 900), (1280, 900)]
PAGES = [
    "/admin/conversations/demo",
    "/admin/conversations/demo/moderation",
    "/admin/conversations/demo/moderation?moderation=all",
    "/admin/conversations/new",
    "/admin",
    "/admin/audit?conversation=demo",
    "/admin/tokens",
]


def _api(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


@pytest.fixture(scope="module")
def server():
    binary = _charter_binary()
    with tempfile.TemporaryDirectory(prefix="charter-desk-test-") as tmp:
        folder = Path(tmp)
        password = folder / "password"
        password.write_text(PASSWORD + "\n")
        srv = Server(binary, folder)
        try:
            srv.wait_until_ready()
            subprocess.run(
                [str(binary), "admin", "create-organiser", "--email", EMAIL, "--password-file", str(password),
                 "--database", str(srv.database)],
                check=True, capture_output=True, timeout=60,
            )
            conversation = _api(srv.base_url, "GET", "/api/v1/conversations/demo")
            ids = [s["id"] for s in conversation["statements"]]
            statements = [
                "The assistant should always tell the truth",
                "The assistant should always tell the truth to people",
                "A statement that wraps on a phone, with incomprehensibilities and "
                "internationalisation-and-localisation-considerations",
            ]
            for number in range(6):
                token = _api(srv.base_url, "POST", "/api/v1/conversations/demo/participants", {})["token"]
                for index, statement in enumerate(ids[: 4 + number]):
                    vote = ["agree", "disagree", "pass"][(index + number) % 3]
                    _api(srv.base_url, "POST", "/api/v1/conversations/demo/votes",
                         {"statement": statement, "vote": vote}, token)
                if number < len(statements):
                    _api(srv.base_url, "POST", "/api/v1/conversations/demo/statements",
                         {"text": statements[number]}, token)
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def driver():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            pytest.fail(f"{path} is missing; install the Debian packages chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        drv.set_page_load_timeout(30)
        yield drv
    finally:
        drv.quit()


def _sign_in(drv, base: str) -> None:
    drv.get(base + "/admin/login")
    drv.find_element(By.ID, "email").send_keys(EMAIL)
    drv.find_element(By.ID, "password").send_keys(PASSWORD)
    drv.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait_for_url(drv, "/admin")
    assert "/admin/login" not in drv.current_url, "signing in failed"


def _set_viewport(drv, width: int, height: int) -> None:
    # The window's outer size includes no chrome in headless mode, but check what the page sees.
    drv.set_window_size(width, height)
    inner = drv.execute_script("return window.innerWidth")
    if inner != width:
        drv.set_window_size(width + (width - inner), height)
    assert drv.execute_script("return window.innerWidth") == width, "could not size the viewport"


def _screenshot(drv, name: str) -> None:
    folder = os.environ.get("CHARTER_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        # The whole page, not only the viewport (Chromium's DevTools protocol).
        height = drv.execute_script("return document.documentElement.scrollHeight")
        width = drv.execute_script("return window.innerWidth")
        shot = drv.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
        )
        (Path(folder) / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def _wider_than_viewport(drv) -> list[str]:
    """The elements that stick out of the viewport on the right, to name the culprit."""
    return drv.execute_script(
        """
        const width = document.documentElement.clientWidth;
        return Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > width + 0.5)
            .filter(e => !e.closest('.scroll'))
            .slice(0, 8)
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className : '')
                 + ' right=' + Math.round(e.getBoundingClientRect().right));
        """
    )


def test_the_desk_fits_a_phone_and_a_desktop(server, driver):
    _assert_javascript_disabled(driver)
    _sign_in(driver, server.base_url)
    for width, height in SIZES:
        _set_viewport(driver, width, height)
        for path in PAGES:
            driver.get(server.base_url + path)
            assert "/admin/login" not in driver.current_url, f"{path} sent the organiser to sign in"
            document = driver.execute_script("return document.documentElement.scrollWidth")
            viewport = driver.execute_script("return window.innerWidth")
            name = path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-") or "admin"
            _screenshot(driver, f"{name}-{width}")
            assert document <= viewport, (
                f"{path} at {width}×{height} scrolls sideways: the document is {document} px wide in a "
                f"{viewport} px viewport; sticking out: {_wider_than_viewport(driver)}"
            )


def test_the_overview_and_the_queue_show_their_numbers(server, driver):
    _set_viewport(driver, 390, 900)
    driver.get(server.base_url + "/admin/conversations/demo")
    participants = driver.find_element(By.ID, "overview-participants").text
    assert participants == "6", f"the overview counts {participants!r} participants, expected 6"
    bars = driver.find_elements(By.CSS_SELECTOR, "figure.chart svg rect.bar")
    assert bars, "the overview has no bars in its votes chart"
    points = driver.find_elements(By.CSS_SELECTOR, "figure.chart svg circle")
    assert len(points) == len(bars), f"{len(points)} points for {len(bars)} bars"
    label = driver.find_element(By.CSS_SELECTOR, "figure.chart svg").get_attribute("aria-labelledby")
    assert label == "votes-chart-title votes-chart-desc", f"the votes chart is labelled {label!r}"

    driver.get(server.base_url + "/admin/conversations/demo/moderation")
    groups = driver.find_elements(By.CSS_SELECTOR, "li.duplicates")
    assert len(groups) == 1, f"expected the two 'tell the truth' statements grouped, found {len(groups)} groups"
    grouped = groups[0].find_elements(By.CSS_SELECTOR, "li.card")
    assert len(grouped) == 2, f"the near-duplicate group holds {len(grouped)} statements"
    tally = grouped[0].find_element(By.CSS_SELECTOR, ".tally").text
    assert "1 agree" in tally and "100% agree" in tally, f"the first statement's counts read {tally!r}"
    cards = driver.find_elements(By.CSS_SELECTOR, "ol.queue li.card")
    assert len(cards) == 3, f"the queue shows {len(cards)} pending statements, expected 3"
    for card in cards:
        box = card.rect
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, f"a card sticks out: {box}"


def test_the_slug_pattern_works_in_the_browser(server, driver):
    _set_viewport(driver, 1280, 900)
    driver.get(server.base_url + "/admin/conversations/new")
    slug = driver.find_element(By.ID, "slug")
    assert slug.get_dom_attribute("pattern") == r"[a-z0-9][a-z0-9\-]*"
    for value, invalid in (("Not a slug!", True), ("-leading", True), ("ai-values-2", False)):
        slug.clear()
        slug.send_keys(value)
        matched = driver.execute_script("return arguments[0].validity.patternMismatch", slug)
        assert matched is invalid, (
            f"the slug {value!r} should {'' if invalid else 'not '}mismatch the pattern; a pattern the browser "
            "cannot compile (in the v regular-expression mode) is ignored, and every value then passes"
        )
