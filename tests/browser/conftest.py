"""Fixtures for the browser tests: the built page, the local stack serving it, and headless
Chromium (Debian's, at /usr/bin/chromium) driven by Playwright's sync API.

Tests select elements the way people find them: by role and accessible name, or by label.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
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


@pytest.fixture
def new_page(playwright_browser: Any, stack: Stack) -> Iterator[Callable[..., Any]]:
    """new_page(token=None, viewport=DESKTOP, dark=False) -> a Page on the stack; with a
    token it starts signed in. Console errors, uncaught exceptions and Content-Security-Policy
    violations fail the test, but for the directives a test names with
    `new_page.expect_csp_violation(directive)` (a test that attacks the page on purpose)."""
    contexts: list[Any] = []
    problems: list[str] = []
    expected_csp: set[str] = set()

    def make(token: str | None = None, viewport: dict[str, int] = DESKTOP, dark: bool = False,
             model: str | None = TEST_MODEL) -> Any:
        context = playwright_browser.new_context(viewport=viewport, base_url=stack.url,
                                                 color_scheme="dark" if dark else "light")
        context.set_default_timeout(20_000)
        report_csp_violations(context, problems)
        init = ""
        if token:
            init += f"localStorage.setItem('omnichat.token', {token!r});"
        if model:
            init += f"localStorage.setItem('omnichat.model', {model!r});"
        if init:
            context.add_init_script(
                f"if (!sessionStorage.getItem('seeded')) {{ {init} sessionStorage.setItem('seeded', '1'); }}")
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and not _expected_console_error(msg.text)
                and problems.append(f"console error: {msg.text}"))
        return page

    make.expect_csp_violation = expected_csp.add  # type: ignore[attr-defined]
    yield make
    for context in contexts:
        context.close()
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


def report_csp_violations(context: Any, found: list[str]) -> None:
    """Append every CSP violation of the context's pages to `found`, as "CSP violation: ..."."""
    context.expose_function("__omnichatCspViolation", lambda text: found.append(f"CSP violation: {text}"))
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
