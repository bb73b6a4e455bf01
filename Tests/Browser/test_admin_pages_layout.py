"""Every organiser page in real Chromium: it loads, it never scrolls sideways on a phone, and
axe-core finds no WCAG 2.2 A/AA violation on it.

Runs the real `charter` binary on a fresh SQLite file, seeds a realistic conversation through
the real API (15 seed statements, 60 participants in two camps voting, participants'
statements waiting for moderation — two of them near-duplicates —, an analysis, two published
constitution versions, a finished comparison run from the stand-in pipeline of the pipeline
tests), signs an organiser in and visits every `/admin` page at 390x900 (a phone) and 1280x900
(a laptop):

  - the page answers 200 and shows its own heading, not the error page;
  - `document.documentElement.scrollWidth` is at most the viewport's width (no sideways
    scrolling; on a failure the elements that stick out are named). The viewport is set through
    DevTools with overlay scrollbars, as on a phone, and without mobile emulation (which would
    zoom a too-wide page out to fit and so hide the overflow). Selenium's execute_script runs
    through DevTools, so the measuring works with the page's own scripting off too;
  - with JavaScript on, axe-core 4.x (the `axe.min.js` the PyPI package `axe-playwright-python`
    ships; scripts/install-deps --test installs it) reports no violation of the rules tagged
    wcag2a, wcag2aa, wcag21a, wcag21aa or wcag22aa (what axe cannot decide, such as the contrast
    of text inside SVG charts or of table cells scrolled out of view, is listed in the report,
    not failed);
  - with JavaScript off (the admin pages work without it), the same layout check. In CI the
    JavaScript-off pass covers the conversation's overview, the moderation queue and the run
    form (the pages an organiser works on from a phone); CHARTER_BROWSER_FULL=1 runs it on
    every page.

`test_every_admin_page_is_visited` fails on a `GET /admin…` route in Sources/CharterHTTP that
is neither in PAGES nor named in NOT_PAGES (downloads).

    python3 -m pytest Tests/Browser/test_admin_pages_layout.py -q -p no:cacheprovider

Environment:
    CHARTER_BIN              the charter executable (default: .build/debug/charter)
    CHARTER_BROWSER_FULL     1: JavaScript off on every page too
    CHARTER_LAYOUT_REPORT    where the list of pages audited and the measurements are written
                             (JSON, and Markdown beside it; default:
                             /tmp/charter-admin-pages-layout.json)
    CHARTER_SCREENSHOT_DIR   if set, every page at each viewport is written there as PNGs (the
                             whole page, in parts of at most 1800 px)
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_process import NO_LIMITS, REPO_ROOT, copy_binary, free_port, log_tail, stop_process  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
READY_TIMEOUT = 60.0
FULL = os.environ.get("CHARTER_BROWSER_FULL") == "1"
REPORT = Path(os.environ.get("CHARTER_LAYOUT_REPORT", "/tmp/charter-admin-pages-layout.json"))
SCREENSHOTS = os.environ.get("CHARTER_SCREENSHOT_DIR")

EMAIL = "organiser@example.org"
PASSWORD = "a browser-test passphrase"
SLUG = "assistant"
EMPTY_SLUG = "empty"
VIEWPORTS = [(1280, 900), (390, 900)]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

SEEDS = [
    "The AI should admit when it does not know the answer.",
    "The AI should refuse to help with anything illegal.",
    "The AI should always follow the user's instructions.",
    "The AI should never express political opinions.",
    "The AI should explain the reasons for its answers.",
    "The AI should treat every user the same, whoever they are.",
    "The AI should protect the privacy of the people it talks about.",
    "The AI should tell users when they are talking to a machine.",
    "The AI should be allowed to joke and use humour.",
    "The AI should prioritise the user's wellbeing over what they ask for.",
    "The AI should give medical advice when asked.",
    "The AI should avoid content that could offend anyone.",
    "The AI should challenge the user when they are wrong.",
    "The AI should keep its answers short.",
    "The AI should be honest even when the truth is unwelcome.",
]
# How the two camps vote on each seed statement: A (camp A agrees, camp B disagrees), B (the
# other way round), C (both agree: consensus), D (both disagree), M (split inside each camp).
# About one vote in seventeen is a pass, one in twenty-five goes against the participant's camp,
# and three participants in four leave the last few statements unvoted.
CAMPS = "CABACBCABDABMBC"
PARTICIPANTS = 60
# Participants' statements, left pending for the moderation queue; the first two are
# near-duplicates of each other (the queue groups them).
SUBMITTED = [
    "The AI should say so when it is not sure of an answer.",
    "The AI should say so when it's not sure of an answer!",
    "The AI should cite its sources so that people can check them.",
    "The AI should never pretend to be a human being, even in role play.",
]


# ---------------------------------------------------------------------------
# The server and its data


def call(port: int, method: str, path: str, body=None, token: str | None = None, cookie: str | None = None,
         timeout: float = 30.0) -> tuple[int, dict, bytes]:
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


class Server:
    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.database = workdir / "charter.sqlite"
        self.log_path = workdir / "server.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        # The stand-in pipeline of the pipeline tests (honours the contract in well under a
        # second), with the reference pipeline's list of parameters beside it, so the run form
        # shows its real fields and the run page has a finished run's table and charts.
        folder = workdir / "pipeline"
        (folder / "charter_pipeline").mkdir(parents=True)
        self.pipeline = folder / "ok-pipeline"
        shutil.copy2(REPO_ROOT / "Tests/CharterPipelineTests/Fixtures/ok-pipeline", self.pipeline)
        parameters = REPO_ROOT / "scripts/pipeline/charter_pipeline/parameters.json"
        if parameters.exists():
            shutil.copy2(parameters, folder / "charter_pipeline" / "parameters.json")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_organiser(self) -> str:
        """The instance's first organiser (an instance admin) and an API token for it."""
        password_file = self.workdir / "password"
        password_file.write_text(PASSWORD + "\n")
        subprocess.run([str(self.binary), "admin", "create-organiser", "--email", EMAIL,
                        "--password-file", str(password_file), "--database", str(self.database)],
                       cwd=REPO_ROOT, check=True, capture_output=True, timeout=120)
        out = subprocess.run([str(self.binary), "admin", "create-token", "--email", EMAIL, "--label", "browser test",
                              "--database", str(self.database)],
                             cwd=REPO_ROOT, check=True, capture_output=True, text=True, timeout=120).stdout
        match = re.search(r"co_[A-Za-z0-9_\-.]+", out)
        assert match, f"create-token printed no co_ token: {out!r}"
        return match.group(0)

    def start(self) -> None:
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--database", str(self.database), "--analysis-interval", "1",
                 "--runs-directory", str(self.workdir / "runs"), "--pipeline-command", str(self.pipeline),
                 *NO_LIMITS],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"charter exited with status {self.proc.returncode} before becoming ready.\n"
                            f"Server log:\n{log_tail(self.log_path)}")
            try:
                status, _, _ = self.request("GET", "/healthz", timeout=2)
                if status == 200:
                    return
                last = f"HTTP {status}"
            except OSError as error:
                last = repr(error)
            time.sleep(0.05)
        pytest.fail(f"charter did not answer 200 on /healthz within {READY_TIMEOUT:.0f} s (last: {last}).\n"
                    f"Server log:\n{log_tail(self.log_path)}")

    def request(self, method: str, path: str, body=None, token=None, cookie=None, timeout: float = 30.0):
        return call(self.port, method, path, body, token, cookie, timeout)

    def api(self, method: str, path: str, body=None, token=None, expect=(200, 201)):
        status, headers, payload = self.request(method, path, body, token)
        assert status in expect, f"{method} {path}: HTTP {status} {payload[:500]!r}"
        return json.loads(payload) if payload and "json" in headers.get("content-type", "") else None

    def stop(self) -> int | None:
        return stop_process(self.proc, 30) if self.proc is not None else None


