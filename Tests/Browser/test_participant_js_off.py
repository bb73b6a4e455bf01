"""End-to-end browser test: a participant votes with JavaScript switched off.

Runs the real `charter` binary against a fresh SQLite file and drives it with
headless Chromium (JavaScript disabled) through Selenium, then inspects the
database directly.

    python3 -m pytest Tests/Browser -q

Environment:
    CHARTER_BIN         path to the charter executable (default: .build/debug/charter)
    CHARTER_SCREENSHOT  if set, a PNG screenshot of the final page is written there
"""

from __future__ import annotations

import json
import os
import socket
import sys
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from charter_process import stop_process  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
READY_TIMEOUT = 60.0
SEED_COUNT = 20
NEW_STATEMENT = "Browser test statement <b>bold</b> & more"


def _charter_binary() -> Path:
    configured = os.environ.get("CHARTER_BIN")
    path = Path(configured) if configured else REPO_ROOT / ".build" / "debug" / "charter"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"charter executable not found at {path}; run `swift build` first "
            "or set CHARTER_BIN to the binary's path"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log_path: Path, limit: int = 4000) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return text[-limit:] if text else "(server log is empty)"


class Server:
    def __init__(self, binary: Path, workdir: Path):
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database = workdir / "charter.sqlite"
        self.log_path = workdir / "server.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                str(binary), "serve",
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--database", str(self.database),
                "--seed-demo",
            ],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last_error = "no attempt made"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"charter exited with status {self.proc.returncode} before becoming ready.\n"
                    f"Server log:\n{_log_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as response:
                    body = response.read()
                    if response.status == 200:
                        try:
                            json.loads(body)
                        except ValueError:
                            pytest.fail(f"/healthz returned 200 but not JSON: {body[:200]!r}")
                        return
                    last_error = f"HTTP {response.status}"
            except urllib.error.HTTPError as error:
                last_error = f"HTTP {error.code}"
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as error:
                last_error = repr(error)
            time.sleep(0.25)
        pytest.fail(
            f"charter did not answer 200 on {self.base_url}/healthz within {READY_TIMEOUT:.0f} s "
            f"(last result: {last_error}).\nServer log:\n{_log_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Idempotent."""
        stop_process(self.proc, timeout)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server():
    binary = _charter_binary()
    with tempfile.TemporaryDirectory(prefix="charter-browser-test-") as tmp:
        srv = Server(binary, Path(tmp))
        try:
            srv.wait_until_ready()
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
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        drv.set_page_load_timeout(30)
        yield drv
    finally:
        drv.quit()


# ---------------------------------------------------------------------------
# Page helpers


def _assert_javascript_disabled(drv) -> None:
    # With scripting off, <noscript> content is parsed as real elements and inline
    # scripts do not run; with scripting on it is the other way round.
    drv.get(
        "data:text/html,<noscript><p id='ns'>off</p></noscript>"
        "<p id='probe'>static</p>"
        "<script>document.getElementById('probe').textContent='ran'</script>"
    )
    assert drv.find_elements(By.ID, "ns"), "JavaScript appears to be enabled: <noscript> content was not rendered"
    assert drv.find_element(By.ID, "probe").text == "static", "JavaScript appears to be enabled: an inline script ran"


def _current_statement(drv) -> tuple[str, str]:
    forms = drv.find_elements(By.CSS_SELECTOR, "form.vote")
    assert forms, f"no <form class=\"vote\"> on {drv.current_url}; page text:\n{drv.find_element(By.TAG_NAME, 'body').text}"
    form = forms[0]
    assert form.get_dom_attribute("method").lower() == "post", "vote form must use method=post"
    assert "/c/demo/vote" in (form.get_dom_attribute("action") or ""), (
        f"vote form action is {form.get_dom_attribute('action')!r}, expected /c/demo/vote"
    )
    csrf = form.find_element(By.CSS_SELECTOR, "input[type=hidden][name=csrf]").get_dom_attribute("value")
    assert csrf, "vote form has an empty csrf token"
    statement_id = form.find_element(By.CSS_SELECTOR, "input[type=hidden][name=statement]").get_dom_attribute("value")
    assert statement_id, "vote form has an empty statement id"
    text = drv.find_element(By.CSS_SELECTOR, "blockquote#statement-text").text.strip()
    assert text, "statement text (blockquote#statement-text) is empty"
    return statement_id, text


def _progress_text(drv) -> str:
    elements = drv.find_elements(By.CSS_SELECTOR, "p.progress")
    assert elements, f"no <p class=\"progress\"> on {drv.current_url}; the page says: {drv.page_source[:1500]}"
    return " ".join(elements[0].text.split())


def _notice_text(drv) -> str:
    elements = drv.find_elements(By.CSS_SELECTOR, "p.notice")
    assert elements, f"no <p class=\"notice\"> on {drv.current_url}"
    return elements[0].text.strip()


def _wait_for_url(drv, fragment: str) -> None:
    try:
        # The address changes when the navigation commits, before the new page is parsed.
        WebDriverWait(drv, 15).until(
            lambda d: fragment in d.current_url and d.execute_script("return document.readyState") == "complete")
    except Exception:
        pytest.fail(f"expected to be redirected to a URL containing {fragment!r}, but the browser is at {drv.current_url}")


def _save_screenshot(drv) -> None:
    path = os.environ.get("CHARTER_SCREENSHOT")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(path)


# ---------------------------------------------------------------------------
# The test


def test_participant_votes_with_javascript_off(server, driver):
    _assert_javascript_disabled(driver)

    try:
        driver.get(server.base_url + "/c/demo")
        assert _progress_text(driver).endswith(f"0 of {SEED_COUNT} statements"), (
            f"fresh participant should see '0 of {SEED_COUNT} statements', got {_progress_text(driver)!r}"
        )

        recorded: list[tuple[str, int]] = []
        seen_ids: set[str] = set()
        for number, (button, value) in enumerate((("agree", 1), ("disagree", -1), ("pass", 0)), start=1):
            statement_id, text = _current_statement(driver)
            assert statement_id not in seen_ids, (
                f"statement {statement_id} ({text!r}) was shown again after it was voted on"
            )
            seen_ids.add(statement_id)
            recorded.append((statement_id, value))

            driver.find_element(By.CSS_SELECTOR, f"form.vote button[type=submit][name=vote].{button}").click()
            _wait_for_url(driver, "done=vote")
            assert "/c/demo" in driver.current_url, f"vote should redirect back to /c/demo, got {driver.current_url}"

            progress = _progress_text(driver)
            assert f"{number} of {SEED_COUNT} statements" in progress, (
                f"after vote #{number} ({button}) progress should read '{number} of {SEED_COUNT} statements', got {progress!r}"
            )
            assert _notice_text(driver), "a notice should confirm the vote"
            next_id, next_text = _current_statement(driver)
            assert next_id != statement_id, (
                f"after voting {button} on statement {statement_id} the same statement is still shown"
            )

            if number == 1:
                cookie = driver.get_cookie("charter_browser")
                assert cookie is not None, "no charter_browser cookie was set after the first vote"
                assert cookie.get("httpOnly") is True, f"charter_browser cookie must be HttpOnly: {cookie}"

        # Submit a new statement.
        textarea = driver.find_element(By.CSS_SELECTOR, "textarea#statement-input[name=text]")
        form = textarea.find_element(By.XPATH, "./ancestor::form")
        assert "/c/demo/statements" in (form.get_dom_attribute("action") or ""), (
            f"statement form action is {form.get_dom_attribute('action')!r}, expected /c/demo/statements"
        )
        textarea.clear()
        textarea.send_keys(NEW_STATEMENT)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        _wait_for_url(driver, "done=statement")
        notice = _notice_text(driver)
        assert "statement" in notice.lower(), f"unexpected notice after submitting a statement: {notice!r}"
        # Markup typed by the participant must never become markup on the page.
        assert not driver.find_elements(By.XPATH, "//b[normalize-space()='bold']"), (
            "the submitted statement's <b> tag was rendered as HTML (not escaped)"
        )

        _save_screenshot(driver)
    except BaseException:
        try:
            _save_screenshot(driver)
        except Exception:
            pass
        raise

    # Stop the server the way an orchestrator does (SIGTERM): it must shut down gracefully,
    # then the database is inspected directly.
    status = server.stop()
    assert status == 0, f"charter exited with status {status} on SIGTERM, expected a graceful 0"
    assert server.database.exists(), f"database file {server.database} was not created"

    db = sqlite3.connect(server.database)
    try:
        participants = db.execute("SELECT id FROM participant").fetchall()
        assert len(participants) == 1, f"expected exactly one participant row, found {len(participants)}: {participants}"
        participant_id = participants[0][0]

        seeds = db.execute("SELECT COUNT(*) FROM statement WHERE is_seed = 1").fetchone()[0]
        assert seeds == SEED_COUNT, f"expected {SEED_COUNT} seed statements, found {seeds}"

        authored = db.execute(
            "SELECT id, author_id, text, is_seed FROM statement WHERE text = ?", (NEW_STATEMENT,)
        ).fetchall()
        assert len(authored) == 1, (
            f"expected exactly one statement with text {NEW_STATEMENT!r}, found {len(authored)}; "
            f"non-seed statements: {db.execute('SELECT id, text FROM statement WHERE is_seed = 0').fetchall()}"
        )
        new_id, author_id, _, is_seed = authored[0]
        assert author_id == participant_id, f"new statement author_id {author_id!r} != participant {participant_id!r}"
        assert is_seed == 0, f"new statement should have is_seed 0, has {is_seed!r}"

        votes = db.execute(
            "SELECT statement_id, value FROM vote WHERE participant_id = ?", (participant_id,)
        ).fetchall()
        actual = {str(sid): int(value) for sid, value in votes}
        expected = {str(sid): value for sid, value in recorded}
        expected[str(new_id)] = 1
        assert len(votes) == 4, f"expected 4 votes for the participant, found {len(votes)}: {votes}"
        assert actual == expected, f"votes in the database {actual} != expected {expected}"

        total_votes = db.execute("SELECT COUNT(*) FROM vote").fetchone()[0]
        assert total_votes == 4, f"expected 4 rows in vote overall, found {total_votes}"

        events = db.execute("SELECT participant_id, statement_id, value FROM vote_event").fetchall()
        assert len(events) == 4, f"expected exactly 4 rows in vote_event, found {len(events)}: {events}"
        assert all(pid == participant_id for pid, _, _ in events), f"vote_event rows for another participant: {events}"
        event_votes = {str(sid): int(value) for _, sid, value in events}
        assert event_votes == expected, f"vote_event log {event_votes} != expected {expected}"
    finally:
        db.close()
