"""The participants' results page (issue 15), in real Chromium with JavaScript off.

Runs the real `charter` binary on a fresh SQLite file with one conversation made through the API
("results", six statements) and two clearly opposed camps of eight participants voting through
the API: everyone agrees with the first statement, camp A agrees with the second to fourth and
disagrees with the fifth and sixth, camp B the other way round. Then:

  - at 390x700 with scripting off, a new participant votes through every statement as camp A
    does, follows the "see the results" link of the "you have voted on every statement" section,
    and (once the background analysis has counted their votes; reloading as the page says) reads
    "Your votes put you in group X", X being camp A's group in the API's analysis; the opinion
    map marks them ("You"), fits the 390 px width and nothing on the page scrolls sideways;
  - axe-core (WCAG 2.2 A/AA tags) finds nothing on that participant's results page, in every
    language of Sources/CharterHTTP/Catalogues/*.json, nor on the page a stranger is refused
    with (403).

    python3 -m pytest Tests/Browser/test_results_page.py -q -p no:cacheprovider

Environment: CHARTER_BIN (default .build/debug/charter); CHARTER_SCREENSHOT_DIR, if set, gets a
PNG of the results page at 390x700.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_process import REPO_ROOT, copy_binary  # noqa: E402
from test_admin_pages_layout import (  # noqa: E402
    AXE_TAGS,
    RUN_AXE,
    Server,
    axe_source,
    chromium,
    javascript_runs,
    set_viewport,
    wait_for,
)
from test_participant_phone import submit, wait_loaded  # noqa: E402

SLUG = "results"
CAMP_SIZE = 8
STATEMENTS = [
    "The AI should be honest about what it does not know.",
    "The AI should refuse to give medical advice.",
    "The AI should never express political opinions.",
    "The AI should keep its answers short.",
    "The AI should joke and use humour.",
    "The AI should challenge the user when they are wrong.",
]
SCREENSHOTS = os.environ.get("CHARTER_SCREENSHOT_DIR")
CATALOGUES = REPO_ROOT / "Sources" / "CharterHTTP" / "Catalogues"
LANGUAGES = sorted(p.stem for p in CATALOGUES.glob("*.json")) if CATALOGUES.is_dir() else ["en"]


def camp_vote(camp: str, index: int) -> str:
    if index == 0:
        return "agree"
    return "agree" if (index <= 3) == (camp == "A") else "disagree"


@pytest.fixture(scope="module")
def site():
    with tempfile.TemporaryDirectory(prefix="charter-results-test-") as tmp:
        workdir = Path(tmp)
        try:
            binary = copy_binary(workdir)
        except FileNotFoundError as error:
            pytest.fail(str(error))
        server = Server(binary, workdir)
        token = server.create_organiser()
        server.start()
        try:
            api = server.api
            base = f"/api/v1/conversations/{SLUG}"
            api("POST", "/api/v1/conversations", {
                "slug": SLUG, "title": "How should an AI assistant behave?",
                "question": "Which of these should an AI assistant do?"}, token=token)
            added = api("POST", f"{base}/seeds", {"statements": STATEMENTS}, token=token)["added"]
            ids = [s["id"] for s in added]
            camps: dict[str, list[int]] = {"A": [], "B": []}
            for camp in camps:
                for _ in range(CAMP_SIZE):
                    joined = api("POST", f"{base}/participants", {})
                    camps[camp].append(joined["participant"]["id"])
                    for index, statement in enumerate(ids):
                        api("POST", f"{base}/votes", {"statement": statement, "vote": camp_vote(camp, index)},
                            token=joined["token"])
            server.token = token
            server.camps = camps
            server.statement_ids = ids
            yield server
        finally:
            status = server.stop()
            print(f"server log: {server.log_path} (exit status {status})")


def analysis(server) -> dict:
    return server.api("GET", f"/api/v1/conversations/{SLUG}/analysis", token=server.token).get("analysis") or {}


def group_of(report: dict, participant: int) -> int | None:
    for p in report.get("participants", []):
        if p["id"] == participant:
            return p.get("group")
    return None


def screenshot(driver, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        png = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        (Path(SCREENSHOTS) / f"{name}.png").write_bytes(base64.b64decode(png["data"]))


def body_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


@pytest.fixture(scope="module")
def participant(site):
    """A participant who voted through everything with scripting off, at 390x700, and followed
    the link to the results; yields their browser's cookies and the group letter shown."""
    driver = chromium(javascript=False)
    try:
        assert not javascript_runs(driver), "scripts run in the JavaScript-off browser"
        set_viewport(driver, 390, 700)
        driver.get(site.base_url + f"/c/{SLUG}")
        wait_loaded(driver)
        by_text = {text: index for index, text in enumerate(STATEMENTS)}
        for _ in range(len(STATEMENTS)):
            text = driver.find_element(By.CSS_SELECTOR, "#statement-text").text.strip()
            assert text in by_text, f"unexpected statement {text!r}"
            submit(driver, f"form.vote button[value={camp_vote('A', by_text[text])}]")
        assert not driver.find_elements(By.CSS_SELECTOR, "form.vote"), "a statement is left:\n" + body_text(driver)
        links = driver.find_elements(By.CSS_SELECTOR, "section.done a.results-link")
        assert links, "no link to the results in the 'you have voted on every statement' section:\n" + \
            body_text(driver)
        link = links[0]
        box = driver.execute_script("const b = arguments[0].getBoundingClientRect(); "
                                    "return {width: b.width, height: b.height};", link)
        assert box["height"] >= 44 and box["width"] >= 44, f"the results link is a {box} target, less than 44x44"
        link.click()
        wait_loaded(driver)
        assert driver.current_url.startswith(site.base_url + f"/c/{SLUG}/results"), driver.current_url

        # The background analysis runs about a second after the votes; the page says to reload.
        def grouped():
            text = body_text(driver)
            match = re.search(r"Your votes put you in group ([A-Z])\.", text)
            if match and "not counted in these results yet" not in text:
                return match.group(1)
            time.sleep(0.5)
            driver.refresh()
            wait_loaded(driver)
            return None

        letter = wait_for("the results page showing the participant's group", grouped, timeout=60, server=site)
        report = analysis(site)
        camp_a = {group_of(report, p) for p in site.camps["A"]}
        assert len(camp_a) == 1 and None not in camp_a, f"camp A is not one group: {camp_a}"
        assert letter == chr(65 + camp_a.pop()), f"the page says group {letter}, camp A's group is another"
        screenshot(driver, "results-390x700")

        # The map: an image named by its title, the reader marked, fitted to the phone.
        svg = driver.find_element(By.CSS_SELECTOR, "figure.map svg")
        assert svg.get_dom_attribute("role") == "img"
        assert "You" in [t.text for t in svg.find_elements(By.TAG_NAME, "text")], "the map does not mark 'You'"
        measured = driver.execute_script(
            "const b = arguments[0].getBoundingClientRect(); return {right: b.right, width: b.width, "
            "scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth};", svg)
        assert measured["right"] <= 390 and measured["width"] >= 300, f"the map does not fit 390 px: {measured}"
        assert measured["scrollWidth"] <= measured["innerWidth"], f"the page scrolls sideways: {measured}"
        text = body_text(driver)
        assert f"Group {letter}:" in text and "What every group agreed on" in text, text[:1500]
        assert STATEMENTS[0] in text, "the statement everyone agreed with is not on the page"
        yield {"cookies": driver.get_cookies(), "letter": letter, "url": driver.current_url}
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def js_on(site):
    """For axe-core, whose run waits on timers that do not fire with the page's scripting off.
    The results page has no script of its own, so it is the same page."""
    driver = chromium(javascript=True)
    try:
        assert javascript_runs(driver), "scripts do not run in the JavaScript-on browser"
        yield driver
    finally:
        driver.quit()


