"""Chats put in place over REST (the import API), for tests about lists and looks."""

from __future__ import annotations

from typing import Any

MARKDOWN_ANSWER = """Here is a small, dependable way to merge two sorted lists in **Python**:

```python
def merge(a: list[int], b: list[int]) -> list[int]:
    \"\"\"Merge two sorted lists into one sorted list in O(n + m).\"\"\"
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i]); i += 1
        else:
            out.append(b[j]); j += 1
    return out + a[i:] + b[j:]
```

How it works:

1. Two cursors walk the lists, always taking the smaller head.
2. When one list runs out, the rest of the other is already sorted.
3. `heapq.merge` does the same lazily, if you prefer the standard library.

| Approach | Time | Extra memory |
|---|---|---|
| Two cursors | O(n + m) | O(n + m) |
| `sorted(a + b)` | O((n + m) log(n + m)) | O(n + m) |

> Tip: keep the comparison `<=` so equal items keep their original order (a *stable* merge).
"""


def conversation(title: str, turns: list[tuple[str, str]], model: str = "ollama/omnichat-test:latest",
                 pinned: bool = False) -> dict[str, Any]:
    messages, parent = [], None
    for n, (question, answer) in enumerate(turns):
        q, a = f"q{n}", f"a{n}"
        messages.append({"id": q, "parent_id": parent, "role": "user", "content": question})
        messages.append({"id": a, "parent_id": q, "role": "assistant", "content": answer, "model": model,
                         "status": "complete", "usage": {"input_tokens": 42, "output_tokens": 180,
                                                         "duration_ms": 2300}})
        parent = a
    return {"title": title, "pinned": pinned, "model": model, "messages": messages, "current_leaf_id": parent}


def import_chats(stack: Any, token: str, chats: list[dict[str, Any]]) -> list[str]:
    body = {"format": "omnichat.chats", "version": 1, "chats": chats}
    return stack.api("POST", "/api/chats/import", body, token=token)["chat_ids"]
