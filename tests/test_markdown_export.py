"""The Markdown export: each chat's current branch, in order, with who said what."""

from __future__ import annotations

from omnichat.chats.markdown_export import current_branch, export_markdown


def _m(id, parent, role, content, **more):
    return {"id": id, "parent_id": parent, "role": role, "content": content, "model": None, "status": "complete",
            **more}


CHAT = {
    "title": "Rivers", "model": "ollama/x:1b", "system_prompt": "Be brief.", "created_at": "2026-12-04T10:00:00+00:00",
    "current_leaf_id": "a2",
    "messages": [_m("q1", None, "user", "Name a river"), _m("a1", "q1", "assistant", "The Nile", model="ollama/x:1b"),
                 _m("a1b", "q1", "assistant", "The Amazon (another version)"),
                 _m("q2", "a1", "user", "Longer?"), _m("a2", "q2", "assistant", "Yes", status="stopped")],
}


def test_only_the_current_branch_in_order():
    assert [m["id"] for m in current_branch(CHAT)] == ["q1", "a1", "q2", "a2"]
    text = export_markdown({"chats": [CHAT]})
    assert text.startswith("# Rivers\n\nModel: ollama/x:1b · Started: 2026-12-04T10:00\n")
    assert "## System prompt\n\nBe brief." in text
    assert "## You\n\nName a river" in text and "## Assistant (ollama/x:1b)\n\nThe Nile" in text
    assert "Amazon" not in text and text.rstrip().endswith("_(stopped)_")


def test_no_chats_and_a_broken_leaf():
    assert export_markdown({"chats": []}) == "_No chats._\n"
    looped = {**CHAT, "current_leaf_id": "x", "messages": [_m("x", "y", "user", "a"), _m("y", "x", "user", "b")]}
    assert len(current_branch(looped)) <= 3  # a cycle (never saved, but) cannot loop forever
