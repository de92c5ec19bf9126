"""Cold start of every function in template.yaml, measured the way Lambda pays for it.

For each function (and each repetition) a fresh Python process is started, as Lambda
starts a fresh runtime: the handler's folder first on sys.path (like /var/task), then
layers/omnichat (like /opt/python). It imports the handler module (Lambda's INIT phase),
then serves one representative first invocation, which is where lazily built things (the
FastAPI app, database connections, AWS clients, secrets) are built. Reported per function:
import time, first-invocation time, the child's peak RSS (VmHWM, read by the child itself)
and which heavy libraries (FRAMEWORKS) the child loaded.

ws_chat's first invocation is a user's chat.send, and the gateway's a streamed chat
completion with the user's API key, both answered by the deterministic test model of
local/ollama (no model cost); the REST API's is a user's chat list with that key; the
others get the events/ samples. Two variants, reported apart ("variants" in the JSON):
ws_chat and the gateway asking a model on Bedrock, answered by local/bedrock's emulator,
which is what a Bedrock deployment's first chat costs (its signed HTTPS client included).

Everything runs in AWS mode (OMNICHAT_ENV=aws) and offline: the JWT secret (and with
--postgres the database credentials) read from Secrets Manager as deployed, moto's server
answering on loopback; a migrated SQLite file or, with --postgres, a throwaway PostgreSQL
database; fake AWS credentials, other AWS endpoints pointed at a closed port, and
@connections pointed at a local stand-in. Round trips are loopback ones.

    .venv/bin/python bench/cold_start.py [--repeat 3] [--cold-bytecode] [--postgres URL]

The layer is built as `sam build` builds it (layers/omnichat/Makefile), for this machine's
Python and CPU: requirements.txt and the omnichat package, compiled to bytecode, and nothing
else on the child's path (no site-packages). --cold-bytecode removes that bytecode: what a
layer without it pays on Lambda's read-only file system at every cold start.
Target: every handler <= 300 ms and <= 80 MB. Baselines from the same run follow the
table: a process that only imports sqlalchemy.orm, fastapi, or both, from the same layer,
and the issue's own yardstick, a process that creates a boto3 bedrock-runtime client
(about 200 ms where the target was set). This machine's speed varies between sessions by
2x, so each function's time is also given as a ratio to that yardstick: the target is
<= 1.5x (300 / 200).
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "omnichat"
EVENTS = ROOT / "events"
TARGET_MS, TARGET_MB = 300.0, 80.0
# Baselines measured in the same run: what importing the frameworks alone costs, and the
# yardstick the target was set against (the issue: "creating a boto3 bedrock-runtime
# client alone costs about 200 ms and 45 MB here").
YARDSTICK = "boto3 bedrock-runtime client"
YARDSTICK_MS = 200.0
FLOORS = {"sqlalchemy.orm": "import sqlalchemy.orm", "fastapi": "import fastapi",
          "fastapi + sqlalchemy.orm": "import fastapi, sqlalchemy.orm",
          YARDSTICK: "import boto3; boto3.client('bedrock-runtime', region_name='us-east-1')"}
# The heavy libraries a function may load; which of them it did is reported (per_function.frameworks).
FRAMEWORKS = {"sqlalchemy", "alembic", "pydantic", "fastapi", "boto3"}
USER_ID = "01JD8ZQ3M6X4K9W2T7R5B1N0CV"  # the user in the sample WebSocket events
API_KEY = "ock_cold-start-bench-key-0123456789abcdef0123"  # theirs, for the gateway
TEST_MODEL = "ollama/omnichat-test:latest"
BEDROCK_MODEL = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"  # answered by local/bedrock's emulator
# The same functions' first call with a model on Bedrock, reported apart from the template's
# functions: that call also makes the Bedrock client and its first signed request.
VARIANTS = {"WsChatFunction+Bedrock": "WsChatFunction", "GatewayFunction+Bedrock": "GatewayFunction"}


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


def first_event(code_uri: str, model: str = TEST_MODEL) -> Any:
    """A first invocation each function really gets (samples from events/); a chat
    function's asks `model`."""
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS / name).read_text())

    folder = Path(code_uri).name
    if folder == "api":  # a signed-in client's first call: its chat list, with the user's API key
        event = load("http-api-health.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/api/chats"
        event["pathParameters"] = {"proxy": "chats"}
        event["headers"]["authorization"] = f"Bearer {API_KEY}"
        return event
    if folder == "authorizer":
        return load("ws-authorizer-request.json")  # a ticket nobody issued: looked up, refused
    if folder == "ws_connect":
        return load("ws-connect.json")
    if folder == "ws_disconnect":
        return load("ws-disconnect.json")
    if folder == "ws_chat":  # a user's first message, answered by the local test model
        event = load("ws-message.json")
        body = json.loads(event["body"])
        event["body"] = json.dumps({**body, "model": model})
        return event
    if folder == "indexer":  # an upload's S3 notification through SQS, for a file deleted since: acknowledged
        return load("sqs-s3-object-created.json")
    if folder == "migrate":
        return {}  # a direct invocation: upgrade (nothing to do) and report the revision
    if folder == "gateway":  # an OpenAI client's first call: the key checked, the answer streamed, the call logged
        return {"asgi": "POST /v1/chat/completions", "key": API_KEY, "body": {
            "model": model, "stream": True, "messages": [{"role": "user", "content": "Hello there"}]}}
    return None


# ------------------------------------------------------------------------------ the child
def child(spec: dict[str, Any]) -> None:
    import importlib.util
    import time

    sys.path[:0] = [spec["code"], spec["layer"]]
    if spec.get("floor"):  # a baseline: only this, with the layer's libraries
        t0 = time.perf_counter()
        exec(compile(spec["floor"], "<floor>", "exec"), {})
        print(json.dumps({"import_ms": (time.perf_counter() - t0) * 1000, "first_invoke_ms": 0.0,
                          "rss_mb": peak_rss_mb()}))
        return
    handler = spec["handler"]
    asgi = handler == "run.sh"  # Lambda Web Adapter: uvicorn serves app.py's ASGI `app`
    handler_module, _, handler_function = handler.rpartition(".")
    module_file, attribute = ("app.py", "app") if asgi else (handler_module + ".py", handler_function)
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
    profiler = None
    if spec.get("profile"):  # --profile: where the first call's time goes
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if spec["event"] is not None:
        outcome = invoke_asgi(entry, spec["event"]) if asgi else invoke(entry, spec)
    t2 = time.perf_counter()
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    loaded = sorted({m.split(".")[0] for m in sys.modules} & FRAMEWORKS)
    print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_invoke_ms": (t2 - t1) * 1000, "outcome": outcome,
                      "rss_mb": peak_rss_mb(), "frameworks": loaded}))


