"""Voting on a phone (issue 15), in real Chromium with JavaScript off.

Runs the real `charter` binary on a fresh SQLite file with three conversations made through the
API: "phone" (14 statements, four of them close to the 140-character limit, a title, a question
and a description as long as an organiser writes them), "finish" (a completion code after two
votes, three statements) and "closed". Then, in headless Chromium with the page's scripting off:

  - at 390x700, 390x900 and 360x640 a new participant votes ten times; after every vote the
    confirmation, the statement and its three vote buttons are inside the viewport
    (getBoundingClientRect within 0..innerWidth and 0..innerHeight), with no scrolling: the
    vote's redirect ends in #statement and the introduction has collapsed;
  - every interactive element of the participant page (fresh, after a vote with the "change it
    to" buttons and the folded introduction, after an error, with the completion code, when
    everything is voted on, closed) is at least 44x44 px and at least MIN_GAP px away from every
    other one;
  - the focus ring of every button and field has at least 3:1 contrast against the background
    around it, and is told apart from a coloured button by a second colour when its own colour
    is not;
  - the progress bar has an accessible name (Chromium's accessibility tree, not an attribute);
  - axe-core (WCAG 2.2 A/AA tags) finds nothing on the fresh page, after a vote, after changing
    the vote, with an error, with the completion code, when everything is voted on and on a
    closed conversation, in every language of Sources/CharterHTTP/Catalogues/*.json (each page
    opened with ?lang=<code>; <html lang> is the code and Arabic is dir="rtl"). axe-core runs in
    a second browser with scripting on (its run waits on timers, which do not fire with scripting
    off); the participant page has no script, so it is the same page.

    python3 -m pytest Tests/Browser/test_participant_phone.py -q -p no:cacheprovider

Environment: CHARTER_BIN (default .build/debug/charter); CHARTER_PHONE_REPORT, where the
measured rectangles, sizes and contrasts are written as JSON (default
/tmp/charter-participant-phone.json); CHARTER_SCREENSHOT_DIR, if set, gets a PNG of the
viewport after each measured vote.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import sys
import tempfile
import urllib.parse
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait

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
)

REPORT = Path(os.environ.get("CHARTER_PHONE_REPORT", "/tmp/charter-participant-phone.json"))
SCREENSHOTS = os.environ.get("CHARTER_SCREENSHOT_DIR")
VIEWPORTS = [(390, 700), (390, 900), (360, 640)]
VOTES = 10
MIN_TARGET = 44  # px, both ways
MIN_GAP = 8  # px between two interactive elements
MIN_RING_CONTRAST = 3.0
CATALOGUES = REPO_ROOT / "Sources" / "CharterHTTP" / "Catalogues"
LANGUAGES = sorted(p.stem for p in CATALOGUES.glob("*.json")) if CATALOGUES.is_dir() else []
LANGUAGES = LANGUAGES or ["en"]
RTL = {"ar", "fa", "he", "ur"}

PHONE = "phone"
FINISH = "finish"
CLOSED = "closed"
COMPLETION_CODE = "CH-7Q2K-93XZ"
ASKS = "asks"
SIMILAR = "similar"
SHORT_SEEDS = ["The AI should be honest.", "The AI should be kind.", "The AI should cite sources.",
               "The AI should refuse dangerous requests.", "The AI should respect privacy."]
DEMOGRAPHICS = {"after_votes": 1, "questions": [
    {"key": "age", "text": {"en": "How old are you?", "de": "Wie alt sind Sie?"},
     "options": [{"key": "18-39", "label": {"en": "18 to 39", "de": "18 bis 39"}},
                 {"key": "40-plus", "label": {"en": "40 or older", "de": "40 oder älter"}}]}]}
# Fourteen statements; four are 130 to 140 characters long (the default limit is 140).
STATEMENTS = [
    "The AI should admit when it does not know the answer, instead of guessing and then presenting its guess to the user as if it were a fact.",
    "The AI should refuse to help with anything illegal.",
    "The AI should always follow the user's instructions, unless following them would clearly and seriously hurt somebody other than the user.",
    "The AI should never express political opinions.",
    "The AI should explain the reasons for its answers in plain words, so that people can check the reasoning and disagree with it if needed.",
    "The AI should treat every user the same, whoever they are.",
    "The AI should protect the privacy of the people it talks about, including public figures, unless their public role is what is discussed.",
    "The AI should tell users when they are talking to a machine.",
    "The AI should be allowed to joke and use humour.",
    "The AI should prioritise the wellbeing of the user over what they ask for, even if that means saying no to a request they care about.",
    "The AI should give medical advice when asked.",
    "The AI should avoid content that could offend anyone.",
    "The AI should challenge the user when they are wrong.",
    "The AI should keep its answers short.",
]
assert len(STATEMENTS) >= 12 and sum(130 <= len(s) <= 140 for s in STATEMENTS) >= 4, [len(s) for s in STATEMENTS]

RESULTS: dict = {"votes": [], "targets": [], "focus": [], "progress": [], "axe": []}


# ---------------------------------------------------------------------------
# The server and its conversations


@pytest.fixture(scope="module")
def site():
    with tempfile.TemporaryDirectory(prefix="charter-phone-test-") as tmp:
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
            api("POST", "/api/v1/conversations", {
                "slug": PHONE, "title": "How should an AI assistant behave?",
                "question": "Which of these should an AI assistant do? Vote on each statement, or add your own.",
                "description": "A consultation on the principles an AI assistant is trained on. The statements "
                               "that people in every opinion group agree with become its constitution, which is "
                               "published with the votes behind it. Voting takes about five minutes; you can stop "
                               "at any time and come back later."}, token=token)
            api("POST", f"/api/v1/conversations/{PHONE}/seeds", {"statements": STATEMENTS}, token=token)
            api("POST", "/api/v1/conversations", {
                "slug": FINISH, "title": "A short survey", "question": "Do you agree?",
                "description": "Three statements; the completion code shows after two votes.",
                "completion_threshold": 2, "completion_code": COMPLETION_CODE}, token=token)
            api("POST", f"/api/v1/conversations/{FINISH}/seeds", {"statements": STATEMENTS[:3]}, token=token)
            api("POST", "/api/v1/conversations", {
                "slug": CLOSED, "title": "A conversation that has ended", "question": "Do you agree?"}, token=token)
            api("POST", f"/api/v1/conversations/{CLOSED}/seeds", {"statements": STATEMENTS[:3]}, token=token)
            api("PATCH", f"/api/v1/conversations/{CLOSED}", {"state": "closed"}, token=token)
            for slug in (ASKS, SIMILAR):
                api("POST", "/api/v1/conversations", {"slug": slug, "title": f"The {slug} test",
                                                      "question": "Do you agree?"}, token=token)
                api("POST", f"/api/v1/conversations/{slug}/seeds", {"statements": SHORT_SEEDS}, token=token)
            api("PUT", f"/api/v1/conversations/{ASKS}/demographics", DEMOGRAPHICS, token=token)
            yield server
        finally:
            status = server.stop()
            REPORT.parent.mkdir(parents=True, exist_ok=True)
            REPORT.write_text(json.dumps(RESULTS, indent=2) + "\n")
            print(f"measurements: {REPORT}; server log: {server.log_path} (exit status {status})")


@pytest.fixture(scope="module")
def js_off(site):
    driver = chromium(javascript=False)
    try:
        assert not javascript_runs(driver), "scripts run in the JavaScript-off browser"
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def js_on(site):
    """For axe-core, whose run waits on timers that do not fire with the page's scripting off.
    The participant page has no script of its own, so it is the same page."""
    driver = chromium(javascript=True)
    try:
        assert javascript_runs(driver), "scripts do not run in the JavaScript-on browser"
        yield driver
    finally:
        driver.quit()


# ---------------------------------------------------------------------------
# Page helpers (Selenium's scripts run through DevTools, so they work with the page's own
# scripting off)


def fresh(driver, server: Server, path: str, width: int, height: int) -> None:
    """A new participant: no cookies, the viewport set, the page opened."""
    driver.get(server.base_url + "/healthz")
    driver.delete_all_cookies()
    set_viewport(driver, width, height)
    driver.get(server.base_url + path)
    wait_loaded(driver)


def wait_loaded(driver) -> None:
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def submit(driver, selector: str) -> None:
    """Clicks a submit button and waits for the page that answers."""
    button = driver.find_element(By.CSS_SELECTOR, selector)
    old = driver.find_element(By.TAG_NAME, "html")
    button.click()

    def replaced(d):
        try:
            old.tag_name
            return False
        except Exception:
            return d.execute_script("return document.readyState") == "complete"

    WebDriverWait(driver, 15).until(replaced, f"no new page after clicking {selector} at {driver.current_url}")


def body_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


RECTS = """
const r = e => { if (!e) return null; const b = e.getBoundingClientRect();
  return {top: b.top, bottom: b.bottom, left: b.left, right: b.right, width: b.width, height: b.height}; };
