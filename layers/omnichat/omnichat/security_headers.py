"""The one source of the web page's Content-Security-Policy.

The local stack sends `CONTENT_SECURITY_POLICY` with every file of the built page, and
template.yaml's CloudFront response-headers policy carries the same string (a template test
compares the two), so the page runs under one policy in every mode. Change it here first.

Why each directive: the bearer token lives in localStorage and model output is rendered as
HTML, so no script may run but the page's own files (`script-src 'self'`, no inline script,
no eval); no plugins; no framing (clickjacking); no `<base>` (relative URLs stay ours).
`connect-src` adds `ws:`/`wss:` because the WebSocket API may live on another host
(API Gateway's execute-api in AWS, another port locally). Styles come from the page's own
CSS files only: Svelte sets a component's dynamic `style="..."` through the CSSOM
(`element.style.cssText`), which the policy allows; a parsed style attribute is blocked.
"""

from __future__ import annotations

DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data: blob:"),  # blob: the chat's image attachments, fetched with the token
    ("font-src", "'self'"),
    ("connect-src", "'self' ws: wss:"),
    ("object-src", "'none'"),
    ("frame-ancestors", "'none'"),
    ("base-uri", "'none'"),
    ("form-action", "'self'"),
)

CONTENT_SECURITY_POLICY: str = "; ".join(f"{name} {value}" for name, value in DIRECTIVES)

# The headers the local stack adds to every response of the built page, as template.yaml's
# CloudFront response-headers policy does (a share link's token is in its path: another
# site is told the origin at most).
PAGE_HEADERS: dict[str, str] = {"content-security-policy": CONTENT_SECURITY_POLICY,
                                "referrer-policy": "strict-origin-when-cross-origin",
                                "x-content-type-options": "nosniff"}