def wait_for(what: str, probe, timeout: float = 60.0, server: Server | None = None):
    """Polls `probe` until it returns something truthy, against a deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    log = f"\nServer log:\n{log_tail(server.log_path)}" if server else ""
    pytest.fail(f"{what} did not happen within {timeout:.0f} s{log}")


@dataclass
class Seeded:
    token: str
    seeds: list[int]
    submitted: list[int]
    versions: list[dict]
    run: int


def vote_of(participant: int, statement: int) -> str | None:
    """Participant `participant`'s vote on seed `statement` (None: not voted)."""
    if statement >= len(SEEDS) - (participant // 2) % 4:
        return None
    noise = (participant * 37 + statement * 101 + participant * statement * 7) % 50
    if noise < 3:
        return "pass"
    camp_a = participant % 2 == 0
    against = noise < 5
    kind = CAMPS[statement]
    if kind == "C":
        agrees = True
    elif kind == "D":
        agrees = False
    elif kind == "M":
        agrees = (participant // 2) % 2 == 0
    else:
        agrees = camp_a == (kind == "A")
    if against:
        agrees = not agrees
    return "agree" if agrees else "disagree"


def seed(server: Server, token: str) -> Seeded:
    api = server.api
    base = f"/api/v1/conversations/{SLUG}"
    api("POST", "/api/v1/conversations", {
        "slug": SLUG, "title": "How should an AI assistant behave?",
        "question": "Which of these should an AI assistant do? Vote on each statement, or add your own.",
        "description": "A consultation on the principles an AI assistant is trained on.",
        "strict_moderation": True}, token=token)
    api("POST", "/api/v1/conversations", {
        "slug": EMPTY_SLUG, "title": "A conversation nobody has joined yet",
        "question": "What should the town spend on first?"}, token=token)
    added = api("POST", f"{base}/seeds", {"statements": SEEDS}, token=token)["added"]
    # Demographic questions with targets: their page, and the analysis page's make-up tables.
    api("PUT", f"{base}/demographics", {"after_votes": 1, "questions": [
        {"key": "age", "text": {"en": "How old are you?", "de": "Wie alt sind Sie?"},
         "options": [{"key": "18-39", "label": {"en": "18 to 39"}}, {"key": "40-64", "label": {"en": "40 to 64"}},
                     {"key": "65-plus", "label": {"en": "65 or older"}}],
         "targets": {"18-39": 0.35, "40-64": 0.4, "65-plus": 0.25}},
        {"key": "region", "text": {"en": "Where do you live?"},
         "options": [{"key": "north", "label": {"en": "North"}}, {"key": "south", "label": {"en": "South"}}]}]},
        token=token)
    seeds = [s["id"] for s in added]
    assert len(seeds) == len(SEEDS)

    def participant(i: int) -> str:
        return api("POST", f"{base}/participants", {})["token"]

    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(participant, range(PARTICIPANTS)))

        def votes(i: int) -> None:
            for j, statement in enumerate(seeds):
                vote = vote_of(i, j)
                if vote:
                    api("POST", f"{base}/votes", {"statement": statement, "vote": vote}, token=tokens[i])

        list(pool.map(votes, range(PARTICIPANTS)))
    submitted = []
    for i, text in enumerate(SUBMITTED + ["Buy cheap watches at example dot com."]):
        body = api("POST", f"{base}/statements", {"text": text}, token=tokens[i])
        submitted.append(body.get("id") or body["statement"]["id"])
    # One moderated already (rejected, with its reason), so the audit log and the statement's
    # history have a moderation in them; the others wait in the queue.
    api("POST", f"{base}/moderation", {"statements": [submitted[-1]], "action": "reject", "reason": "spam"},
        token=token)

    def analysed():
        body = api("GET", f"{base}/analysis", token=token)
        return body if body.get("status") == "ready" and analysed_participants(body) >= PARTICIPANTS else None

    wait_for("the analysis of all 60 participants", analysed, server=server)
    versions = []
    for rule, threshold in (("polis-gac", 0.6), ("ccai", 0.72)):
        version = api("POST", f"{base}/constitutions", {"rule": rule, "threshold": threshold}, token=token,
                      expect=(201,))
        versions.append(version)
    run = api("POST", "/api/v1/runs", {"constitution_id": versions[0]["id"], "profile": "smoke", "seed": 7},
              token=token, expect=(201,))

    def finished():
        state = api("GET", f"/api/v1/runs/{run['id']}", token=token).get("state")
        return state if state in ("succeeded", "failed", "cancelled") else None

    state = wait_for(f"comparison run {run['id']} finishing", finished, server=server)
    assert state == "succeeded", f"the stand-in pipeline's run ended {state}; server log:\n{log_tail(server.log_path)}"
    return Seeded(token, seeds, submitted[:-1], versions, run["id"])


def analysed_participants(body: dict) -> int:
    """How many participants the stored analysis covers."""
    return int((body.get("analysis") or {}).get("participant_count") or 0)


# ---------------------------------------------------------------------------
# The pages


@dataclass
class Page:
    name: str
    route: str  # the route as Sources declares it, under /admin
    path: object  # Seeded -> the path visited
    heading: str  # a regular expression the page's <h1> matches
    js_off_in_ci: bool = False  # JavaScript off in CI too (else only with CHARTER_BROWSER_FULL=1)
    signed_out: bool = False


CONVERSATION = "/admin/conversations/{slug}"
PAGES = [
    Page("sign-in", "/admin/login", lambda s: "/admin/login", r"^Organiser sign-in$", signed_out=True),
    Page("conversations", "/admin", lambda s: "/admin", r"^Conversations$"),
    Page("new conversation", "/admin/conversations/new", lambda s: "/admin/conversations/new", r"^New conversation$"),
    Page("overview and settings", CONVERSATION, lambda s: f"/admin/conversations/{SLUG}",
         r"^How should an AI assistant behave\?$", js_off_in_ci=True),
    Page("overview of an empty conversation", CONVERSATION, lambda s: f"/admin/conversations/{EMPTY_SLUG}",
         r"^A conversation nobody has joined yet$"),
    Page("moderation queue", CONVERSATION + "/moderation", lambda s: f"/admin/conversations/{SLUG}/moderation",
         r"^Moderation: ", js_off_in_ci=True),
    Page("analysis (opinion map)", CONVERSATION + "/analysis", lambda s: f"/admin/conversations/{SLUG}/analysis",
         r"^Opinion map: "),
    Page("analysis of an empty conversation", CONVERSATION + "/analysis",
         lambda s: f"/admin/conversations/{EMPTY_SLUG}/analysis", r"^Opinion map: "),
    Page("demographic questions", CONVERSATION + "/demographics",
         lambda s: f"/admin/conversations/{SLUG}/demographics", r"^Demographic questions: "),
    Page("statement", CONVERSATION + "/statements/{statement}",
         lambda s: f"/admin/conversations/{SLUG}/statements/{s.seeds[0]}", r"^Statement \d+$"),
    Page("constitution builder", CONVERSATION + "/constitution",
         lambda s: f"/admin/conversations/{SLUG}/constitution", r"^Constitution builder: "),
    Page("constitution version", CONVERSATION + "/constitution/versions/{version}",
         lambda s: f"/admin/conversations/{SLUG}/constitution/versions/{s.versions[0]['version']}",
         r": constitution version 1$"),
    Page("versions diff", CONVERSATION + "/constitution/diff",
         lambda s: f"/admin/conversations/{SLUG}/constitution/diff?from={s.versions[0]['version']}"
                   f"&to={s.versions[1]['version']}", r": changes from version 1 to version 2$"),
    Page("comparison runs and the run form", "/admin/runs",
         lambda s: f"/admin/runs?constitution={s.versions[0]['id']}", r"^Comparison runs$", js_off_in_ci=True),
    Page("comparison run", "/admin/runs/{id}", lambda s: f"/admin/runs/{s.run}", r"^Run \d+: "),
    Page("audit log", "/admin/audit", lambda s: "/admin/audit", r"^Audit log$"),
    Page("organisers", "/admin/organisers", lambda s: "/admin/organisers", r"^Organisers$"),
    Page("API tokens", "/admin/tokens", lambda s: "/admin/tokens", r"^API tokens$"),
]
# Admin routes that answer with a file, not a page.
NOT_PAGES = {
    CONVERSATION + "/analysis/statements.csv": "a CSV download",
    CONVERSATION + "/analysis/participants.csv": "a CSV download",
    CONVERSATION + "/export/polis": "a zip download",
    "/admin/constitutions/{id}": "a download (json, md, cai, txt)",
    "/admin/constitutions/{id}/diff/{other}": "versions of one conversation: a redirect to the versions diff page",
    "/admin/runs/{id}/artefact": "a run's file, downloaded",
}
JS_OFF_PAGES = PAGES if FULL else [p for p in PAGES if p.js_off_in_ci]


def declared_admin_pages() -> set[str]:
    """Every GET route under /admin: the route collections Application.swift adds at adminPath,
    read from the structs that declare them."""
    sources = REPO_ROOT / "Sources" / "CharterHTTP"
    app = (sources / "Application.swift").read_text()
    variables = dict(re.findall(r"let (\w+) = (\w+)\(services: services\)", app))
    texts = {path: path.read_text() for path in sources.rglob("*.swift")}
    declared = set()
    for owner, collection in re.findall(r"(\w+)(?:\(services: services\))?\.(\w+), atPath: adminPath\)", app):
        type_name = variables.get(owner, owner)
        bodies = [text for text in texts.values()
                  if re.search(rf"\b(struct|extension) {type_name}\b", text)]
        assert bodies, f"Application.swift adds {owner}.{collection} at /admin, but no struct {type_name} was found"
        for text in bodies:
            for block in re.findall(rf"var {collection}: RouteCollection<\w+> \{{(.*?)\n    \}}", text, re.S):
                for route in re.findall(r'\.get\("([^"]*)"', block):
                    declared.add("/admin" + ("/" + route if route else ""))
    return declared


# ---------------------------------------------------------------------------
# Chromium


AXE: dict[str, str] = {}  # the loaded axe.min.js ("source") and its version


def axe_source() -> str:
    if "source" in AXE:
        return AXE["source"]
    import importlib.util
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("axe-core is missing: `python3 -m pip install --no-deps axe-playwright-python` "
                    "(scripts/install-deps --test does it)")
    path = Path(list(spec.submodule_search_locations)[0]) / "axe.min.js"
    source = path.read_text()
    version = re.match(r"/\*! axe v(4\.[\d.]+)", source)
    assert version, f"{path} is not axe-core 4.x: {source[:40]!r}"
    AXE.update(source=source, version=version.group(1))
    return source


def chromium(javascript: bool):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            pytest.fail(f"{path} is missing; install the Debian packages chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --hide-scrollbars: a phone's scrollbars overlay the page, so the page is laid out in the
    # whole 390 px; the viewport is then set through DevTools (mobile: false, so that a page
    # wider than the screen is not zoomed out to fit, which would hide the overflow).
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
                     "--window-size=1280,900"):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    return driver


def set_viewport(driver, width: int, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def javascript_runs(driver) -> bool:
    """Whether the page's own scripts run (with scripting off, <noscript> content is parsed as
    elements and an inline script does not run)."""
    driver.get("data:text/html,<noscript><p id='ns'>off</p></noscript><p id='probe'>static</p>"
               "<script>document.getElementById('probe').textContent='ran'</script>")
    ran = driver.find_element(By.ID, "probe").text == "ran"
    assert ran != bool(driver.find_elements(By.ID, "ns")), "<noscript> and the inline script disagree"
    return ran


def sign_in(driver, base_url: str) -> None:
    driver.get(base_url + "/admin/login")
    driver.find_element(By.ID, "email").send_keys(EMAIL)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/admin/login'] button[type=submit]").click()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if urllib.parse.urlsplit(driver.current_url).path == "/admin" and \
                driver.execute_script("return document.readyState") == "complete":
            break
        time.sleep(0.05)
    heading = " ".join(e.text for e in driver.find_elements(By.TAG_NAME, "h1"))
    assert urllib.parse.urlsplit(driver.current_url).path == "/admin" and heading == "Conversations", (
        f"signing in as {EMAIL} did not land on /admin: at {driver.current_url}, h1 {heading!r}")


# What a page measures: its width against the viewport's, and the outermost elements that stick
# out past the viewport's right edge (not counting those inside a container that scrolls or
# clips them, which the page itself does not).
MEASURE = """
const doc = document.documentElement;
const width = doc.clientWidth;
const inContainer = el => {
  for (let a = el.parentElement; a && a !== document.body && a !== doc; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') return true;
  }
  return false;
};
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
  (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
const sticking = [];
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.right <= width + 0.5 || inContainer(el)) continue;
  const p = el.parentElement && el.parentElement.getBoundingClientRect();
  if (p && p.right > width + 0.5 && el.parentElement !== document.body) continue;
  sticking.push(name(el) + ' (' + Math.round(r.left) + '..' + Math.round(r.right) + ' px): ' +
    (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60));
  if (sticking.length >= 8) break;
}
return {scrollWidth: doc.scrollWidth, clientWidth: width, innerWidth: window.innerWidth,
        scrollHeight: doc.scrollHeight, title: document.title,
        h1: Array.from(document.querySelectorAll('h1')).map(h => h.textContent.trim().replace(/\\s+/g, ' ')),
        sticking: sticking};
"""

RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})
  .then(r => done({
    violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 300), summary: n.failureSummary}))})),
    passes: r.passes.length,
    incomplete: r.incomplete.map(v => ({id: v.id, nodes: v.nodes.map(n => ({target: n.target,
      why: ((n.any[0] || n.all[0] || n.none[0] || {}).message || '').slice(0, 200)}))}))}))
  .catch(e => done({error: String(e)}));
