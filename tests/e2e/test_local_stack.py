"""End to end on the local stack: a real `websockets` client and the real terminal client
against `python -m local.stack`, with the real SmolLM2 model where it matters."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time

import boto3
import httpx
import pytest
import websockets
from botocore.exceptions import ClientError

from tests.e2e.conftest import MODELS_DIR, ROOT, STACK_KEYS, Output, free_port, launch, shut_down


async def converse(stack, token: str, frame: dict, until: str = "message.done", timeout_s: float = 120) -> list[dict]:
    events: list[dict] = []
    async with websockets.connect(f"{stack.ws_url}?ticket={stack.ticket(token)}") as ws:
        await ws.send(json.dumps(frame))
        async with asyncio.timeout(timeout_s):
            async for raw in ws:
                events.append(json.loads(raw))
                if events[-1]["type"] == until:
                    return events
    return events


def text_of(events: list[dict]) -> str:
    return "".join(e["text"] for e in events if e["type"] == "delta")


@pytest.mark.skipif(not (MODELS_DIR / "smollm2" / "135m.gguf").exists(), reason="run `make model` first")
def test_a_real_model_answers_over_the_websocket_and_both_messages_are_saved(stack):
    token = stack.sign_up("e2e@example.com")["access_token"]
    events = asyncio.run(converse(stack, token, {
        "action": "chat.send", "model": "ollama/smollm2:135m", "client_message_id": "e2e-1",
        "content": "What is the capital of France? Answer in one sentence.", "params": {"max_tokens": 48}}))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "ack" and "message.started" in kinds and kinds[-1] == "message.done"
    done = events[-1]
    assert done["status"] == "complete" and done["usage"]["output_tokens"] > 0
    answer = text_of(events)
    assert answer.strip()
    chat = httpx.get(f"{stack.url}/api/chats/{done['chat_id']}", headers={"authorization": f"Bearer {token}"}).json()
    assert [(m["role"], m["status"]) for m in chat["messages"]] == [("user", "complete"), ("assistant", "complete")]
    assert chat["messages"][0]["content"].startswith("What is the capital of France?")
    assert chat["messages"][1]["content"] == answer and chat["messages"][1]["model"] == "ollama/smollm2:135m"


def test_an_answer_outlives_the_integration_timeout(stack):
    # The stack runs with a 1 s WebSocket integration timeout (API Gateway: 29 s); this
    # answer is 60 tokens at the engine's 20 a second, 3 s: the handler keeps posting after
    # API Gateway stopped waiting, and every token arrives.
    token = stack.sign_up("long@example.com")["access_token"]
    events = asyncio.run(converse(stack, token, {
        "action": "chat.send", "model": "ollama/omnichat-test:latest", "client_message_id": "long-1",
        "content": "[[tokens=60]] [[rate=20]]"}))
    assert events[-1]["type"] == "message.done" and events[-1]["status"] == "complete"
    assert len(text_of(events).split()) == 60


def client(stack, *args: str) -> tuple[subprocess.Popen, Output]:
    process = subprocess.Popen(
        [sys.executable, "-m", "omnichat.cli", "chat", "--url", stack.url, "--model", "ollama/omnichat-test:latest",
         *args], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin", "OMNICHAT_PASSWORD": "correct horse battery", "PYTHONUNBUFFERED": "1",
             "TERM": "dumb"})
    return process, Output(process.stdout)


def type_in(process: subprocess.Popen, text: bytes) -> None:
    process.stdin.write(text)
    process.stdin.flush()


def answer_starts(process: subprocess.Popen, out: Output, prompt: bytes, then_wait_s: float) -> None:
    """Type a prompt, see the answer start, and let it run on a little."""
    type_in(process, prompt)
    out.wait_for(" ", 30)
    time.sleep(then_wait_s)


def test_terminal_client_chats_stops_regenerates_edits_and_lists_chats(stack):
    stack.sign_up("tty@example.com")
    process, out = client(stack, "--email", "tty@example.com")
    try:
        out.wait_for("signed in as tty@example.com")
        answer_starts(process, out, b"tell me a long story [[tokens=400]] [[rate=40]]\n", 1.0)
        process.send_signal(signal.SIGINT)  # stops the answer, not the client
        out.wait_for("[stopped", 10)
        type_in(process, b"a short one [[tokens=5]]\n/retry\n/edit reworded [[echo=1]]\n/chats\n/quit\n")
        assert process.wait(30) == 0
        text = out.text
        assert text.count("[complete · 5 tokens") == 2 and "reworded" in text.split("/edit")[-1] and "1. " in text
    finally:
        process.kill()


def test_terminal_client_reconnects_and_resumes_after_a_dropped_connection(stack):
    import sqlite3

    key = httpx.post(f"{stack.url}/api/keys", json={"name": "cli"},
                     headers={"authorization": f"Bearer {stack.sign_up('drop@example.com')['access_token']}"}).json()
    process, out = client(stack, "--api-key", key["key"])
    try:
        out.wait_for("model:")
        answer_starts(process, out, b"count slowly [[tokens=120]] [[rate=40]]\n", 0.5)
        with sqlite3.connect(stack.home / "omnichat.db") as db:
            (connection_id,), = db.execute(
                "SELECT connection_id FROM connections JOIN api_keys ON api_keys.user_id = connections.user_id")
        def management(key: str, secret: str):  # type: ignore[no-untyped-def]
            return boto3.client("apigatewaymanagementapi", endpoint_url=f"{stack.url}/prod", region_name="us-east-1",
                                aws_access_key_id=key, aws_secret_access_key=secret)

        with pytest.raises(ClientError, match="UnrecognizedClientException"):  # not the stack's keys
            management("local", "local").delete_connection(ConnectionId=connection_id)
        management(STACK_KEYS["AWS_ACCESS_KEY_ID"], STACK_KEYS["AWS_SECRET_ACCESS_KEY"]).delete_connection(
            ConnectionId=connection_id)  # the network drops it
        out.wait_for("[reconnected; resuming]", 20)
        out.wait_for("[complete · 120 tokens", 30)
        type_in(process, b"/quit\n")
        assert process.wait(20) == 0
    finally:
        process.kill()
    printed = out.text.split("count slowly")[-1] if "count slowly" in out.text else out.text
    words = [w for w in printed.split() if w.isalpha()]
    assert len(words) >= 120  # nothing lost across the reconnect (duplicates are skipped by offset)


def test_ctrl_c_stops_every_process_the_stack_started(tmp_path):
    port = free_port()
    running = launch(tmp_path / "home", port)
    ollama_port = int(running.output.text.split("bundled model server (Ollama API) on http://127.0.0.1:")[1].split(",")[0])
    assert shut_down(running) == 0
    for p in (port, ollama_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", p), 0.5).close()


def test_offline_hybrid_mode_answers_with_bedrock_models_signed_for_the_region(tmp_path):
    """MODE=offline-hybrid serves Bedrock models from the emulator, which checks every
    signature: the handlers sign for their region (here not the default) and the emulator
    runs in that same region."""
    running = launch(tmp_path, free_port(), {"MODE": "offline-hybrid", "AWS_REGION": "eu-west-1",
                                             "AWS_DEFAULT_REGION": "eu-west-1"})
    try:
        token = running.sign_up("hybrid@example.com")["access_token"]
        events = asyncio.run(converse(running, token, {
            "action": "chat.send", "model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
            "client_message_id": "hybrid-1", "content": "hello [[tokens=5]]"}, timeout_s=60))
        assert events[-1]["type"] == "message.done", events[-3:]
        assert events[-1]["status"] == "complete" and len(text_of(events).split()) == 5
        assert "offline-hybrid: the Bedrock emulator" in running.output.text
    finally:
        shut_down(running)
