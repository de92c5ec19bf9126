"""Lambda "migrate": runs the database migrations. Invoked directly it returns the
revision; as a CloudFormation custom resource it runs on every Create and Update and
reports back to CloudFormation (Delete leaves the database alone)."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

log = logging.getLogger("omnichat.migrate")
log.setLevel(logging.INFO)


def _migrate() -> str | None:
    from omnichat.config import get_settings
    from omnichat.db import migrate

    url = get_settings().resolved_database_url
    migrate.upgrade(url)
    return migrate.current(url)


def _send_cfn_response(event: dict[str, Any], context: Any, status: str, data: dict[str, Any],
                       reason: str = "") -> None:
    body = json.dumps({
        "Status": status,
        "Reason": reason or f"See CloudWatch log stream {getattr(context, 'log_stream_name', '')}",
        "PhysicalResourceId": event.get("PhysicalResourceId") or "omnichat-db-migrations",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"content-type": "", "content-length": str(len(body))})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - CloudFormation's URL
        response.read()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "RequestType" not in event:  # a direct invocation
        return {"revision": _migrate()}
    try:
        data = {"Revision": _migrate() or ""} if event["RequestType"] in ("Create", "Update") else {}
        _send_cfn_response(event, context, "SUCCESS", data)
        return data
    except Exception as exc:  # CloudFormation must hear about a failure, or it waits an hour
        log.exception("migration failed")
        _send_cfn_response(event, context, "FAILED", {}, reason=f"Migration failed: {exc}"[:500])
        return {"error": str(exc)}