const q = s => document.querySelector(s);
return {innerWidth: innerWidth, innerHeight: innerHeight, scrollY: scrollY,
        scrollHeight: document.documentElement.scrollHeight,
        statement: r(q('#statement-text')), notice: r(q('.notice')), progress: r(q('progress')),
        buttons: Array.from(document.querySelectorAll('form.vote button')).map(b =>
          Object.assign(r(b), {value: b.value, text: b.textContent.trim()}))};
"""


def inside(rect: dict, width: float, height: float) -> bool:
    return rect["top"] >= -0.5 and rect["left"] >= -0.5 and rect["bottom"] <= height + 0.5 and \
        rect["right"] <= width + 0.5


def screenshot(driver, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        png = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        (Path(SCREENSHOTS) / f"{name}.png").write_bytes(base64.b64decode(png["data"]))


# Every element a participant can tab to or tap, with its box (zero-sized ones, such as the
# content of a closed <details>, are not on the screen).
TARGETS = """
const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
  (typeof e.className === 'string' && e.className.trim() ? '.' + e.className.trim().split(/\\s+/).join('.') : '') +
  (e.value && e.tagName === 'BUTTON' ? '[' + e.value + ']' : '') + ' "' + (e.textContent || '').trim().slice(0, 30) + '"';
return Array.from(document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])'))
  .map(e => { const b = e.getBoundingClientRect();
    return {name: name(e), left: b.left, top: b.top + scrollY, right: b.right, bottom: b.bottom + scrollY,
            width: b.width, height: b.height}; })
  .filter(t => t.width > 0 && t.height > 0);