def peak_rss_mb() -> float:
    """VmHWM: the peak RSS of this process image (not of the parent it was forked from)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def invoke(handler: Any, spec: dict[str, Any]) -> Any:
    from types import SimpleNamespace

    context = SimpleNamespace(function_name=spec["name"], function_version="$LATEST", aws_request_id="bench",
                              invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{spec['name']}",
                              memory_limit_in_mb=spec["memory"], log_stream_name="bench",
                              get_remaining_time_in_millis=lambda: spec["timeout"] * 1000)
    result = handler(spec["event"], context)
    if isinstance(result, dict) and "batchItemFailures" in result:  # an SQS batch: how many to retry
        return f"{len(result['batchItemFailures'])} to retry"
    if isinstance(result, dict):
        return result.get("statusCode") or result.get("revision") or \
            (result.get("policyDocument") or {}).get("Statement", [{}])[0].get("Effect")
    return None


def invoke_asgi(app: Any, event: dict[str, Any]) -> int:
    """One request to the ASGI app, as Lambda Web Adapter forwards it; the whole response
    is read (a streamed answer included)."""
    import asyncio

    method, path = event["asgi"].split(" ", 1)
    body = json.dumps(event["body"]).encode()
    status: list[int] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:  # the request is whole; as a server does, wait until the response ends
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {event['key']}".encode()),
               (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return status[0] if status else 0


# ------------------------------------------------------------------------------ the parent
def prepare(home: Path, url: str) -> str:
    """Migrates the database and adds the sample events' user and their API key (in a
    throwaway process, so none of this is counted)."""
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from omnichat.auth.opaque import hash_secret\n"
        "from omnichat.db import migrate\n"
        "from omnichat.db.engine import session_scope\n"
        "from omnichat.db.models import ApiKey, User\n"
        "migrate.upgrade(%r)\n"
        "with session_scope(%r) as db:\n"
        "    db.merge(User(id=%r, email='ada@example.com', name='Ada', password_hash='x', role='user'))\n"
        "    db.flush()\n"
        "    db.merge(ApiKey(id='bench-key', user_id=%r, name='bench', prefix=%r, key_hash=hash_secret(%r)))\n"
    ) % (str(LAYER), url, url, USER_ID, USER_ID, API_KEY[:10], API_KEY)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=home)
    return url


def built_layer(home: Path, cold_bytecode: bool) -> str:
    """The layer exactly as `sam build` makes it (layers/omnichat/Makefile), for this
    machine's Python and CPU: the pinned dependencies and nothing else (the venv's extra
    packages would change what imports what), all compiled to bytecode. --cold-bytecode
    then removes the bytecode, as SAM's own python builder shipped it."""
    import platform
    import shutil

    machine = platform.machine()
    target = home / "layer"
    build = subprocess.run(
        ["make", "-s", "-C", str(LAYER), "build-OmniChatLayer", f"ARTIFACTS_DIR={target}",
         f"PYTHON={sys.executable}", f"PYVERSION={sys.version_info[0]}.{sys.version_info[1]}",
         f"PLATFORMS=--platform manylinux_2_34_{machine} --platform manylinux2014_{machine}"],
        capture_output=True, text=True, check=False)
    if build.returncode != 0:
        raise SystemExit(f"building the layer failed:\n{build.stdout[-2000:]}{build.stderr[-2000:]}")
    if cold_bytecode:
        for cache in list((target / "python").rglob("__pycache__")):
            shutil.rmtree(cache)
    return str(target / "python")


