"""Cold start of every function in template.yaml, measured the way Lambda pays for it.

For each function (and each repetition) a fresh Python process is started, as Lambda
starts a fresh runtime: the handler's folder first on sys.path (like /var/task), then
layers/omnichat (like /opt/python). It imports the handler module (Lambda's INIT phase),
then serves one representative first invocation, which is where lazily built things (the
FastAPI app, the database engine, boto3 clients) are built. Reported per function: import
time, first-invocation time, and the child's peak RSS (ru_maxrss from wait4).

Everything runs in local mode and offline: a migrated SQLite file, fixed secrets, fake
AWS credentials, AWS endpoints pointed at a closed port, and @connections pointed at a
local stand-in, so no figure includes a network round trip.

    .venv/bin/python bench/cold_start.py [--repeat 3] [--cold-bytecode]

The layer is measured as `sam build` ships it (layers/omnichat/Makefile): a copy of the
omnichat package compiled to unchecked-hash bytecode, the dependencies with the bytecode pip
compiled. --cold-bytecode compiles every module from source (no .pyc anywhere): what a
package built without bytecode pays on Lambda's read-only file system at every cold start.
Target: every handler <= 300 ms and <= 80 MB.
Last line: {"functions": N, "max_import_ms": ..., "max_rss_mb": ..., "per_function": {...}}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "omnichat"
EVENTS = ROOT / "events"
TARGET_MS, TARGET_MB = 300.0, 80.0
USER_ID = "01JD8ZQ3M6X4K9W2T7R5B1N0CV"  # the user in the sample WebSocket events


# ------------------------------------------------------------------------------ template
def functions(template_path: Path) -> dict[str, dict[str, Any]]:
    """Logical id -> code folder, handler, memory, and the representative first event."""
    from samcli.yamlhelper import yaml_parse

    template = yaml_parse(template_path.read_text())
    g = template.get("Globals", {}).get("Function", {})
    found = {}
    for name, r in template["Resources"].items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        p = r["Properties"]
        found[name] = {
            "code": str(ROOT / p["CodeUri"]),
            "handler": p.get("Handler", g.get("Handler", "app.handler")),
            "memory": p.get("MemorySize", g.get("MemorySize", 128)),
            "timeout": p.get("Timeout", g.get("Timeout", 3)),
            "event": first_event(p["CodeUri"]),
        }
    return found


def first_event(code_uri: str) -> Any:
    """A first invocation each function really gets (samples from events/)."""
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS / name).read_text())

    folder = Path(code_uri).name
    if folder == "api":
        return load("http-api-health.json")
    if folder == "authorizer":
        return load("ws-authorizer-request.json")  # a ticket nobody issued: looked up, refused
    if folder == "ws_connect":
        return load("ws-connect.json")
    if folder == "ws_disconnect":
        return load("ws-disconnect.json")
    if folder == "ws_chat":
        event = load("ws-message.json")
        event["requestContext"]["routeKey"] = "ping"
        event["body"] = json.dumps({"action": "ping", "request_id": "bench"})
        return event
    if folder == "migrate":
        return {}  # a direct invocation: upgrade (nothing to do) and report the revision
    if folder == "gateway":
        return {"asgi": "GET /v1/models"}
    return None


# ------------------------------------------------------------------------------ the child
def child(spec: dict[str, Any]) -> None:
    import importlib.util
    import time

    sys.path[:0] = [spec["code"], spec["layer"]]
    handler = spec["handler"]
    asgi = handler == "run.sh"  # Lambda Web Adapter: uvicorn serves app.py's ASGI `app`
    module_file, attribute = ("app.py", "app") if asgi else (handler.rsplit(".", 1)[0] + ".py", handler.rsplit(".", 1)[1])
    t0 = time.perf_counter()
    if asgi:
        import uvicorn  # noqa: F401  (what run.sh starts before the app)
    module_spec = importlib.util.spec_from_file_location(module_file[:-3], Path(spec["code"]) / module_file)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    entry = getattr(module, attribute)
    t1 = time.perf_counter()
    outcome = None
    if spec["event"] is not None:
        outcome = invoke_asgi(entry, spec["event"]["asgi"]) if asgi else invoke(entry, spec)
    t2 = time.perf_counter()
    print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_invoke_ms": (t2 - t1) * 1000, "outcome": outcome}))


def invoke(handler: Any, spec: dict[str, Any]) -> Any:
    from types import SimpleNamespace

    context = SimpleNamespace(function_name=spec["name"], function_version="$LATEST", aws_request_id="bench",
                              invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{spec['name']}",
                              memory_limit_in_mb=spec["memory"], log_stream_name="bench",
                              get_remaining_time_in_millis=lambda: spec["timeout"] * 1000)
    result = handler(spec["event"], context)
    if isinstance(result, dict):
        return result.get("statusCode") or result.get("revision") or \
            (result.get("policyDocument") or {}).get("Statement", [{}])[0].get("Effect")
    return None


def invoke_asgi(app: Any, request: str) -> int:
    import asyncio

    method, path = request.split(" ", 1)
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return status[0] if status else 0


# ------------------------------------------------------------------------------ the parent
class Connections(ThreadingHTTPServer):
    """@connections stand-in: accepts posts so ws_chat's pong goes somewhere local."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def prepare(home: Path) -> str:
    """A migrated SQLite database holding the sample events' user (in a throwaway process,
    so none of this is counted)."""
    url = f"sqlite:///{home / 'omnichat.db'}"
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from omnichat.db import migrate\n"
        "from omnichat.db.engine import session_scope\n"
        "from omnichat.db.models import User\n"
        "migrate.upgrade(%r)\n"
        "with session_scope(%r) as db:\n"
        "    db.merge(User(id=%r, email='ada@example.com', name='Ada', password_hash='x', role='user'))\n"
    ) % (str(LAYER), url, url, USER_ID)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=home)
    return url