"""


def gap(a: dict, b: dict) -> float:
    """The distance between two boxes (0 when they touch, negative when they overlap)."""
    horizontal = max(b["left"] - a["right"], a["left"] - b["right"])
    vertical = max(b["top"] - a["bottom"], a["top"] - b["bottom"])
    return max(horizontal, vertical)


def target_problems(driver, state: str) -> list[str]:
    targets = driver.execute_script(TARGETS)
    RESULTS["targets"].append({"state": state, "targets": [
        {"name": t["name"], "width": round(t["width"], 1), "height": round(t["height"], 1)} for t in targets]})
    problems = []
    for t in targets:
        if t["width"] < MIN_TARGET - 0.01 or t["height"] < MIN_TARGET - 0.01:
            problems.append(f"{state}: {t['name']} is {t['width']:.1f}x{t['height']:.1f} px, "
                            f"less than {MIN_TARGET}x{MIN_TARGET}")
    for i, a in enumerate(targets):
        for b in targets[i + 1:]:
            if gap(a, b) < MIN_GAP - 0.01:
                problems.append(f"{state}: {a['name']} and {b['name']} are {gap(a, b):.1f} px apart "
                                f"(negative: overlapping), less than {MIN_GAP}")
    return problems


# ---------------------------------------------------------------------------
# Colours


def parse_colour(value: str) -> tuple[float, float, float, float] | None:
    match = re.match(r"rgba?\(([^)]*)\)", value.strip())
    if not match:
        return None
    parts = [float(p) for p in re.split(r"[,\s/]+", match.group(1).strip()) if p]
    return (parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0)


def luminance(colour) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# The focused element's ring: its outline, its own background, the background around it (the
# nearest ancestor with an opaque one) and the colour of a box-shadow ring, if any.
FOCUS = """
const e = arguments[0];
e.focus();
const s = getComputedStyle(e);
let around = 'rgb(255, 255, 255)';
for (let a = e.parentElement; a; a = a.parentElement) {
  const c = getComputedStyle(a).backgroundColor;
  if (c && c !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(c)) { around = c; break; }
}
return {focused: document.activeElement === e, outlineColor: s.outlineColor, outlineStyle: s.outlineStyle,
        outlineWidth: s.outlineWidth, outlineOffset: s.outlineOffset, boxShadow: s.boxShadow,
        background: s.backgroundColor, around: around};
