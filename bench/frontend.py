"""How heavy and how fast is the web page? Builds frontend/ if the build is stale, then
measures

- initial_gzip_kb: the JavaScript and CSS that index.html loads before anything else
  (its module script, modulepreloads and stylesheets), each gzip-compressed (level 9);
  lazy chunks (the admin area, the syntax highlighter) are not part of it;
- fcp_ms: first contentful paint of a chat page (a returning signed-in user opening a saved
  chat), median over fresh browser contexts (cold HTTP cache), in headless Chromium against
  the local stack (the API Gateway emulator serving frontend/dist, the deterministic model
  server).

    .venv/bin/python bench/frontend.py [--runs 7]

Last line: {"initial_gzip_kb": ..., "fcp_ms": ...}; target initial_gzip_kb < 150.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.seed import MARKDOWN_ANSWER, conversation, import_chats  # noqa: E402
from tests.browser.stack import DIST, build_frontend, start_stack  # noqa: E402


def initial_assets(dist: Path) -> list[Path]:
    html = (dist / "index.html").read_text()
    # link tags may put href before rel: look at each tag whole.
    found: list[str] = []
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", html):
        src = re.search(r'\b(?:src|href)="(/[^"]+\.(?:js|css))"', tag)
        if not src:
            continue
        if tag.startswith("<script") or re.search(r'\brel="(?:stylesheet|modulepreload)"', tag):
            found.append(src.group(1))
    return [dist / p.lstrip("/") for p in dict.fromkeys(found)]


def gzip_kb(paths: list[Path]) -> float:
    return sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in paths) / 1024


def first_contentful_paint(url: str, session: dict, path: str, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    samples = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1280, "height": 820}, base_url=url)
            # A returning user: the page keeps the token and who it belongs to in localStorage.
            context.add_init_script(f"localStorage.setItem('omnichat.token', {session['access_token']!r});"
                                    f"localStorage.setItem('omnichat.user', {json.dumps(session['user'])!r})")
            page = context.new_page()
            page.goto(path, wait_until="load")
            page.get_by_role("article", name="Assistant message").wait_for()
            fcp = page.evaluate(
                """() => new Promise((resolve) => {
                    const found = performance.getEntriesByName('first-contentful-paint');
                    if (found.length) return resolve(found[0].startTime);
                    new PerformanceObserver((list) => {
                        const e = list.getEntriesByName('first-contentful-paint');
                        if (e.length) resolve(e[0].startTime);
                    }).observe({ type: 'paint', buffered: true });
                })"""
            )
            samples.append(float(fcp))
            context.close()
        browser.close()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    dist = build_frontend()
    assets = initial_assets(dist)
    for asset in assets:
        print(f"initial asset {asset.relative_to(DIST)}: {gzip_kb([asset]):.1f} KB gzip")
    lazy = sorted(set((dist / "assets").glob("*.js")) - set(assets))
    for chunk in lazy:
        print(f"lazy chunk    {chunk.relative_to(DIST)}: {gzip_kb([chunk]):.1f} KB gzip")
    initial = gzip_kb(assets)

    if not CHROMIUM.exists():
        print(f"no Chromium at {CHROMIUM}: first contentful paint not measured", file=sys.stderr)
        print(json.dumps({"initial_gzip_kb": round(initial, 1), "fcp_ms": None}))
        return 0
    with tempfile.TemporaryDirectory(prefix="omnichat-bench-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            session = stack.sign_up("bench@example.com", "correct horse battery", "Bench")
            [chat_id] = import_chats(stack, session["access_token"], [conversation("Merging sorted lists",
                                                                 [("How do I merge two sorted lists?", MARKDOWN_ANSWER)])])
            samples = first_contentful_paint(stack.url, session, f"/c/{chat_id}", args.runs)
        finally:
            stack.stop()
    print(f"first contentful paint over {len(samples)} cold loads: " + ", ".join(f"{s:.0f}" for s in samples) + " ms")
    print(json.dumps({"initial_gzip_kb": round(initial, 1), "fcp_ms": round(statistics.median(samples), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