def built_layer(home: Path, cold_bytecode: bool) -> str:
    """The layer's omnichat package as the build ships it: a copy, compiled like the
    Makefile compiles it (or left as source for --cold-bytecode)."""
    import shutil

    target = home / "layer"
    shutil.copytree(LAYER / "omnichat", target / "omnichat", ignore=shutil.ignore_patterns("__pycache__"))
    if not cold_bytecode:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                        str(target)], check=True)
    return str(target)


def child_env(home: Path, db_url: str, ws_endpoint: str, name: str, spec: dict[str, Any],
              cold_bytecode: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMNICHAT_", "DATABASE_URL"))}
    env.update({
        "OMNICHAT_ENV": "local", "OMNICHAT_HOME": str(home), "DATABASE_URL": db_url,
        "OMNICHAT_JWT_SECRET": "bench-secret-" + "x" * 40, "OMNICHAT_WS_ENDPOINT": ws_endpoint,
        "OLLAMA_HOST": "http://127.0.0.1:9", "OMNICHAT_OLLAMA_ENABLED": "true", "OMNICHAT_BEDROCK_ENABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "omnichat", "LOG_LEVEL": "WARNING", "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec["memory"]),
        "LAMBDA_TASK_ROOT": spec["code"], "PYTHONDONTWRITEBYTECODE": "1",
    })
    if cold_bytecode:
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="pyc-", dir=home)
    return env


def run_child(name: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    payload = json.dumps({**spec, "name": name})
    r, w = os.pipe()
    errors = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # the child: exec a fresh interpreter, stdout on the pipe
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(errors.fileno(), 2)
            os.chdir(spec["code"])
            os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), "--child", payload], env)
        finally:
            os._exit(127)
    os.close(w)
    with os.fdopen(r) as pipe:
        out = pipe.read()
    _, status, usage = os.wait4(pid, 0)  # this child's own rusage: its peak RSS
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if os.waitstatus_to_exitcode(status) != 0 or not lines:
        errors.seek(0)
        tail = errors.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
        return {"error": f"exit {os.waitstatus_to_exitcode(status)}: {tail[0][:200]}", "rss_mb": usage.ru_maxrss / 1024}
    errors.close()
    result = json.loads(lines[-1])
    result["rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per function (median reported)")
    parser.add_argument("--cold-bytecode", action="store_true", help="compile everything from source")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    specs = functions(args.template)
    server = Connections()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    per_function: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="omnichat-cold-") as tmp:
        home = Path(tmp)
        db_url = prepare(home)
        layer = built_layer(home, args.cold_bytecode)
        ws_endpoint = f"http://127.0.0.1:{server.server_port}/prod"
        for name, spec in specs.items():
            spec = {**spec, "layer": layer}
            runs = [run_child(name, spec, child_env(home, db_url, ws_endpoint, name, spec, args.cold_bytecode))
                    for _ in range(args.repeat)]
            ok = [r for r in runs if "error" not in r]
            if not ok:
                per_function[name] = {"error": runs[0]["error"], "rss_mb": round(runs[0]["rss_mb"], 1)}
                continue
            imports = statistics.median(r["import_ms"] for r in ok)
            firsts = statistics.median(r["first_invoke_ms"] for r in ok)
            per_function[name] = {
                "import_ms": round(imports, 1),
                "first_invoke_ms": round(firsts, 1),
                "init_ms": round(imports + firsts, 1),
                "rss_mb": round(max(r["rss_mb"] for r in ok), 1),
                "first_invocation": ok[0].get("outcome"),
            }
    server.shutdown()

    print(f"{'function':24} {'import ms':>10} {'1st call ms':>12} {'total ms':>9} {'peak RSS MB':>12}  target")
    for name, f in per_function.items():
        if "error" in f:
            print(f"{name:24} {'error: ' + f['error']:>45}")
            continue
        within = f["init_ms"] <= TARGET_MS and f["rss_mb"] <= TARGET_MB
        print(f"{name:24} {f['import_ms']:>10.1f} {f['first_invoke_ms']:>12.1f} {f['init_ms']:>9.1f} "
              f"{f['rss_mb']:>12.1f}  {'ok' if within else 'OVER'}")
    measured = [f for f in per_function.values() if "error" not in f]
    summary = {
        "functions": len(per_function),
        "max_import_ms": max((f["import_ms"] for f in measured), default=None),
        "max_init_ms": max((f["init_ms"] for f in measured), default=None),
        "max_rss_mb": max((f["rss_mb"] for f in measured), default=None),
        "errors": len(per_function) - len(measured),
        "bytecode": "none (compiled at start)" if args.cold_bytecode else "as built",
        "per_function": per_function,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
