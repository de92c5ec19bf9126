"""Who may call `@connections`: as on AWS, only a request signed with SigV4 (service
`execute-api`) for the functions' region by the credentials the functions have. Anything
else is refused with 403 and the error AWS gives: knowing a connection id (they are in the
log) is not enough to read its identity, post into it or close it.

The functions run in this process, so their credentials are this process's: the
environment's keys (the emulator makes a random pair at start when none are configured,
environment.py), else botocore's chain (a profile, SSO: hybrid mode). They are read at each
request, as the functions' clients read them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from local import sigv4
from omnichat.aws.sigv4 import Credentials, credentials

SERVICE = "execute-api"
log = logging.getLogger("local.gateway")
Reply = tuple[int, list[tuple[str, str]], bytes]


def function_credentials() -> Credentials | None:
    """The credentials the functions in this process sign with: the ones omnichat.aws
    signs with (the environment's keys, else botocore's chain)."""
    return credentials()


def function_region(default: str) -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or default


def _refused(error_type: str, message: str) -> Reply:
    body = json.dumps({"message": message}).encode()
    return 403, [("content-type", "application/json"), ("x-amzn-errortype", error_type)], body


class ManagementAuth:
    def __init__(self, default_region: str,
                 credentials: Callable[[], Credentials | None] = function_credentials) -> None:
        self.default_region, self.credentials = default_region, credentials

    def refusal(self, scope: Mapping[str, Any], body: bytes) -> Reply | None:
        """None when the request is signed by the functions' credentials, else AWS's 403."""
        headers = sigv4.headers_of(scope)
        value = headers.get("authorization")
        if not value:
            return _refused("MissingAuthenticationTokenException", "Missing Authentication Token")
        auth = sigv4.parse(value)
        if auth is None:
            return _refused("IncompleteSignatureException",
                            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
                            "parameters (AWS4-HMAC-SHA256).")
        try:
            own = self.credentials()
        except Exception:  # e.g. an expired SSO session: the functions cannot sign either
            log.warning("@connections: the functions' credentials cannot be read", exc_info=True)
            own = None
        if own is None or auth.access_key != own.access_key \
                or (own.token or None) != (headers.get("x-amz-security-token") or None):
            return _refused("UnrecognizedClientException", "The security token included in the request is invalid.")
        problem = sigv4.problem(scope, headers, auth, body, secret=own.secret_key,
                                region=function_region(self.default_region), service=SERVICE)
        return _refused("InvalidSignatureException", problem) if problem else None