@contextmanager
def local_ollama(home: Path) -> Iterator[Any]:
    """The local Ollama-compatible server with its deterministic test model: ws_chat's first
    message gets a real streamed answer, at no model cost."""
    from local.ollama import create_app
    from local.serve import ServerThread

    with ServerThread(create_app(home / "models", deterministic=True)) as server:
        yield server


@contextmanager
def secrets_manager(db_url: str) -> Iterator[dict[str, str]]:
    """moto's server as Secrets Manager, holding the JWT secret and (for PostgreSQL) the
    database credentials, so each function reads them as it does in AWS, over HTTP."""
    import boto3
    from sqlalchemy import make_url

    from local.serve import moto_server

    with moto_server() as endpoint:
        client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
        env = {"AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint, "OMNICHAT_JWT_SECRET_ARN": client.create_secret(
            Name="omnichat/jwt", SecretString="bench-secret-" + "x" * 40)["ARN"]}
        url = make_url(db_url)
        if url.get_backend_name() == "postgresql":  # as the template wires RDS: a secret, host, port, name
            env.update({"OMNICHAT_DB_HOST": url.host or "127.0.0.1", "OMNICHAT_DB_PORT": str(url.port or 5432),
                        "OMNICHAT_DB_NAME": url.database or "", "OMNICHAT_DB_SECRET_ARN": client.create_secret(
                            Name="omnichat/db", SecretString=json.dumps(
                                {"username": url.username, "password": url.password or ""}))["ARN"]})
        else:
            env["DATABASE_URL"] = db_url
        yield env


@contextmanager
def local_bedrock() -> Iterator[Any]:
    """local/bedrock's emulator: Bedrock's runtime and control plane over their real wire
    protocols (SigV4-signed REST, the event stream), with a deterministic model."""
    from local.bedrock import EmulatorServer, create_app

    with EmulatorServer(create_app()) as server:
        yield server


