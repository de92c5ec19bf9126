"""The terminal client (`omnichat chat`) as a user meets it, against the real local stack
(`python -m local.stack`, deterministic model): run in a pseudo-terminal and read off a
terminal emulator's screen, or as a plain process where no terminal is involved."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ROOT, RunningStack, free_port, launch, shut_down

from .screen import Screen

PASSWORD = "correct horse battery"
MODEL = "ollama/omnichat-test:latest"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = launch(tmp_path_factory.mktemp("home"), free_port())
    yield running
    shut_down(running)


@pytest.fixture
def terminal() -> Iterator[list[Screen]]:
    opened: list[Screen] = []
    yield opened
    for screen in opened:
        screen.close()


def open_client(opened: list[Screen], tmp_path: Path, *args: str) -> Screen:
    env = {"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    screen = Screen(*args, env=env)
    opened.append(screen)
    return screen


def signed_in(stack: RunningStack, opened: list[Screen], tmp_path: Path, email: str) -> Screen:
    stack.sign_up(email, PASSWORD)
    screen = open_client(opened, tmp_path, "--url", stack.url, "--email", email, "--model", MODEL)
    screen.wait_for_password_prompt(1)
    screen.type(PASSWORD + "\r")
    screen.wait_for("/help for commands")
    screen.wait_for_prompt()
    return screen


def run_plain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omnichat.cli", "chat", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "OMNICHAT_PASSWORD": PASSWORD})


# ---- an unreachable server -------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--ws-url", "ws://127.0.0.1:9/ws", "--api-key", "k"]],
                         ids=["discovery", "rest"])
def test_an_unreachable_server_is_one_clear_line_and_a_nonzero_exit(extra: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = run_plain("--url", url, "--email", "a@example.com", *extra)
    assert done.returncode == 1
    assert done.stdout.strip().splitlines() == [done.stdout.strip()]  # one line
    assert done.stdout.startswith(f"error: cannot reach the OmniChat server at {url} (")
    assert "Traceback" not in done.stdout + done.stderr and done.stderr == ""


def test_an_unreachable_websocket_is_one_clear_line_and_a_nonzero_exit(stack: RunningStack) -> None:
    token = stack.sign_up("ws-down@example.com", PASSWORD)["access_token"]
    key = httpx.post(f"{stack.url}/api/keys", json={"name": "cli"},
                     headers={"authorization": f"Bearer {token}"}).json()["key"]
    ws_url = f"ws://127.0.0.1:{free_port()}/ws"
    done = run_plain("--url", stack.url, "--ws-url", ws_url, "--api-key", key, "--model", MODEL)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(f"error: cannot reach the OmniChat server at {ws_url} (")


# ---- signing in --------------------------------------------------------------------------

def test_a_wrong_password_is_asked_again(stack: RunningStack, terminal: list[Screen], tmp_path: Path) -> None:
    stack.sign_up("retry@example.com", PASSWORD)
    screen = open_client(terminal, tmp_path, "--url", stack.url, "--email", "retry@example.com", "--model", MODEL)
    for attempt in (1, 2):
        screen.wait_for_password_prompt(attempt)
        screen.type("not the password\r")
        screen.wait_for(f"try again ({3 - attempt} tr")
    screen.wait_for_password_prompt(3)
    screen.type(PASSWORD + "\r")
    screen.wait_for("signed in as retry@example.com")
    assert screen.text.count("password:") == 3
    screen.wait_for_prompt()
    screen.type("/quit\r")
    assert screen.wait_exit() == 0


def test_three_wrong_passwords_end_with_an_error(stack: RunningStack, terminal: list[Screen], tmp_path: Path) -> None:
    stack.sign_up("wrong3@example.com", PASSWORD)
    screen = open_client(terminal, tmp_path, "--url", stack.url, "--email", "wrong3@example.com")
    for attempt in (1, 2, 3):
        screen.wait_for_password_prompt(attempt)
        screen.type("not the password\r")
    assert screen.wait_exit() == 1
    assert screen.text.count("password:") == 3 and "error: Wrong email or password" in screen.text
    assert "Traceback" not in screen.text


# ---- drawing answers -----------------------------------------------------------------------

def answers(stack: RunningStack, email: str) -> list[str]:
    """The user's assistant messages, as the server saved them."""
    signin = httpx.post(f"{stack.url}/api/auth/signin", json={"email": email, "password": PASSWORD})
    token = signin.json()["access_token"]
    headers = {"authorization": f"Bearer {token}"}
    chats = httpx.get(f"{stack.url}/api/chats", headers=headers).json()["chats"]
    return [m["content"] for chat in chats
            for m in httpx.get(f"{stack.url}/api/chats/{chat['id']}", headers=headers).json()["messages"]
            if m["role"] == "assistant"]