"""


def cookie_header(driver) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())


def screenshot(driver, page: Page, javascript: bool, width: int, height: int) -> None:
    """The whole page as PNGs in CHARTER_SCREENSHOT_DIR, in parts of at most 1800 px."""
    if not SCREENSHOTS:
        return
    import base64
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{re.sub(r'[^a-z0-9]+', '-', page.name.lower()).strip('-')}-{width}-js-{'on' if javascript else 'off'}"
    for part, top in enumerate(range(0, height, 1800), start=1):
        png = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": top, "width": width, "height": min(1800, height - top), "scale": 1}})
        (folder / f"{stem}-{part}.png").write_bytes(base64.b64decode(png["data"]))


# ---------------------------------------------------------------------------
# Fixtures

RESULTS: list[dict] = []


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("charter-admin-layout")
    try:
        binary = copy_binary(workdir)
    except FileNotFoundError as error:
        pytest.fail(str(error))
    server = Server(binary, workdir)
    token = server.create_organiser()
    server.start()
    started = time.monotonic()
    try:
        seeded = seed(server, token)
        server.seed_seconds = time.monotonic() - started
        yield server, seeded
    finally:
        status = server.stop()
        write_report(server)
        print(f"server log: {server.log_path} (exit status {status})")


def write_report(server: Server) -> None:
    if not RESULTS:
        return
    report = {
        "axe": "axe-core " + AXE.get("version", "(not loaded)"),
        "axe_tags": AXE_TAGS, "viewports": [f"{w}x{h}" for w, h in VIEWPORTS], "full": FULL,
        "seeding_seconds": round(getattr(server, "seed_seconds", 0.0), 1), "pages": RESULTS,
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Admin pages: layout and accessibility ({report['axe']}, tags {', '.join(AXE_TAGS)})", "",
             "| page | path | JS | viewport | scrollWidth | innerWidth | fits | axe violations | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in RESULTS:
        axe = "-" if r["axe_violations"] is None else str(len(r["axe_violations"]))
        lines.append(f"| {r['page']} | `{r['path']}` | {'on' if r['javascript'] else 'off'} | {r['viewport']} | "
                     f"{r['scrollWidth']} | {r['innerWidth']} | {'yes' if r['fits'] else '**no**'} | {axe} | "
                     f"{r['seconds']} |")
    REPORT.with_suffix(".md").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def js_on(site):
    server, _ = site
    driver = chromium(javascript=True)
    try:
        assert javascript_runs(driver), "scripts do not run in the JavaScript-on browser"
        sign_in(driver, server.base_url)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def js_off(site):
    server, _ = site
    driver = chromium(javascript=False)
    try:
        assert not javascript_runs(driver), "scripts run in the JavaScript-off browser"
        sign_in(driver, server.base_url)
        yield driver
    finally:
        driver.quit()


# ---------------------------------------------------------------------------
# The tests


def visit(server: Server, seeded: Seeded, driver, page: Page, javascript: bool) -> None:
    path = page.path(seeded)
    saved = driver.get_cookies() if page.signed_out else None
    if page.signed_out:
        driver.delete_all_cookies()
    problems = []
    try:
        status, headers, _ = server.request("GET", path, cookie=cookie_header(driver) or None)
        if status != 200 or not headers.get("content-type", "").startswith("text/html"):
            problems.append(f"GET {path} answered HTTP {status} {headers.get('content-type')!r}, expected a 200 page")
        source = axe_source() if javascript else None
        for width, height in VIEWPORTS:
            started = time.monotonic()
            set_viewport(driver, width, height)
            driver.get(server.base_url + path)
            where = f"{page.name} ({path}) at {width}x{height}, JavaScript {'on' if javascript else 'off'}"
            landed = urllib.parse.urlsplit(driver.current_url)
            if landed.path != urllib.parse.urlsplit(path).path:
                problems.append(f"{where}: the browser ended at {driver.current_url}")
            m = driver.execute_script(MEASURE)
            if not any(re.search(page.heading, h) for h in m["h1"]):
                problems.append(f"{where}: no <h1> matching {page.heading!r} (h1: {m['h1']}, title {m['title']!r})")
            fits = m["scrollWidth"] <= m["clientWidth"] and m["scrollWidth"] <= m["innerWidth"]
            if not fits:
                problems.append(f"{where}: the page scrolls sideways: document width {m['scrollWidth']} px > "
                                f"viewport {m['clientWidth']} px; sticking out:\n      " + "\n      ".join(m["sticking"]))
            violations = None
            if javascript:
                driver.execute_script(source)
                result = driver.execute_async_script(RUN_AXE, AXE_TAGS)
                if "error" in result:
                    problems.append(f"{where}: axe-core failed: {result['error']}")
                    violations = []
                else:
                    violations = result["violations"]
                for v in violations:
                    nodes = "\n        ".join(f"{' '.join(map(str, n['target']))}  {n['html'][:160]}"
                                              for n in v["nodes"][:6])
                    problems.append(f"{where}: axe {v['id']} ({v['impact']}): {v['help']}; "
                                    f"{len(v['nodes'])} node(s):\n        {nodes}")
            screenshot(driver, page, javascript, m["clientWidth"], m["scrollHeight"])
            RESULTS.append({
                "page": page.name, "route": page.route, "path": path, "javascript": javascript,
                "viewport": f"{width}x{height}", "scrollWidth": m["scrollWidth"], "innerWidth": m["innerWidth"],
                "clientWidth": m["clientWidth"], "fits": fits, "h1": m["h1"],
                "axe_violations": None if violations is None else
                [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]} for v in violations],
                "axe_passes": result.get("passes") if javascript else None,
                "axe_incomplete": result.get("incomplete") if javascript else None,
                "seconds": round(time.monotonic() - started, 2)})
    finally:
        if saved is not None:
            for cookie in saved:
                driver.add_cookie({k: v for k, v in cookie.items() if k in
                                   ("name", "value", "path", "domain", "secure", "httpOnly", "expiry", "sameSite")})
    assert not problems, f"{len(problems)} problem(s) on {page.name}:\n  " + "\n  ".join(problems)


def test_every_admin_page_is_visited():
    declared = declared_admin_pages()
    assert len(declared) >= 15, f"found only {sorted(declared)} in Sources/CharterHTTP: is the route reader stale?"
    visited = {p.route for p in PAGES}
    missing = sorted(declared - visited - set(NOT_PAGES))
    assert not missing, "admin pages this test does not visit; add them to PAGES (or NOT_PAGES): " + ", ".join(missing)
    stale = sorted((visited | set(NOT_PAGES)) - declared)
    assert not stale, "PAGES or NOT_PAGES name routes Sources/CharterHTTP no longer declares: " + ", ".join(stale)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_admin_page_with_javascript(site, js_on, page):
    server, seeded = site
    visit(server, seeded, js_on, page, javascript=True)


@pytest.mark.parametrize("page", JS_OFF_PAGES, ids=[p.name for p in JS_OFF_PAGES])
def test_admin_page_without_javascript(site, js_off, page):
    server, seeded = site
    visit(server, seeded, js_off, page, javascript=False)


def test_the_checks_catch_what_they_look_for(js_on):
    """The harness itself: on a page that is too wide for a phone and has an image without a
    text alternative, the measuring names the overflow and axe-core reports the violation."""
    set_viewport(js_on, 390, 900)
    js_on.get("data:text/html,<!doctype html><html lang=en><title>bad</title><main><h1>Bad</h1>"
              "<div id=wide style='width:600px'>too wide</div><img src='data:,' width=10 height=10></main>")
    m = js_on.execute_script(MEASURE)
    assert m["scrollWidth"] > m["clientWidth"] == 390, f"the overflow was not measured: {m}"
    assert any(s.startswith("div#wide") for s in m["sticking"]), f"the wide element was not named: {m['sticking']}"
    js_on.execute_script(axe_source())
    result = js_on.execute_async_script(RUN_AXE, AXE_TAGS)
    assert "error" not in result, result
    assert "image-alt" in {v["id"] for v in result["violations"]}, f"axe-core missed image-alt: {result['violations']}"


# ---------------------------------------------------------------------------
# The desk's fixes, as an organiser meets them in the browser (JavaScript on and off)


@pytest.fixture(params=["javascript on", "javascript off"])
def driver(request, site):
    return request.getfixturevalue("js_on" if request.param == "javascript on" else "js_off")


def versions_of(server: Server, token: str) -> list[dict]:
    return server.api("GET", f"/api/v1/conversations/{SLUG}/constitutions", token=token)["constitutions"]


def test_publishing_the_same_constitution_again_says_nothing_changed(site, driver):
    server, seeded = site
    builder = f"{server.base_url}/admin/conversations/{SLUG}/constitution?rule=ccai&threshold=0.72"

    def publish() -> str:
        driver.get(builder)
        driver.find_element(By.CSS_SELECTOR, f'form[action="/admin/conversations/{SLUG}/constitutions"] '
                                             'button[type="submit"]').click()
        # The builder itself says "Published versions": wait for the answer's address instead.
        WebDriverWait(driver, 20).until(lambda d: "done=" in d.current_url)
        return driver.find_element(By.CSS_SELECTOR, "p.notice").text

    # The first may publish (a re-analysis since the seeding's versions changes the content);
    # the same again, with nothing changed in between, must not.
    publish()
    before = versions_of(server, seeded.token)
    latest = max(v["version"] for v in before)
    notice = publish()
    assert notice == f"Nothing changed since version {latest}, so no new version was published.", notice
    assert versions_of(server, seeded.token) == before, "publishing the same content stored a version"


def test_the_builder_labels_the_groups_as_the_analysis_page_does(site, driver):
    server, seeded = site
    driver.get(f"{server.base_url}/admin/conversations/{SLUG}/analysis")
    # The analysis page's table: statement id, then "Group X agree" columns in order.
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.statements thead th")]
    group_columns = [h.split()[1] for h in headers if h.startswith("Group ")]
    assert group_columns[:2] == ["A", "B"], headers
    page_shares = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "table.statements tbody tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if len(cells) < 7 + len(group_columns):
            continue
        page_shares[cells[0].text] = [c.text for c in cells[7:7 + len(group_columns)]]
    driver.get(f"{server.base_url}/admin/conversations/{SLUG}/constitution?rule=polis-gac&threshold=0")
    note = driver.find_element(By.CSS_SELECTOR, "p.groups-note").text
    assert note.startswith(f"The rule runs over the {len(group_columns)} opinion groups of the analysis page"), note
    checked = 0
    for principle in driver.find_elements(By.CSS_SELECTOR, "p.sources"):
        shares = [s.text for s in principle.find_elements(By.CSS_SELECTOR, "span.share")]
        section = principle.find_element(By.XPATH, "./ancestor::*[self::section or self::article or self::li][1]")
        lead = re.search(r"principles/(\d+)", section.get_attribute("innerHTML"))
        if not lead or lead.group(1) not in page_shares:
            continue
        assert shares == [f"{label} {share}" for label, share in zip(group_columns, page_shares[lead.group(1)])]
        checked += 1
    assert checked >= 1, "no principle of the builder could be matched with the analysis page"


def test_the_run_form_refuses_a_bad_parameter_before_queueing(site, driver):
    server, seeded = site
    before = server.api("GET", "/api/v1/runs", token=seeded.token)
    driver.get(f"{server.base_url}/admin/runs")
    field = driver.find_element(By.CSS_SELECTOR, 'input#param-prompts')
    # The browser's own check (min="1") would stop the form; the server must refuse it too.
    driver.execute_script("arguments[0].removeAttribute('min'); arguments[0].value = '-3';", field)
    driver.find_element(By.CSS_SELECTOR, 'form[action="/admin/runs"] button[type="submit"]').click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "p.error, .field-error"))
    text = " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, "p.error, .field-error"))
    assert "prompts" in text, text
    assert driver.find_element(By.CSS_SELECTOR, 'input#param-prompts').get_attribute("aria-invalid") == "true"
    assert server.api("GET", "/api/v1/runs", token=seeded.token) == before, "a refused run was queued"


def test_merging_a_principle_into_another_keeps_the_targets_wording_and_score(site, driver):
    server, _ = site
    builder = f"{server.base_url}/admin/conversations/{SLUG}/constitution?rule=polis-gac&threshold=0"
    driver.get(builder)

    def principles() -> dict[str, dict]:
        found = {}
        for item in driver.find_elements(By.CSS_SELECTOR, "ol.principles > li"):
            lead = item.find_element(By.CSS_SELECTOR, "textarea").get_attribute("id").removeprefix("wording-")
            score = item.find_element(By.CSS_SELECTOR, "p.sources span").get_attribute("title")
            sources = re.findall(r"\(#(\d+)\)", item.find_element(By.CSS_SELECTOR, "ul.sources").text)
            found[lead] = {"score": float(score), "sources": sources,
                           "text": item.find_element(By.CSS_SELECTOR, "textarea").get_attribute("value")}
        return found

    before = principles()
    assert len(before) >= 2, "the builder shows fewer than two principles to merge"
    # Merge the best-scoring principle into a weaker one: the target must still lead it.
    ranked = sorted(before, key=lambda lead: before[lead]["score"], reverse=True)
    merged, target = ranked[0], ranked[-1]
    form = driver.find_element(By.CSS_SELECTOR, f'form[action$="/principles/{merged}/grouping"].filters')
    form.find_element(By.CSS_SELECTOR, f'select[name="into"] option[value="{target}"]').click()
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    WebDriverWait(driver, 20).until(lambda d: "done=regrouped" in d.current_url)
    driver.get(builder)
    after = principles()
    try:
        assert merged not in after, "the merged principle still leads one of its own"
        assert merged in after[target]["sources"], after[target]
        assert after[target]["score"] == before[target]["score"], "the target lost its own score"
        assert after[target]["text"] == before[target]["text"], "the target lost its own wording"
    finally:
        # Back to automatic merging, so the other tests see the builder as it was.
        driver.get(builder)
        undo = driver.find_elements(By.CSS_SELECTOR, f'form[action$="/principles/{merged}/grouping"] '
                                                     'button[value="automatic"]')
        if undo:
            undo[0].click()
            WebDriverWait(driver, 20).until(lambda d: "done=regrouped" in d.current_url)