def child_env(home: Path, aws: dict[str, str], ws_endpoint: str, ollama_url: str, name: str,
              spec: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMNICHAT_", "DATABASE_URL"))}
    env.update(aws)
    env.update({
        # AWS mode, as deployed (database TLS off: the local server has no certificate)
        "OMNICHAT_ENV": "aws", "OMNICHAT_DB_TLS": "false", "OMNICHAT_HOME": str(home),
        "OMNICHAT_WS_ENDPOINT": ws_endpoint,
        "OLLAMA_HOST": ollama_url, "OMNICHAT_OLLAMA_ENABLED": "true", "OMNICHAT_BEDROCK_ENABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "omnichat", "LOG_LEVEL": "WARNING", "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec["memory"]),
        "LAMBDA_TASK_ROOT": spec["code"], "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def child_command(name: str, spec: dict[str, Any]) -> list[str]:
    # -S: no site-packages; the function sees its own folder, the built layer, the stdlib
    return [sys.executable, "-S", str(Path(__file__).resolve()), "--child", json.dumps({**spec, "name": name})]


def run_child(name: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(child_command(name, spec), env=env, cwd=spec["code"], capture_output=True, text=True,
                          check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-1:] or [""]
        return {"error": f"exit {done.returncode}: {tail[0][:200]}", "rss_mb": 0.0}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per function (median reported)")
    parser.add_argument("--cold-bytecode", action="store_true", help="compile everything from source")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL (a database is created on it)")
    parser.add_argument("--profile", metavar="FUNCTION",
                        help="run only this function's first call once, under cProfile (to stderr)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    sys.path.insert(0, str(ROOT))  # the parent's helpers (local/, bench/); a child sees only its function and the layer
    from bench.scratch import scratch_database
    from local.serve import PostRecorder

    specs = functions(args.template)
    per_function: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="omnichat-cold-") as tmp, ExitStack() as stack:
        home = Path(tmp)
        db_url = prepare(home, stack.enter_context(scratch_database(args.postgres, home, prefix="omnichat_cold")))
        aws = stack.enter_context(secrets_manager(db_url))
        ollama = stack.enter_context(local_ollama(home))
        bedrock_url = stack.enter_context(local_bedrock()).url
        aws = {**aws, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_url, "AWS_ENDPOINT_URL_BEDROCK": bedrock_url}
        layer = built_layer(home, args.cold_bytecode)
        ws_endpoint = stack.enter_context(PostRecorder()).url  # where ws_chat's answer goes
        jobs = {name: {**spec, "layer": layer} for name, spec in specs.items()}
        jobs.update({variant: {**jobs[name], "event": first_event(Path(specs[name]["code"]).name, BEDROCK_MODEL)}
                     for variant, name in VARIANTS.items() if name in specs})
        jobs.update({label: {"code": layer, "layer": layer, "memory": 128, "floor": code}
                     for label, code in FLOORS.items()})
        if args.profile:
            spec = {**jobs[args.profile], "profile": True}
            return subprocess.run(child_command(args.profile, spec), cwd=spec["code"], check=False,
                                  env=child_env(home, aws, ws_endpoint, ollama.url, args.profile, spec)).returncode
        # Round robin, so a change in the machine's speed during the run touches every
        # function and baseline alike (the ratios stay fair).
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in jobs}
        for _ in range(args.repeat):
            for name, spec in jobs.items():
                runs[name].append(run_child(name, spec, child_env(home, aws, ws_endpoint, ollama.url, name, spec)))
    variants = [variant for variant in VARIANTS if variant in runs]
    for name in [*specs, *variants]:
        ok = [r for r in runs[name] if "error" not in r]
        if not ok:
            per_function[name] = {"error": runs[name][0]["error"], "rss_mb": round(runs[name][0]["rss_mb"], 1)}
            continue
        imports = statistics.median(r["import_ms"] for r in ok)
        firsts = statistics.median(r["first_invoke_ms"] for r in ok)
        per_function[name] = {
            "import_ms": round(imports, 1),
            "first_invoke_ms": round(firsts, 1),
            "init_ms": round(imports + firsts, 1),
            "rss_mb": round(max(r["rss_mb"] for r in ok), 1),
            "first_invocation": ok[0].get("outcome"),
            "frameworks": ok[0].get("frameworks"),
        }
    floors = {label: {"import_ms": round(statistics.median(r["import_ms"] for r in runs[label]), 1),
                      "rss_mb": round(max(r["rss_mb"] for r in runs[label]), 1)} for label in FLOORS}
    yardstick = floors[YARDSTICK]["import_ms"]
    for f in per_function.values():
        if "error" not in f:
            f["vs_yardstick"] = round(f["init_ms"] / yardstick, 2)
    print(f"{'function':24} {'import ms':>10} {'1st call ms':>12} {'total ms':>9} {'peak RSS MB':>12} "
          f"{'x yardstick':>12}  target (ms / x yardstick)")
    for name, f in per_function.items():
        if "error" in f:
            print(f"{name:24} {'error: ' + f['error']:>45}")
            continue
        memory = f["rss_mb"] <= TARGET_MB
        verdicts = ["ok" if f["init_ms"] <= TARGET_MS and memory else "OVER",
                    "ok" if f["vs_yardstick"] <= TARGET_MS / YARDSTICK_MS and memory else "OVER"]
        print(f"{name:24} {f['import_ms']:>10.1f} {f['first_invoke_ms']:>12.1f} {f['init_ms']:>9.1f} "
              f"{f['rss_mb']:>12.1f} {f['vs_yardstick']:>12.2f}  {' / '.join(verdicts)}")
    for label, floor in floors.items():
        print(f"{'(floor) ' + label:24} {floor['import_ms']:>10.1f} {'':>12} {floor['import_ms']:>9.1f} "
              f"{floor['rss_mb']:>12.1f} {floor['import_ms'] / yardstick:>12.2f}")
    print(f"yardstick: {yardstick:.0f} ms here ({YARDSTICK_MS:.0f} ms where the target was set), so 300 ms "
          f"there is {TARGET_MS * yardstick / YARDSTICK_MS:.0f} ms here (target <= {TARGET_MS / YARDSTICK_MS:.1f}x)")
    extra = {variant: per_function.pop(variant) for variant in variants}
    measured = [f for f in per_function.values() if "error" not in f]
    summary = {
        "functions": len(per_function),
        "max_import_ms": max((f["import_ms"] for f in measured), default=None),
        "max_init_ms": max((f["init_ms"] for f in measured), default=None),
        "max_rss_mb": max((f["rss_mb"] for f in measured), default=None),
        "errors": len(per_function) - len(measured),
        "bytecode": "none (compiled at start)" if args.cold_bytecode else "as built",
        "database": "postgresql" if args.postgres else "sqlite",
        "per_function": per_function,
        "variants": extra,
        "floors": floors,
        "yardstick_ms": yardstick,
        "max_vs_yardstick": max((f["vs_yardstick"] for f in measured), default=None),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
