"""The Lambda REQUEST authorizer on $connect, judged as API Gateway judges it.

- An identity source missing or empty: 401, the authorizer is not called.
- The authorizer raises `Exception("Unauthorized")`: 401. Raises anything else, times out
  or answers something that is not a policy: 500.
- The policy's statements (execute-api:Invoke on the methodArn, `*` and `?` wildcards):
  an explicit Deny, or no Allow: 403. Allow: the connection goes on to $connect.
- The `context` values must be strings, numbers or booleans; they reach every later event
  as strings (`7` -> "7", `true` -> "true"), next to `principalId` and `integrationLatency`.
- Results are not cached (AuthorizerResultTtlInSeconds is not emulated).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from dataclasses import dataclass
from typing import Any

from .functions import InvokeResult
from .wsevents import UpgradeRequest

log = logging.getLogger("local.gateway")


@dataclass
class Decision:
    status: int | None                 # None: allowed; else the handshake's HTTP status
    authorizer: dict[str, Any] | None = None
    reason: str = ""


def missing_identity(sources: tuple[str, ...], request: UpgradeRequest) -> str | None:
    lower_headers = {k.lower(): v for k, v in request.headers.items()}
    for source in sources:
        if source.startswith("route.request.querystring."):
            value = (request.query or {}).get(source.rsplit(".", 1)[1], "")
        else:
            value = lower_headers.get(source[len("route.request.header."):].lower(), "")
        if not value:
            return source
    return None


def decide(result: InvokeResult, method_arn: str, context_limit: int) -> Decision:
    if result.timed_out:
        return Decision(500, reason="the authorizer timed out")
    if not result.ok:
        if result.error_message == "Unauthorized":
            return Decision(401, reason="the authorizer raised Unauthorized")
        return Decision(500, reason=f"the authorizer raised {result.error_type}")
    answer = result.value
    if not isinstance(answer, dict) or not isinstance(answer.get("policyDocument"), dict) \
            or not answer.get("principalId"):
        return Decision(500, reason="the authorizer's answer has no principalId and policyDocument")
    statements = answer["policyDocument"].get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    effects = {str(s.get("Effect")) for s in statements if isinstance(s, dict) and _applies(s, method_arn)}
    if "Deny" in effects or "Allow" not in effects:
        return Decision(403, reason="the policy does not allow execute-api:Invoke on " + method_arn)
    context = answer.get("context") or {}
    if not isinstance(context, dict) or len(json.dumps(answer)) > context_limit:
        return Decision(500, reason="the authorizer's context is not a small flat mapping")
    authorizer: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, (dict, list)):
            return Decision(500, reason=f"the authorizer's context value {key!r} is not a string, number or boolean")
        authorizer[str(key)] = _stringify(value)
    authorizer["principalId"] = str(answer["principalId"])
    authorizer["integrationLatency"] = int(result.duration_ms)
    return Decision(None, authorizer)


def _applies(statement: dict[str, Any], method_arn: str) -> bool:
    actions = statement.get("Action") or []
    resources = statement.get("Resource") or []
    actions = [actions] if isinstance(actions, str) else actions
    resources = [resources] if isinstance(resources, str) else resources
    action_ok = any(fnmatch.fnmatchcase("execute-api:Invoke", str(a)) for a in actions)
    return action_ok and any(fnmatch.fnmatchcase(method_arn, str(r)) for r in resources)


def _stringify(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