def test_ctrl_c_stops_an_answer_and_it_stays_drawn_once(stack: RunningStack, terminal: list[Screen],
                                                        tmp_path: Path) -> None:
    screen = signed_in(stack, terminal, tmp_path, "ctrlc@example.com")
    screen.type("tell me a long story [[tokens=400]] [[rate=40]]\r")
    screen.wait_for("[[rate=40]]")
    screen.wait_until(lambda: len(_after(screen, "[[rate=40]]")) >= 3)  # lines of the answer drawn
    screen.type("\x03")  # the terminal's interrupt: SIGINT, echoed as ^C
    screen.wait_for("[stopped")
    drawn = _after(screen, "[[rate=40]]")
    drawn = drawn[:next(i for i, line in enumerate(drawn) if line.startswith("[stopped"))]
    (saved,) = answers(stack, "ctrlc@example.com")
    assert drawn and len(set(drawn)) == len(drawn), drawn  # the first line is not drawn twice
    assert " ".join(drawn).split() == saved.split()  # exactly what was saved, nothing else
    assert "^C" not in screen.text
    screen.type("/quit\r")
    assert screen.wait_exit() == 0


def _after(screen: Screen, marker: str) -> list[str]:
    """The non-empty lines on screen below the line that ends with `marker`."""
    lines = screen.lines
    start = next((i for i, line in enumerate(lines) if line.endswith(marker)), len(lines))
    return [line for line in lines[start + 1:] if line]


def test_the_new_chats_title_is_printed_above_the_prompt(stack: RunningStack, terminal: list[Screen],
                                                         tmp_path: Path) -> None:
    screen = signed_in(stack, terminal, tmp_path, "title@example.com")
    # The deterministic model reads the directives in the title request too: the title
    # comes about 3 s after the answer, while the user is typing the next line.
    screen.type("name me [[tokens=6]] [[rate=2]]\r")
    screen.wait_for("[complete")
    screen.wait_for_prompt()
    screen.type("/qu")  # half typed when the title arrives
    screen.wait_for("chat: ", 30)
    screen.wait_until(lambda: screen.text.endswith("› /qu"), 10, "prompt after the title")
    lines = [line for line in screen.lines if line]
    notice = next(i for i, line in enumerate(lines) if "chat: " in line)
    assert lines[notice].startswith("chat: "), lines  # on a line of its own, not after the prompt
    assert lines[notice + 1:] == ["› /qu"], lines  # the prompt, whole, below it, with what was typed
    screen.type("it\r")  # the rest of the line: readline kept the part typed before
    assert screen.wait_exit() == 0


def test_a_preset_is_listed_and_used_like_any_model(stack: RunningStack, terminal: list[Screen],
                                                    tmp_path: Path) -> None:
    token = stack.sign_up("preset@example.com")["access_token"]
    r = httpx.post(f"{stack.url}/api/presets", headers={"authorization": f"Bearer {token}"}, timeout=30,
                   json={"slug": "brief", "name": "Brief", "base_model": MODEL, "params": {"max_tokens": 3}})
    assert r.status_code == 201, r.text
    screen = signed_in(stack, terminal, tmp_path, "preset@example.com")
    screen.type("/models\r")
    screen.wait_for("preset/brief  Brief")
    screen.type("/model preset/brief\r")
    screen.wait_for("model: preset/brief")
    screen.type("short please [[tokens=20]]\r")
    screen.wait_for("[complete")
    (saved,) = answers(stack, "preset@example.com")
    assert len(saved.split()) == 3  # the preset's max_tokens
    screen.type("/quit\r")
    assert screen.wait_exit() == 0


def test_attach_uploads_a_file_for_the_next_message(stack: RunningStack, terminal: list[Screen],
                                                    tmp_path: Path) -> None:
    """/attach uploads through POST /api/files and shows the file's name and status; /attach
    alone lists, /detach clears; a send the server refuses (an image for a text-only model)
    keeps the attachment for a retry, and the chat goes on."""
    notes = tmp_path / "notes.txt"
    notes.write_text("The harbour codeword is PELICAN-42.\n")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes.fromhex(  # a 1x1 PNG
        "0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8cfc0000003010100c9fe92ef"
        "0000000049454e44ae426082"))
    screen = signed_in(stack, terminal, tmp_path, "attach@example.com")
    screen.type(f"/attach {tmp_path / 'missing.txt'}\r")
    screen.wait_for("error: cannot read")
    screen.type(f"/attach {notes}\r")
    screen.wait_for("attached: notes.txt (")
    screen.type("/attach\r")
    screen.wait_for("  notes.txt (document, ")
    screen.type("/detach\r")
    screen.wait_for("no attachments")
    screen.type(f"/attach {photo}\r")
    screen.wait_for("attached: photo.png (")
    screen.type("what is in the picture?\r")
    screen.wait_for("(model_not_vision)")
    screen.wait_for_prompt()
    screen.type("/attach\r")
    screen.wait_for("  photo.png (image, ")  # kept: the send was refused
    screen.type("/detach\r")
    screen.type("hello [[tokens=3]]\r")
    screen.wait_for("[complete")
    screen.type("/quit\r")
    assert screen.wait_exit() == 0
