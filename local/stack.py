"""`python -m local.stack` (what `make local` runs): the whole OmniChat stack on one port.

- the database migrated (SQLite under .omnichat/ unless DATABASE_URL is set);
- the web page built (frontend/dist) when npm is available and the build is stale;
- a model server: a real Ollama if one answers at OLLAMA_HOST, else the bundled
  Ollama-compatible server on the GGUF models in .omnichat/models;
- MODE=hybrid adds real Bedrock with your AWS credentials; MODE=offline-hybrid adds the
  local Bedrock emulator instead, to try hybrid without AWS;
- the local API Gateway serving template.yaml's HTTP and WebSocket APIs and the page.

Everything runs in this one process (threads), which keeps start-up fast and memory low;
Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
MODES = ("local", "hybrid", "offline-hybrid")


@dataclass
class Stack:
    url: str
    ws_url: str
    ollama_url: str
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: while stopping: {exc}", file=sys.stderr)
        self.stoppers.clear()


def log(message: str) -> None:
    print(f"omnichat: {message}", flush=True)


def ollama_answers(url: str, timeout: float = 0.5) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/api/version", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def build_frontend(force: bool = False) -> Path | None:
    """frontend/dist, built if the sources are newer than the build. None when there is no
    frontend or no npm (the API still runs)."""
    frontend = ROOT / "frontend"
    dist = frontend / "dist"
    if not (frontend / "package.json").exists():
        return None
    sources = [p for p in frontend.rglob("*") if p.is_file() and "node_modules" not in p.parts
               and "dist" not in p.parts]
    newest = max((p.stat().st_mtime for p in sources), default=0)
    if not force and (dist / "index.html").exists() and (dist / "index.html").stat().st_mtime >= newest:
        return dist
    npm = shutil.which("npm")
    if npm is None:
        log("npm not found: serving the API without the web page (install Node.js to get it)")
        return dist if (dist / "index.html").exists() else None
    if not (frontend / "node_modules").exists():
        log("installing the web page's packages (npm ci)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, check=True)
    log("building the web page")
    subprocess.run([npm, "run", "build"], cwd=frontend, check=True)
    return dist


def _limits() -> Any:
    """API Gateway's limits; tests shorten the WebSocket integration timeout (29 s) through
    OMNICHAT_LOCAL_WS_INTEGRATION_TIMEOUT_S to show that answers outlive it."""
    from local.gateway.limits import Limits

    value = os.environ.get("OMNICHAT_LOCAL_WS_INTEGRATION_TIMEOUT_S")
    return Limits(ws_integration_timeout_s=float(value)) if value else Limits()


def start(host: str = "127.0.0.1", port: int = 8080, mode: str = "local", home: Path | None = None,
          deterministic: bool = False, build: bool = True, extra_env: dict[str, str] | None = None,
          ollama_nodes: int | None = None) -> Stack:
    from local.serve import ServerThread

    if mode not in MODES:
        raise ValueError(f"MODE must be one of {', '.join(MODES)}")
    if ollama_nodes is None:  # bundled model servers to start (OMNICHAT_OLLAMA_NODES, default 1)
        ollama_nodes = int(os.environ.get("OMNICHAT_OLLAMA_NODES") or 1)
    home = (home or Path(os.environ.get("OMNICHAT_HOME", ROOT / ".omnichat"))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {"OMNICHAT_HOME": str(home), "OMNICHAT_BEDROCK_ENABLED": "false"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    else:
        env["DATABASE_URL"] = f"sqlite:///{home / 'omnichat.db'}"
    stack = Stack(url="", ws_url="", ollama_url="")
    try:
        from omnichat.config import Settings
        from omnichat.db import migrate

        migrate.upgrade(env["DATABASE_URL"])

        from omnichat.config import node_urls

        ollama_url = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
        ollama_url = ollama_url if "://" in ollama_url else f"http://{ollama_url}"
        given = node_urls(os.environ.get("OLLAMA_HOSTS", ""))  # a bad URL stops here, saying which
        if given:
            ollama_url = given[0]
            env["OLLAMA_HOSTS"] = ",".join(given)
            log(f"using the Ollama nodes {', '.join(given)}")
        elif ollama_nodes <= 1 and not deterministic and ollama_answers(ollama_url):
            log(f"using the Ollama at {ollama_url}")
        else:
            from local.ollama import create_app as ollama_app

            models_dir = Path(os.environ.get("OMNICHAT_MODELS_DIR", ROOT / ".omnichat" / "models"))
            urls = []
            for i in range(max(1, ollama_nodes)):  # several: one models directory, as EFS in AWS
                app = ollama_app(models_dir, deterministic=deterministic)
                try:  # the first where Ollama would be (OLLAMA_HOST, 11434 by default), so other tools find it
                    server = ServerThread(app, port=(urlsplit(ollama_url).port or 11434) if i == 0 else 0).start()
                except OSError:  # taken by something that is not Ollama
                    server = ServerThread(app).start()
                stack.stoppers.append(server.stop)
                urls.append(server.url)
            ollama_url = urls[0]
            if len(urls) > 1:
                env["OLLAMA_HOSTS"] = ",".join(urls)
            log(f"bundled model server (Ollama API) on {', '.join(urls)}, models in {models_dir}")
        env["OLLAMA_HOST"] = stack.ollama_url = ollama_url
        env["OMNICHAT_OLLAMA_DISCOVERY"] = "static"  # the nodes are named here, not found in DNS as in AWS

        region = Settings.from_env().aws_region  # the handlers' region, which they sign for
        if mode == "hybrid":
            env["OMNICHAT_BEDROCK_ENABLED"] = "true"
            log(f"hybrid: Bedrock with your AWS credentials, region {region}")
        elif mode == "offline-hybrid":
            from local.bedrock import create_app as bedrock_app
            from local.bedrock.signing import KNOWN_CREDENTIALS
            from local.gateway.environment import new_credentials

            # The real small model too (bedrock/local.smollm2-135m), so a hybrid chat gets a
            # real answer; the catalogue's other models answer with the deterministic engine.
            gguf = Path(os.environ.get("OMNICHAT_MODELS_DIR", ROOT / ".omnichat" / "models")) / "smollm2" / "135m.gguf"
            # In that region, with keys made now for the handlers: the emulator checks their
            # signatures as Bedrock does, and so does @connections (no well-known secret).
            keys = new_credentials()
            bedrock = ServerThread(bedrock_app(
                gguf_path=gguf if gguf.exists() else None, region=region,
                credentials={**KNOWN_CREDENTIALS, keys["AWS_ACCESS_KEY_ID"]: keys["AWS_SECRET_ACCESS_KEY"]})).start()
            stack.stoppers.append(bedrock.stop)
            env.update(OMNICHAT_BEDROCK_ENABLED="true", AWS_ENDPOINT_URL_BEDROCK_RUNTIME=bedrock.url,
                       AWS_ENDPOINT_URL_BEDROCK=bedrock.url, **keys)
            log(f"offline-hybrid: the Bedrock emulator on {bedrock.url}")

        # Documents: files under the home, indexed by the in-process worker (no bucket, no
        # queue: the template's are AWS resources), with the local embedding model unless one
        # is chosen (the template's EmbedModel default is Bedrock's Titan, for AWS).
        env["OMNICHAT_EMBED_MODEL"] = os.environ.get("OMNICHAT_EMBED_MODEL") or Settings.embed_model
        env.update(extra_env or {})
        static = build_frontend() if build else None
        from local.gateway.server import start as start_gateway

        gateway = start_gateway(ROOT / "template.yaml", host, port, env=env, static=static, limits=_limits())
        stack.stoppers.append(gateway.stop)
        stack.url, stack.ws_url = gateway.url, gateway.ws_url
        # The indexer: a thread of this process, the one that serves the REST API (whose
        # queue.enqueue hands it files). Started now so that files a restart left queued, and
        # uploads that expired meanwhile, are seen to at once.
        from omnichat.documents import queue as index_queue

        index_queue.start(Settings.from_env({**os.environ, **env}))
        stack.stoppers.append(index_queue.stop)
        return stack
    except BaseException:
        stack.stop()
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--mode", default=os.environ.get("MODE", "local"), choices=MODES)
    parser.add_argument("--deterministic", action="store_true",
                        help="serve the deterministic test model instead of looking for a real Ollama")
    parser.add_argument("--no-build", action="store_true", help="do not build the web page")
    parser.add_argument("--ollama-nodes", type=int, default=None,
                        help="bundled model servers to start, sharing one models directory "
                             "(default $OMNICHAT_OLLAMA_NODES or 1; OLLAMA_HOSTS names your own nodes instead)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        stack = start(args.host, args.port, args.mode, deterministic=args.deterministic, build=not args.no_build,
                      ollama_nodes=args.ollama_nodes)
    except ValueError as exc:  # a bad OLLAMA_HOSTS entry, named
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc} (is port {args.port} taken? try `make local PORT=8081`)", file=sys.stderr)
        return 1
    # The handler only records the signal: taking a lock in a signal handler (Event.set)
    # deadlocks when the signal lands while the main thread holds that lock. Installed before
    # the banner: a Ctrl-C right after it must stop the stack, not raise KeyboardInterrupt.
    signals: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: signals.append(signum))
    log(f"ready in {time.monotonic() - started:.1f} s")
    print(f"\n  OmniChat is running at {stack.url}/\n  WebSocket: {stack.ws_url}\n  Ctrl-C stops it.\n", flush=True)
    while not signals:
        time.sleep(0.2)  # not signal.pause(): a signal between the test and the pause is never lost
    log("stopping")
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
