"""Lambda "migrate": runs the database migrations. Invoked directly it returns the
revision; as a CloudFormation custom resource it runs on every Create and Update and
reports back to CloudFormation (Delete leaves the database alone).

A database at a revision this code does not know was migrated by a newer release: the
usual case is CloudFormation rolling a failed update back to this older code after the
newer code migrated. Migrations are forward-only, so that is not a failure: the function
reports SUCCESS and changes nothing (a FAILED answer would leave the stack in
UPDATE_ROLLBACK_FAILED)."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

log = logging.getLogger("omnichat.migrate")
log.setLevel(logging.INFO)


def _migrate() -> tuple[str | None, bool]:
    """(the database's revision, whether this code may migrate it)."""
    from omnichat.config import get_settings
    from omnichat.db import migrate

    url = get_settings().resolved_database_url
    found = migrate.current(url)
    if found is not None and not migrate.knows(found):
        log.warning("database at revision %s, newer than this code's %s: left unchanged", found, migrate.HEAD)
        return found, False
    migrate.upgrade(url)
    return migrate.current(url), True


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
        revision, migrated = _migrate()
        return {"revision": revision, "unchanged_newer": not migrated}
    try:
        data: dict[str, Any] = {}
        reason = ""
        if event["RequestType"] in ("Create", "Update"):
            revision, migrated = _migrate()
            data = {"Revision": revision or ""}
            if not migrated:
                reason = (f"Database at revision {revision}, newer than this code knows (a newer release migrated "
                          "it): left unchanged")
        _send_cfn_response(event, context, "SUCCESS", data, reason=reason)
        return data
    except Exception as exc:  # CloudFormation must hear about a failure, or it waits an hour
        log.exception("migration failed")
        _send_cfn_response(event, context, "FAILED", {}, reason=f"Migration failed: {exc}"[:500])
        return {"error": str(exc)}
