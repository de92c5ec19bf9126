"""`POST /api/create` on the bundled Ollama-compatible server, driven by the official
`ollama` client: a model made from another with a system prompt and parameters is listed,
shown, and generates with them; what cannot be made is refused before anything is written.
Each test has its own server and models directory (the shared one stays as it was)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ollama
import pytest
from conftest import TEST_MODEL, ServerThread

from local.ollama import create_app


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(create_app(tmp_path / "models", deterministic=True)) as s:
        yield s


@pytest.fixture
def client(server: ServerThread) -> ollama.Client:
    return ollama.Client(host=server.url, timeout=30)


def ask(client: ollama.Client, model: str, *messages: dict) -> ollama.ChatResponse:
    return client.chat(model=model, messages=[*messages, {"role": "user", "content": "hello [[tokens=9]]"}])


def test_a_created_model_is_listed_shown_and_answers_with_its_settings(client: ollama.Client) -> None:
    statuses = [p.status for p in client.create(model="pirate", from_="omnichat-test", system="Talk like a pirate.",
                                                parameters={"num_predict": 4, "temperature": 0.2}, stream=True)]
    assert statuses[0].startswith("using existing layer sha256:") and statuses[1].startswith("creating new layer")
    assert statuses[-2:] == ["writing manifest", "success"]
    assert {m.model for m in client.list().models} == {TEST_MODEL, "pirate:latest"}

    shown = client.show("pirate")
    assert shown.details.parent_model == TEST_MODEL
    assert 'SYSTEM """Talk like a pirate."""' in shown.modelfile and "FROM omnichat-test:latest" in shown.modelfile
    assert set(shown.parameters.splitlines()) == {"num_predict 4", "temperature 0.2"}

    plain, made = ask(client, "omnichat-test"), ask(client, "pirate")
    assert made.eval_count == 4 and plain.eval_count == 9  # num_predict applies
    assert made.prompt_eval_count == plain.prompt_eval_count + 4  # the four words of the system prompt
    # A request's own system prompt and options win, as in Ollama.
    own = ask(client, "pirate", {"role": "system", "content": "Be brief."})
    assert own.prompt_eval_count == plain.prompt_eval_count + 2
    assert client.chat(model="pirate", options={"num_predict": 6},
                       messages=[{"role": "user", "content": "hi [[tokens=9]]"}]).eval_count == 6
    assert client.generate(model="pirate", prompt="hi [[tokens=9]]").eval_count == 4


def test_a_model_created_from_a_created_one_keeps_the_first_base(client: ollama.Client) -> None:
    client.create(model="pirate", from_="omnichat-test", system="Talk like a pirate.", parameters={"num_predict": 4})
    assert client.create(model="parrot:v1", from_="pirate", parameters={"temperature": 0.5}).status == "success"
    shown = client.show("parrot:v1")
    assert shown.details.parent_model == TEST_MODEL and 'SYSTEM """Talk like a pirate."""' in shown.modelfile
    assert set(shown.parameters.splitlines()) == {"num_predict 4", "temperature 0.5"}
    client.delete("pirate")
    assert {m.model for m in client.list().models} == {TEST_MODEL, "parrot:v1"}
    assert ask(client, "parrot:v1").eval_count == 4


@pytest.mark.parametrize("request_fields, status, says", [
    ({"model": "x", "from": "no-such-model"}, 404, "model 'no-such-model' not found"),
    ({"model": "x"}, 400, "neither 'from' or 'files' was specified"),
    ({"model": "x", "from": "omnichat-test", "parameters": {"bogus": 1}}, 400, "unknown parameter 'bogus'"),
    ({"model": "x", "from": "omnichat-test", "parameters": {"num_predict": "many"}}, 400, "num_predict"),
    ({"model": "x", "from": "omnichat-test", "template": "{{ .Prompt }}"}, 400, "template is not supported"),
    ({"model": "x", "from": "omnichat-test", "files": {"a.gguf": "sha256:00"}}, 400, "not supported"),
    ({"model": "omnichat-test", "from": "omnichat-test"}, 400, "has weights of its own"),
    ({"model": "../escape", "from": "omnichat-test"}, 400, "invalid model name"),
])
def test_what_cannot_be_made_is_refused_and_nothing_is_written(client: ollama.Client, server: ServerThread,
                                                              tmp_path: Path, request_fields, status, says) -> None:
    import httpx

    r = httpx.post(server.url + "/api/create", json=request_fields)
    assert r.status_code == status and says in r.json()["error"], r.text
    assert [m.model for m in client.list().models] == [TEST_MODEL]
    assert not list((tmp_path / "models").rglob("*.json"))
