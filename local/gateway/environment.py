"""The functions' environment variables, merged and applied to this process.

Order, later wins:
1. each function's Globals + own `Environment.Variables` from the template (variables whose
   value only exists in AWS, such as `!GetAtt Database.Endpoint.Address`, are dropped);
2. an env-vars file in `sam local --env-vars` format: `{"Parameters": {...}}` for every
   function, `{"<LogicalId>": {...}}` for one (unlike sam, variables the template does not
   declare are added too);
3. keyword overrides from the caller (`--env KEY=VALUE`);
4. always: `OMNICHAT_ENV=local` and `OMNICHAT_WS_ENDPOINT=http://HOST:PORT/<stage>`.

All functions share one process, so the merged variables go into os.environ once, at
start: a variable that two functions set differently takes the value of the function
that comes later in the template (a warning says so).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from .spec import GatewaySpec

log = logging.getLogger("local.gateway")


def read_env_vars_file(path: str | Path | None) -> dict[str, dict[str, str]]:
    if not path:
        return {}
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected {{\"Parameters\": {{...}}, \"<LogicalId>\": {{...}}}}")
    return {section: {str(k): _str(v) for k, v in values.items()} for section, values in data.items()}


ADAPTER_PREFIX = "AWS_LWA_"


def merged_environment(spec: GatewaySpec, env_vars: dict[str, dict[str, str]] | None = None,
                       overrides: dict[str, str] | None = None) -> dict[str, str]:
    env_vars = env_vars or {}
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for logical_id, fn in spec.functions.items():
        own = {**fn.environment, **env_vars.get("Parameters", {}), **env_vars.get(logical_id, {})}
        for key, value in own.items():
            # Lambda Web Adapter's own settings mean nothing here: the emulator serves
            # those functions' ASGI apps directly.
            if key in merged and merged[key] != value and not key.startswith(ADAPTER_PREFIX):
                log.warning("%s sets %s differently from %s; one process, one value: %s's is used",
                            logical_id, key, origin[key], logical_id)
            merged[key], origin[key] = value, logical_id
    merged.update(env_vars.get("Parameters", {}))
    merged.update({k: _str(v) for k, v in (overrides or {}).items()})
    return merged


def dropped_variables(spec: GatewaySpec, env: dict[str, str]) -> list[str]:
    """Template variables that had no local value and got none from the overrides."""
    return sorted({name for fn in spec.functions.values() for name in fn.unresolved_env if name not in env})


def apply(env: dict[str, str], region: str, ws_endpoint: str) -> None:
    """Set the merged variables, the emulator's own and what Lambda always provides."""
    os.environ.update(env)
    os.environ["OMNICHAT_ENV"] = "local"
    os.environ["OMNICHAT_WS_ENDPOINT"] = ws_endpoint
    os.environ.setdefault("AWS_REGION", region)
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
    if not _aws_credentials_configured():
        # The functions sign their @connections calls and the emulator takes only what they
        # sign (management_auth.py): a pair made now, known to this process alone (a fixed
        # one would let anyone sign). Real credentials, when configured (hybrid), are kept.
        os.environ.update(_process_credentials())


@functools.cache
def _process_credentials() -> dict[str, str]:
    """One pair per process: a function's client made under an earlier emulator in this
    process (tests start several) still holds the keys it read."""
    return new_credentials()


def new_credentials() -> dict[str, str]:
    """A random access key pair, as the environment variables that carry it."""
    return {"AWS_ACCESS_KEY_ID": "LOCAL" + secrets.token_hex(8).upper(),
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30)}


def _aws_credentials_configured() -> bool:
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE") \
            or os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return True
    home = Path(os.environ.get("HOME", "~")).expanduser()
    files = [os.environ.get("AWS_SHARED_CREDENTIALS_FILE", home / ".aws" / "credentials"),
             os.environ.get("AWS_CONFIG_FILE", home / ".aws" / "config")]
    return any(Path(f).is_file() for f in files)


def _str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