def audit(driver, where: str) -> list[str]:
    driver.execute_script(axe_source())
    result = driver.execute_async_script(RUN_AXE, AXE_TAGS)
    if "error" in result:
        return [f"{where}: axe-core failed: {result['error']}"]
    problems = []
    for v in result.get("violations", []):
        nodes = "\n      ".join(f"{' '.join(map(str, n['target']))}  {n['html'][:160]}" for n in v["nodes"][:6])
        problems.append(f"{where}: axe {v['id']} ({v['impact']}): {v['help']}; {len(v['nodes'])} node(s):\n      "
                        + nodes)
    return problems


def test_a_participant_sees_their_group_after_voting_through(participant):
    assert re.fullmatch(r"[A-Z]", participant["letter"])


@pytest.mark.parametrize("code", LANGUAGES)
def test_axe_finds_nothing_on_the_results_page(site, participant, js_on, code):
    driver = js_on
    driver.get(site.base_url + "/healthz")
    driver.delete_all_cookies()
    set_viewport(driver, 390, 700)
    problems = []
    # A stranger is refused, in their language, with a way back.
    driver.get(site.base_url + f"/c/{SLUG}/results?lang={code}")
    wait_loaded(driver)
    html = driver.find_element(By.TAG_NAME, "html")
    assert html.get_dom_attribute("lang") == code, html.get_dom_attribute("lang")
    assert driver.find_elements(By.CSS_SELECTOR, "a.results-back"), body_text(driver)[:600]
    problems += audit(driver, f"the refusal [{code}]")
    # The participant's own results, with their browser's cookie.
    for cookie in participant["cookies"]:
        driver.add_cookie({k: cookie[k] for k in ("name", "value", "path") if k in cookie})
    driver.get(site.base_url + f"/c/{SLUG}/results?lang={code}")
    wait_loaded(driver)
    assert driver.find_element(By.TAG_NAME, "html").get_dom_attribute("lang") == code
    assert driver.find_elements(By.CSS_SELECTOR, "figure.map svg[role=img]"), body_text(driver)[:600]
    assert driver.find_elements(By.CSS_SELECTOR, "p.you"), "no 'your group' line:\n" + body_text(driver)[:600]
    problems += audit(driver, f"the participant's results [{code}]")
    assert not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)
