"""Fixtures for the browser tests: the built page, the local stack serving it, and headless
Chromium (Debian's, at /usr/bin/chromium) driven by Playwright's sync API.

Tests select elements the way people find them: by role and accessible name, or by label.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import ROOT, Stack, build_frontend, start_stack

CHROMIUM = Path(os.environ.get("OMNICHAT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
TEST_MODEL = "ollama/omnichat-test:latest"
PASSWORD = "correct horse battery"
ADMIN_EMAIL = "admin@example.com"
DESKTOP = {"width": 1280, "height": 820}
PHONE = {"width": 375, "height": 740}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="package")
def dist() -> Path:
    return build_frontend()


@pytest.fixture(scope="package")
def stack(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture(scope="package")
def admin(stack: Stack) -> dict[str, Any]:
    """The platform's first user (an admin), signed up over REST with the test model as
    their default. The first-user flow itself is tested through the page, on its own stack."""
    session = stack.sign_up(ADMIN_EMAIL, PASSWORD, "Ada Admin")
    assert session["user"]["role"] == "admin"
    return session


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is active, and every later test calling asyncio.run() would fail.
@pytest.fixture(scope="package")
def playwright_browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a setup problem, said plainly
        pytest.fail("playwright is not installed: add `playwright` to the test extra (pip install playwright)")
    from playwright.sync_api import expect

    # Generous: the suite shares the machine with the rest of `make test`.
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def tab_kind(viewport: dict[str, int], dark: bool) -> tuple[int, int, bool]:
    """What makes tabs interchangeable: the viewport and the colour scheme."""
    return viewport["width"], viewport["height"], dark


@dataclass
class Tab:
    """A pooled page and its context. Its listeners report to `watch`, the problem list of
    the test that holds it (None between tests: what an idle page says is nobody's)."""
    context: Any
    page: Any
    viewport: dict[str, int]
    dark: bool
    watch: list[str] | None = None

    @property
    def kind(self) -> tuple[int, int, bool]:
        return tab_kind(self.viewport, self.dark)

    def report(self, problem: str) -> None:
        if self.watch is not None:
            self.watch.append(problem)


@dataclass
class TabPool:
    """A page costs Chromium ~1.9 s of CPU in a new context (its first load compiles the
    page's scripts with empty caches) and ~0.3 s in a tab that loaded it before, so
    tests borrow idle tabs of the same viewport and colour scheme. Between tests a tab is
    emptied: its origin's storage, cookies, permissions, routes, offline mode and viewport
    reset, and it rests on a file of the page that runs no script (no socket stays open)."""
    browser: Any
    url: str
    idle: dict[tuple[int, int, bool], list[Tab]] = field(default_factory=dict)

    def borrow(self, viewport: dict[str, int], dark: bool) -> Tab:
        tabs = self.idle.get(tab_kind(viewport, dark))
        return tabs.pop() if tabs else self.open(viewport, dark)

    def open(self, viewport: dict[str, int], dark: bool) -> Tab:
        context = self.browser.new_context(viewport=viewport, base_url=self.url,
                                           color_scheme="dark" if dark else "light")
        context.set_default_timeout(20_000)
        tab = Tab(context, context.new_page(), viewport, dark)
        report_csp_violations(context, tab.report)
        tab.page.on("pageerror", lambda exc: tab.report(f"page error: {exc}"))
        tab.page.on("console", lambda msg: msg.type == "error" and not _expected_console_error(msg.text)
                    and tab.report(f"console error: {msg.text}"))
        tab.page.goto(RESTING)
        return tab

    def give_back(self, tab: Tab) -> None:
        tab.watch = None
        try:
            for page in tab.context.pages:
                if page is not tab.page:
                    page.close()
            tab.page.unroute_all(behavior="ignoreErrors")
            tab.context.set_offline(False)
            tab.context.clear_permissions()
            tab.context.clear_cookies()
            tab.page.set_viewport_size(tab.viewport)
            tab.page.goto(RESTING)
            tab.page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
        except Exception:  # noqa: BLE001 - a tab that cannot be emptied is closed, not reused
            self.discard(tab)
            return
        self.idle.setdefault(tab.kind, []).append(tab)

    @staticmethod
    def discard(tab: Tab) -> None:
        tab.watch = None
        tab.context.close()

    def close(self) -> None:
        for tabs in self.idle.values():
            for tab in tabs:
                self.discard(tab)


# What a test's page starts with in the origin's storage (the tab is empty before).
SEED = "(seeds) => { for (const [k, v] of Object.entries(seeds)) if (v) localStorage.setItem(k, v); }"
# A file of the page that runs no script: where a pooled tab rests, and the origin its
# storage is seeded on before the test's first navigation.
RESTING = "/favicon.svg"


@pytest.fixture(scope="package")
def tab_pool(playwright_browser: Any, stack: Stack) -> Iterator[TabPool]:
    pool = TabPool(playwright_browser, stack.url)
    yield pool
    pool.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def new_page(tab_pool: TabPool, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """new_page(token=None, viewport=DESKTOP, dark=False, model=TEST_MODEL, fresh=False) ->
    a Page on the stack, at a blank file of it; with a token it starts signed in, with a model
    that model is picked. Console errors, uncaught exceptions and Content-Security-Policy
    violations fail the test, but for the directives a test names with
    `new_page.expect_csp_violation(directive)` (a test that attacks the page on purpose).

    Pages are borrowed from `tab_pool`. A test that adds what cannot be taken back (listeners
    on the page, init scripts, socket routes, exposed functions) asks for `fresh=True`: a new
    context of its own, closed after the test. The tabs of a test that failed are closed too."""
    borrowed: list[Tab] = []
    own: list[Tab] = []
    problems: list[str] = []
    expected_csp: set[str] = set()

    def make(token: str | None = None, viewport: dict[str, int] = DESKTOP, dark: bool = False,
             model: str | None = TEST_MODEL, fresh: bool = False) -> Any:
        if fresh:
            tab = tab_pool.open(viewport, dark)
            own.append(tab)
        else:
            tab = tab_pool.borrow(viewport, dark)
            borrowed.append(tab)
        tab.watch = problems
        tab.page.evaluate(SEED, {"omnichat.token": token, "omnichat.model": model})
        return tab.page

    make.expect_csp_violation = expected_csp.add  # type: ignore[attr-defined]
    yield make
    failed = request.node.stash.get(FAILED, False)
    for tab in borrowed:
        if failed:
            tab_pool.discard(tab)
        else:
            tab_pool.give_back(tab)
    for tab in own:
        tab_pool.discard(tab)
    assert not unexpected(problems, expected_csp), "\n".join(problems)


def unexpected(problems: list[str], expected_csp: set[str]) -> list[str]:
    """The problems a test did not ask for. The violation events name their directive; once
    an expected one was heard, Chromium's console copies of CSP reports are left to them."""
    heard = [p for p in problems if p.startswith("CSP violation: ") and p.split()[2] in expected_csp]
    return [p for p in problems if p not in heard and not (heard and "Content Security Policy" in p)]


# Every page reports what its Content-Security-Policy blocked (Chromium also logs it as a
# console error; the event carries the directive and the blocked source).
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => window.__omnichatCspViolation(
  `${e.effectiveDirective} blocked ${e.blockedURI || 'an inline source'}`
  + ` (${e.sourceFile || 'the page'}:${e.lineNumber}:${e.columnNumber})`));
"""


def report_csp_violations(context: Any, report: Callable[[str], Any]) -> None:
    """Report every CSP violation of the context's pages, as "CSP violation: ..."."""
    context.expose_function("__omnichatCspViolation", lambda text: report(f"CSP violation: {text}"))
    context.add_init_script(CSP_LISTENER)


def _expected_console_error(text: str) -> bool:
    # Failed resource loads the tests cause on purpose (e.g. a refused WebSocket, 4xx answers).
    return bool(re.search(r"Failed to load resource|WebSocket connection to .* failed", text))


def screenshot(page: Any, name: str) -> Path:
    """Save the viewport as test-artifacts/screenshots/<name>.png, once the model picker
    (if any) has loaded and with animations finished."""
    from playwright.sync_api import expect

    picker = page.locator("#model-picker")
    if picker.count():
        expect(picker).to_be_enabled()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False, animations="disabled")
    return path
