"""Content and checks shared by the page-wide browser tests (Markdown, phone layout, axe)."""

from __future__ import annotations

from typing import Any

RICH_ANSWER = """A plan, with the figures:

- [x] Measure the baseline
- [ ] Render blocks once

| Step | Share | Cost |
|:-----|:-----:|-----:|
| parse | 40 % | 1.2 ms |
| sanitize | 60 % | 1.8 ms |

The mean is $\\mu = \\frac{1}{n}\\sum_{i=1}^{n} x_i$ and the variance:

$$
\\sigma^2 = \\frac{1}{n}\\sum_{i=1}^{n} (x_i - \\mu)^2
$$

```python
def a_long_line_that_scrolls(first_argument, second_argument, third_argument, fourth_argument, fifth):
    return first_argument + second_argument + third_argument + fourth_argument + fifth
```

It costs $5 today and $10 tomorrow.
"""

# Every element whose box ends past the viewport's right edge (visually hidden ones aside),
# as "tag.class: right edge".
PAST_RIGHT_EDGE = """() => {
  const limit = document.documentElement.clientWidth + 0.5;
  const found = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1 || r.right <= limit) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    const text = (el.textContent || '').trim().slice(0, 30);
    found.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} "${text}": ${Math.round(r.right)}`);
  }
  return found;
}"""


def usage_report(days: int) -> dict[str, Any]:
    from datetime import date, timedelta

    start = date.today() - timedelta(days=days - 1)
    by_model, by_user = [], []
    for i in range(days):
        d = (start + timedelta(days=i)).isoformat()
        models = ["ollama/omnichat-test:latest", "ollama/smollm2:135m", "bedrock/amazon.nova-lite-v1:0"]
        for j, model in enumerate(models):
            n = (i * 37 + j * 11) % 200 + 10
            by_model.append({"date": d, "model": model, "calls": n // 10 + 1, "input_tokens": n * 40,
                             "output_tokens": n * 90})
        by_user.append({"date": d, "user": "ada@example.com", "user_id": "u0", "calls": 3, "input_tokens": 500,
                        "output_tokens": 900})
    return {"since": start.isoformat(), "days": days, "by_model": by_model, "by_user": by_user}


# An init script that keeps the page's WebSockets in window.__sockets, so a test or bench can
# hand the app's own handler events (the streaming tests and bench/frontend.py).
CAPTURE_SOCKET = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();
"""

# Hand the page's socket handler one event per task: {chatId, events} → nothing.
DELIVER = """async ({ events }) => {
  const socket = window.__sockets.find((s) => s.readyState === 1 && s.onmessage);
  for (const event of events) {
    socket.onmessage(new MessageEvent('message', { data: JSON.stringify(event) }));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}"""
