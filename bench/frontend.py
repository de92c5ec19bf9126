"""How heavy and how fast is the web page? Builds frontend/ if the build is stale, then
measures

- initial_gzip_kb: the JavaScript and CSS that index.html loads before anything else
  (its module script, modulepreloads and stylesheets), each gzip-compressed (level 9);
  lazy chunks (the admin area, the syntax highlighter) are not part of it;
- fcp_ms: first contentful paint of a chat page (a returning signed-in user opening a saved
  chat), median over fresh browser contexts (cold HTTP cache), in headless Chromium against
  the local stack (the API Gateway emulator serving frontend/dist, the deterministic model
  server);
- render_ms_per_delta_at_10k and render_ratio: main-thread time per streamed delta of a
  10,000-token Markdown answer (paragraphs, lists, code, tables; 10 tokens a delta) on the
  chat page in Chromium: from the WebSocket message handler to the DOM updated and laid out
  (Svelte's flush and a forced layout), median of the last 10 deltas; the ratio divides it
  by the median of the deltas around token 100 (after a 1,000-token warm-up answer in another
  chat of the same page). The deltas are handed to the page's own socket handler in the
  page (no network in the measurement).

    .venv/bin/python bench/frontend.py [--runs 7] [--stream-runs 3]

Last line: {"initial_gzip_kb": ..., "fcp_ms": ..., "render_ms_per_delta_at_10k": ...,
"render_ratio": ...}; targets initial_gzip_kb < 150, render_ratio <= 1.5, <= 4 ms a delta.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.pages import CAPTURE_SOCKET  # noqa: E402
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


def returning_user(browser: Any, url: str, session: dict) -> Any:
    """A fresh browser context of a returning user: the page keeps the token and who it
    belongs to in localStorage."""
    context = browser.new_context(viewport={"width": 1280, "height": 820}, base_url=url)
    context.add_init_script(f"localStorage.setItem('omnichat.token', {session['access_token']!r});"
                            f"localStorage.setItem('omnichat.user', {json.dumps(session['user'])!r})")
    return context


def first_contentful_paint(url: str, session: dict, path: str, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    samples = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = returning_user(browser, url, session)
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


SECTION = """## Step {n}: the details

This part explains step {n} in plain words, with enough text to wrap over a few lines of the
chat column, the way a model writes a long answer to a detailed question about code.

- the first point of step {n}, with `inline code` and **bold** words
- the second point, with a [link](https://example.com/{n})

```python
def step_{n}(items: list[int]) -> int:
    total = 0
    for item in items:
        total += item * {n}
    return total
```

| Item | Value | Note |
|:-----|------:|:----:|
| a{n} | {n} | first |
| b{n} | {m} | second |

"""

# In the page: hand the app's socket handler delta events one task at a time (the socket is
# captured by tests.browser.pages.CAPTURE_SOCKET) and time each from the handler to the DOM
# updated and laid out.
STREAM = """async ({ chatId, deltas }) => {
  const socket = window.__sockets.find((s) => s.readyState === 1 && s.onmessage);
  const times = [];
  let offset = 0;
  for (const text of deltas) {
    const data = JSON.stringify({ type: 'delta', chat_id: chatId, message_id: 'bench-answer', offset, text });
    offset += text.length;
    const t0 = performance.now();
    socket.onmessage(new MessageEvent('message', { data }));
    for (let i = 0; i < 4; i++) await Promise.resolve();  // Svelte's flush (a microtask)
    void document.body.offsetHeight;  // style and layout, forced now
    times.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return times;
}"""


def long_answer(tokens: int = 10_000) -> list[str]:
    """A Markdown answer cut into tokens (a word with the space before it)."""
    text, n = "", 0
    while len(re.findall(r"\s*\S+", text)) < tokens:
        n += 1
        text += SECTION.format(n=n, m=n * 7)
    return re.findall(r"\s*\S+", text)[:tokens]


def render_cost(url: str, session: dict, chat_id: str, warm_id: str, runs: int,
                per_delta: int = 10) -> tuple[float, float]:
    from playwright.sync_api import sync_playwright

    tokens = long_answer()
    deltas = ["".join(tokens[i:i + per_delta]) for i in range(0, len(tokens), per_delta)]
    early = [i for i in range(len(deltas)) if 50 < (i + 1) * per_delta <= 150]
    at_100: list[float] = []
    at_end: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = returning_user(browser, url, session)
            context.add_init_script(CAPTURE_SOCKET)
            page = context.new_page()
            # Warm up first (the JIT, the renderer's code paths): 1,000 tokens in another chat,
            # then open the measured one in the same page, as a user would.
            page.goto(f"/c/{warm_id}")
            page.get_by_role("article", name="Your message").wait_for()
            page.wait_for_function("() => window.__sockets.some((s) => s.readyState === 1 && s.onmessage)")
            page.evaluate(STREAM, {"chatId": warm_id, "deltas": deltas[:100]})
            page.get_by_role("navigation", name="Chats").get_by_role("link", name="A long answer").click()
            page.wait_for_url(f"**/c/{chat_id}")
            page.get_by_role("article", name="Your message").wait_for()
            times = page.evaluate(STREAM, {"chatId": chat_id, "deltas": deltas})
            text = page.get_by_role("article", name="Assistant message").locator(".prose").inner_text()
            assert "Step 1: the details" in text and len(text) > 20_000, "the streamed answer was not rendered"
            at_100 += [times[i] for i in early]
            at_end += times[-10:]
            context.close()
        browser.close()
    return statistics.median(at_end), statistics.median(at_end) / statistics.median(at_100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--stream-runs", type=int, default=3)
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
            chat = conversation("Merging sorted lists", [("How do I merge two sorted lists?", MARKDOWN_ANSWER)])
            [chat_id] = import_chats(stack, session["access_token"], [chat])
            samples = first_contentful_paint(stack.url, session, f"/c/{chat_id}", args.runs)
            question = {"title": "A long answer", "model": "ollama/omnichat-test:latest", "current_leaf_id": "q0",
                        "messages": [{"id": "q0", "parent_id": None, "role": "user", "content": "Explain everything."}]}
            [warm_chat, stream_chat] = import_chats(stack, session["access_token"],
                                                    [{**question, "title": "Warm-up"}, question])
            per_delta, ratio = render_cost(stack.url, session, stream_chat, warm_chat, args.stream_runs)
        finally:
            stack.stop()
    print(f"first contentful paint over {len(samples)} cold loads: " + ", ".join(f"{s:.0f}" for s in samples) + " ms")
    print(json.dumps({"initial_gzip_kb": round(initial, 1), "fcp_ms": round(statistics.median(samples), 1),
                      "render_ms_per_delta_at_10k": round(per_delta, 2), "render_ratio": round(ratio, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
