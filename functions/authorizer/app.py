"""Lambda "authorizer": the REQUEST authorizer on the WebSocket API's $connect. It
redeems the single-use ticket from the query string and allows the connection with the
user's id and role, and the credential that obtained the ticket (its session or API key
id, checked again on every message), as context; anything else is denied."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="omnichat")


def _policy(effect: str, method_arn: str, principal_id: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}]},
    }
    if context:
        response["context"] = context
    return response


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from omnichat.auth import tickets
    from omnichat.config import get_settings
    from omnichat.errors import Unauthorized

    method_arn = event.get("methodArn", "*")
    ticket = (event.get("queryStringParameters") or {}).get("ticket", "")
    if not ticket:
        logger.info("connect without a ticket")
        return _policy("Deny", method_arn, "anonymous")
    try:
        principal = tickets.redeem(get_settings().resolved_database_url, ticket)
    except Unauthorized:
        logger.info("connect with an invalid ticket")  # never log the ticket itself
        return _policy("Deny", method_arn, "anonymous")
    context = {"userId": principal.user_id, "role": principal.role, "email": principal.email}
    # Context values are strings, numbers or booleans (never null): only the one that is set.
    if principal.session_id:
        context["sessionId"] = principal.session_id
    if principal.api_key_id:
        context["apiKeyId"] = principal.api_key_id
    return _policy("Allow", method_arn, principal.user_id, context)