"""


def focus_problems(driver, state: str) -> list[str]:
    problems = []
    elements = driver.find_elements(By.CSS_SELECTOR, "main button, main textarea, main summary, main a[href]")
    assert elements, f"{state}: nothing to focus"
    for element in elements:
        if not element.is_displayed():
            continue
        label = f"{element.tag_name}.{element.get_dom_attribute('class') or ''} {element.text.strip()[:20]!r}"
        ring = driver.execute_script(FOCUS, element)
        outline = parse_colour(ring["outlineColor"])
        around = parse_colour(ring["around"])
        own = parse_colour(ring["background"])
        shadow = parse_colour(ring["boxShadow"]) if ring["boxShadow"] not in ("none", "") else None
        width = float(ring["outlineWidth"].rstrip("px") or 0)
        against_page = contrast(outline, around) if outline else 0.0
        against_own = contrast(outline, own) if outline and own and own[3] > 0 else None
        RESULTS["focus"].append({"state": state, "element": label, **ring,
                                 "contrast_against_background": round(against_page, 2),
                                 "contrast_against_element": None if against_own is None else round(against_own, 2)})
        if not ring["focused"]:
            problems.append(f"{state}: {label} could not be focused")
            continue
        if ring["outlineStyle"] in ("none", "hidden") or width < 2:
            problems.append(f"{state}: {label} has no focus outline of at least 2 px: {ring}")
            continue
        if against_page < MIN_RING_CONTRAST:
            problems.append(f"{state}: {label}'s focus ring {ring['outlineColor']} has {against_page:.2f}:1 contrast "
                            f"against the background {ring['around']}, less than {MIN_RING_CONTRAST}:1")
        # Against a coloured button the ring needs its own contrast, or a second colour between.
        if against_own is not None and against_own < MIN_RING_CONTRAST:
            separated = shadow is not None and contrast(shadow, own) >= MIN_RING_CONTRAST and \
                contrast(shadow, outline) >= MIN_RING_CONTRAST
            if not separated:
                problems.append(f"{state}: {label}'s focus ring {ring['outlineColor']} has {against_own:.2f}:1 "
                                f"contrast against the button's own {ring['background']} and no second colour "
                                f"between them (box-shadow {ring['boxShadow']})")
    return problems


# ---------------------------------------------------------------------------
# The tests


def test_the_vote_redirect_lands_on_the_statement(site):
    """The Location of a vote's redirect ends in #statement, and that is the statement's section."""
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
    try:
        connection.request("GET", f"/c/{PHONE}")
        response = connection.getresponse()
        page = response.read().decode()
        cookie = "; ".join(c.split(";")[0] for c in response.msg.get_all("Set-Cookie") or [])
    finally:
        connection.close()
    assert response.status == 200, response.status
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    statement = re.search(r'name="statement" value="(\d+)"', page).group(1)
    anchor = re.search(r'<(\w+)[^>]* id="statement"[^>]*>(.*?)</\1>', page, re.S)
    assert anchor and 'id="statement-text"' in anchor.group(2) and 'class="vote"' in anchor.group(2), \
        "no element id=\"statement\" holding the statement and its vote buttons"
    form = urllib.parse.urlencode({"csrf": csrf, "statement": statement, "vote": "agree"})
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
    try:
        connection.request("POST", f"/c/{PHONE}/vote", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        response = connection.getresponse()
        response.read()
        location = response.getheader("Location") or ""
    finally:
        connection.close()
    assert response.status == 303, f"a vote answered {response.status}, expected 303"
    assert location.endswith("#statement"), f"the vote's redirect goes to {location!r}, not to #statement"


@pytest.mark.parametrize("width,height", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
def test_the_statement_and_its_buttons_stay_in_view_after_every_vote(site, js_off, width, height):
    driver = js_off
    fresh(driver, site, f"/c/{PHONE}", width, height)
    problems = []
    choices = ["agree", "disagree", "pass"]
    for number in range(1, VOTES + 1):
        submit(driver, f"form.vote button[value={choices[(number - 1) % 3]}]")
        m = driver.execute_script(RECTS)
        where = f"{width}x{height}, after vote {number} ({driver.current_url})"
        assert m["innerWidth"] == width and m["innerHeight"] == height, f"{where}: the viewport is {m}"
        assert m["statement"] and len(m["buttons"]) == 3, f"{where}: no statement or not three buttons:\n" + \
            body_text(driver)
        RESULTS["votes"].append({"viewport": f"{width}x{height}", "vote": number, "scrollY": m["scrollY"],
                                 "scrollHeight": m["scrollHeight"],
                                 "statement": {k: round(m["statement"][k], 1) for k in ("top", "bottom")},
                                 "notice": m["notice"] and {k: round(m["notice"][k], 1) for k in ("top", "bottom")},
                                 "buttons": [{"value": b["value"], "top": round(b["top"], 1),
                                              "bottom": round(b["bottom"], 1), "left": round(b["left"], 1),
                                              "right": round(b["right"], 1), "width": round(b["width"], 1),
                                              "height": round(b["height"], 1)} for b in m["buttons"]]})
        screenshot(driver, f"phone-{width}x{height}-vote-{number}")
        if not driver.current_url.endswith("#statement"):
            problems.append(f"{where}: the vote did not land on #statement")
        for name, rect in [("the statement", m["statement"]), ("the confirmation", m["notice"])] + \
                [(f"the {b['value']} button", b) for b in m["buttons"]]:
            if rect is None:
                problems.append(f"{where}: {name} is missing")
            elif not inside(rect, width, height):
                problems.append(f"{where}: {name} is at top {rect['top']:.0f}..bottom {rect['bottom']:.0f}, "
                                f"left {rect['left']:.0f}..right {rect['right']:.0f}: outside the "
                                f"{width}x{height} viewport")
    assert not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)


def test_touch_targets_are_large_and_apart(site, js_off):
    driver = js_off
    problems = []
    fresh(driver, site, f"/c/{PHONE}", 390, 700)
    problems += target_problems(driver, "the fresh page")
    submit(driver, "form.vote button[value=agree]")
    assert driver.find_elements(By.CSS_SELECTOR, ".undo button"), "no 'change it to' buttons after a vote"
    shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".description") if e.is_displayed()]
    assert not shown, f"after a vote the introduction's description is still shown: {shown}"
    problems += target_problems(driver, "after a vote")
    for summary in driver.find_elements(By.CSS_SELECTOR, "details > summary"):
        summary.click()  # opening a <details> needs no scripting
    problems += target_problems(driver, "after a vote, the introduction opened")
    driver.find_element(By.ID, "statement-input").send_keys("   ")
    submit(driver, "form[action$='/statements'] button[type=submit]")
    assert driver.find_elements(By.CSS_SELECTOR, ".error"), "a blank statement shows no error:\n" + body_text(driver)
    problems += target_problems(driver, "with an error")
    fresh(driver, site, f"/c/{FINISH}", 390, 700)
    for value in ("agree", "disagree"):
        submit(driver, f"form.vote button[value={value}]")
    problems += target_problems(driver, "with the completion code")
    submit(driver, "form.vote button[value=pass]")
    problems += target_problems(driver, "voted on everything")
    fresh(driver, site, f"/c/{CLOSED}", 390, 700)
    problems += target_problems(driver, "a closed conversation")
    assert not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)


def test_the_focus_ring_stands_out(site, js_off):
    driver = js_off
    fresh(driver, site, f"/c/{PHONE}", 390, 700)
    problems = focus_problems(driver, "the fresh page")
    submit(driver, "form.vote button[value=disagree]")
    problems += focus_problems(driver, "after a vote")
    assert not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)


def accessible_name(driver, selector: str) -> str | None:
    document = driver.execute_cdp_cmd("DOM.getDocument", {"depth": 0})
    node = driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector})
    if not node.get("nodeId"):
        return None
    tree = driver.execute_cdp_cmd("Accessibility.getPartialAXTree", {"nodeId": node["nodeId"],
                                                                      "fetchRelatives": False})
    for ax in tree["nodes"]:
        if ax.get("role", {}).get("value") == "progressbar":
            return (ax.get("name") or {}).get("value")
    return None


def test_the_progress_bar_has_a_name(site, js_off):
    driver = js_off
    fresh(driver, site, f"/c/{PHONE}", 390, 700)
    names = [accessible_name(driver, "progress")]
    submit(driver, "form.vote button[value=pass]")
    names.append(accessible_name(driver, "progress"))
    RESULTS["progress"] = names
    assert all(n and n.strip() for n in names), f"the <progress> element's accessible names: {names}"


def with_language(url: str, code: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "lang"]
    query.append(("lang", code))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), ""))


def audit(driver, code: str, state: str, expect: str) -> list[str]:
    """axe-core on the page as it is, and its language; `expect` is a selector the state shows."""
    where = f"{state} [{code}] ({driver.current_url})"
    problems = []
    if not driver.find_elements(By.CSS_SELECTOR, expect):
        problems.append(f"{where}: the page does not show {expect}:\n{body_text(driver)[:600]}")
    html = driver.find_element(By.TAG_NAME, "html")
    lang, direction = html.get_dom_attribute("lang"), html.get_dom_attribute("dir")
    if lang != code:
        problems.append(f"{where}: <html lang={lang!r}>, expected {code!r}")
    if code in RTL and direction != "rtl":
        problems.append(f"{where}: <html dir={direction!r}>, expected 'rtl'")
    driver.execute_script(axe_source())
    result = driver.execute_async_script(RUN_AXE, AXE_TAGS)
    violations = result.get("violations", [])
    RESULTS["axe"].append({"language": code, "state": state, "url": driver.current_url,
                           "violations": [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
                                          for v in violations],
                           "passes": result.get("passes"), "error": result.get("error")})
    if "error" in result:
        problems.append(f"{where}: axe-core failed: {result['error']}")
    for v in violations:
        nodes = "\n      ".join(f"{' '.join(map(str, n['target']))}  {n['html'][:160]}" for n in v["nodes"][:6])
        problems.append(f"{where}: axe {v['id']} ({v['impact']}): {v['help']}; {len(v['nodes'])} node(s):\n      "
                        + nodes)
    return problems


def reopen(driver, code: str) -> None:
    """The page the browser is on, opened again with ?lang=<code>."""
    driver.get(with_language(driver.current_url, code))
    wait_loaded(driver)


@pytest.mark.parametrize("code", LANGUAGES)
def test_axe_finds_nothing_on_the_participant_page(site, js_on, code):
    driver = js_on
    problems = []
    fresh(driver, site, f"/c/{PHONE}?lang={code}", 390, 700)
    problems += audit(driver, code, "the fresh page", "form.vote")
    submit(driver, "form.vote button[value=agree]")
    reopen(driver, code)
    problems += audit(driver, code, "after a vote", ".notice")
    submit(driver, ".undo button")
    reopen(driver, code)
    problems += audit(driver, code, "after changing the vote", ".undo")
    # An error the page can reach without scripting: a statement of blanks passes `required`
    # and is refused by the server, which answers with the page and the message.
    driver.execute_script("const f = arguments[0]; const u = new URL(f.action); u.searchParams.set('lang', arguments[1]);"
                          "f.action = u.toString();",
                          driver.find_element(By.ID, "statement-input").find_element(By.XPATH, "./ancestor::form"), code)
    driver.find_element(By.ID, "statement-input").send_keys("   ")
    submit(driver, "form[action*='/statements'] button[type=submit]")
    problems += audit(driver, code, "with an error", ".error")
    # The look-alike check: a seed statement again, in capitals and with other punctuation.
    box = driver.find_element(By.ID, "statement-input")
    box.clear()
    box.send_keys(STATEMENTS[0].upper().rstrip(".") + "!")
    submit(driver, "form[action*='/statements'] button[type=submit]")
    problems += audit(driver, code, "the look-alike check", "section.look-alikes")

    fresh(driver, site, f"/c/{FINISH}?lang={code}", 390, 700)
    for value in ("agree", "disagree"):
        submit(driver, f"form.vote button[value={value}]")
    reopen(driver, code)
    problems += audit(driver, code, "with the completion code", ".completion")
    submit(driver, "form.vote button[value=pass]")
    reopen(driver, code)
    problems += audit(driver, code, "voted on everything", "section.done")
    links = driver.find_elements(By.CSS_SELECTOR, "a.results-link")
    if not links:
        problems.append(f"voted on everything [{code}]: no link to the results")
    else:
        links[0].click()
        wait_loaded(driver)
        reopen(driver, code)
        problems += audit(driver, code, "the results page", "main h1")

    fresh(driver, site, f"/c/{CLOSED}?lang={code}", 390, 700)
    problems += audit(driver, code, "a closed conversation", "section.closed")
    assert not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)


def test_the_language_switch_works_without_javascript(site, js_off):
    driver = js_off
    fresh(driver, site, f"/c/{PHONE}", 390, 700)
    assert driver.find_element(By.TAG_NAME, "html").get_dom_attribute("lang") == "en"
    Select(driver.find_element(By.ID, "language-choice")).select_by_value("de")
    submit(driver, "form.language-switch button[type=submit]")
    html = driver.find_element(By.TAG_NAME, "html")
    assert html.get_dom_attribute("lang") == "de", driver.current_url
    assert "lang=de" in driver.current_url
    # The choice is kept (a cookie) for the pages after a vote's redirect.
    submit(driver, "form.vote button[value=agree]")
    assert driver.find_element(By.TAG_NAME, "html").get_dom_attribute("lang") == "de", driver.current_url
    Select(driver.find_element(By.ID, "language-choice")).select_by_value("ar")
    submit(driver, "form.language-switch button[type=submit]")
    html = driver.find_element(By.TAG_NAME, "html")
    assert (html.get_dom_attribute("lang"), html.get_dom_attribute("dir")) == ("ar", "rtl")
    Select(driver.find_element(By.ID, "language-choice")).select_by_value("en")
    submit(driver, "form.language-switch button[type=submit]")


def test_demographics_are_asked_once_and_stored(site, js_off):
    driver = js_off
    fresh(driver, site, f"/c/{ASKS}", 390, 700)
    assert not driver.find_elements(By.CSS_SELECTOR, "form.demographics"), "asked before the first vote"
    submit(driver, "form.vote button[value=agree]")
    assert driver.find_elements(By.CSS_SELECTOR, "form.demographics"), "not asked after the first vote:\n" + \
        body_text(driver)
    assert "How old are you?" in body_text(driver)
    driver.find_element(By.CSS_SELECTOR, "input[name=q_age][value='40-plus']").click()
    submit(driver, "form.demographics button[value=answer]")
    text = body_text(driver)
    assert driver.find_elements(By.CSS_SELECTOR, "form.vote"), "no statement after answering:\n" + text
    assert driver.find_elements(By.CSS_SELECTOR, "section.my-answers") and "40 or older" in \
        driver.find_element(By.CSS_SELECTOR, "section.my-answers").text, "the stored answer is not shown:\n" + text
    for value in ("disagree", "pass"):
        submit(driver, f"form.vote button[value={value}]")
        assert not driver.find_elements(By.CSS_SELECTOR, "form.demographics"), "asked a second time"
    # Withdrawing deletes the answers and does not ask again.
    submit(driver, "form.delete-answers button[type=submit]")
    assert not driver.find_elements(By.CSS_SELECTOR, "section.my-answers"), "answers still shown after deleting"
    assert not driver.find_elements(By.CSS_SELECTOR, "form.demographics"), "asked again after deleting"


@pytest.mark.parametrize("code", LANGUAGES)
def test_axe_finds_nothing_on_the_demographics_step(site, js_on, code):
    driver = js_on
    fresh(driver, site, f"/c/{ASKS}?lang={code}", 390, 700)
    submit(driver, "form.vote button[value=agree]")
    reopen(driver, code)
    problems = audit(driver, code, "the demographic questions", "form.demographics")
    submit(driver, "form.demographics button[value=skip]")
    reopen(driver, code)
    problems += audit(driver, code, "after skipping the questions", "form.vote")
    assert not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)


def test_a_similar_statement_is_shown_first_and_submit_anyway_stores_it(site, js_off):
    driver = js_off
    fresh(driver, site, f"/c/{SIMILAR}", 390, 700)
    candidates = ["The AI should be honest always.", "The AI should be very honest.",
                  "The AI should really be honest with us.", "The AI should be kind and honest."]
    for text in candidates:
        box = driver.find_element(By.ID, "statement-input")
        box.clear()
        box.send_keys(text)
        submit(driver, "form[action*='/statements'] button[type=submit]")
        if driver.find_elements(By.CSS_SELECTOR, "section.look-alikes"):
            break
    else:
        pytest.fail("none of the similar statements brought up the look-alike check")
    assert "Is your statement already here?" in body_text(driver)
    shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "section.look-alikes blockquote")]
    assert shown and any("honest" in t for t in shown), shown
    submit(driver, "button[name=confirm][value=anyway]")
    assert "done=statement" in driver.current_url, driver.current_url
    # A participant's own statement counts as their agree vote: it is not offered to them again,
    # and a second time the same words are refused by the look-alike check without "anyway".
    driver.find_element(By.ID, "statement-input").send_keys(text.upper())
    submit(driver, "form[action*='/statements'] button[type=submit]")
    assert driver.find_elements(By.CSS_SELECTOR, "section.look-alikes")
    assert not driver.find_elements(By.CSS_SELECTOR, "button[name=confirm][value=anyway]")
