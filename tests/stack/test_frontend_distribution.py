"""CloudFront in front of the page and /api: client-side routes get the app shell from the
S3 origin only (the SPA function, run here under Node as CloudFront runs it), every /api
answer reaches the page with its own status, and the page gets the same
Content-Security-Policy as under the local stack."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from omnichat.security_headers import CONTENT_SECURITY_POLICY, PAGE_HEADERS


def distribution(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["FrontendDistribution"]["Properties"]["DistributionConfig"]


def behaviours(resources: dict[str, Any]) -> list[dict[str, Any]]:
    config = distribution(resources)
    return [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]


def rewrite(code: str, uris: list[str]) -> list[str]:
    """Each viewer-request URI after the CloudFront Function `code` (cloudfront-js-2.0)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js here to run the CloudFront Function with")
    script = code + "\nconsole.log(JSON.stringify(%s.map(function (uri) {\n" \
        "  return handler({version: '1.0', context: {eventType: 'viewer-request'}, viewer: {ip: '192.0.2.1'},\n" \
        "    request: {method: 'GET', uri: uri, querystring: {}, headers: {}, cookies: {}}}).uri;\n})));" \
        % json.dumps(uris)
    result = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_client_side_routes_load_the_app_shell_and_files_stay_files(resources: dict[str, Any]) -> None:
    code = resources["FrontendSpaFunction"]["Properties"]["FunctionCode"]
    routes = ["/", "/chat/123", "/admin/models", "/settings/", "/c/abc-DEF_1"]
    files = ["/index.html", "/assets/index-3f2a.js", "/favicon.svg", "/theme.js", "/assets/missing.css"]
    assert rewrite(code, routes) == ["/index.html"] * len(routes)
    assert rewrite(code, files) == files


def test_only_the_s3_origins_default_behaviour_rewrites_and_no_error_becomes_a_200(resources: dict[str, Any]) -> None:
    config = distribution(resources)
    # CustomErrorResponses apply to every origin: a refused /api call would reach the page
    # as 200 + index.html.
    assert all(int(e.get("ResponseCode", e["ErrorCode"])) == int(e["ErrorCode"])
               for e in config.get("CustomErrorResponses", []))
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "frontend"
    assert {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["FrontendSpaFunction", "FunctionARN"]}} \
        in default["FunctionAssociations"]
    for behaviour in config["CacheBehaviors"]:
        functions = [f["FunctionARN"] for f in behaviour.get("FunctionAssociations", [])]
        assert {"Fn::GetAtt": ["FrontendSpaFunction", "FunctionARN"]} not in functions, behaviour["PathPattern"]
    api = next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/*")
    assert api["TargetOriginId"] == "api" and "FunctionAssociations" not in api


def test_every_response_carries_the_pages_content_security_policy(resources: dict[str, Any]) -> None:
    """The same policy string as the local stack's (omnichat.security_headers), so what the
    browser test proves there holds behind CloudFront."""
    for behaviour in behaviours(resources):
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "FrontendResponseHeadersPolicy"}, \
            behaviour.get("PathPattern", "default")
    headers = resources["FrontendResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]
    assert csp["Override"] is True
    assert csp["ContentSecurityPolicy"] == CONTENT_SECURITY_POLICY
    # What the managed SecurityHeadersPolicy gave before, kept.
    assert headers["FrameOptions"]["FrameOption"] == "DENY" and headers["ContentTypeOptions"]["Override"] is True
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == PAGE_HEADERS["referrer-policy"]  # the local stack's too


def test_the_policy_lets_the_page_reach_its_websocket_api(resources: dict[str, Any]) -> None:
    """config.json's wsUrl is a wss:// URL on execute-api, another host than the page."""
    code = resources["FrontendConfigFunction"]["Properties"]["FunctionCode"]["Fn::Sub"][0]
    assert '"wsUrl":"wss://' in code
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert "wss:" in directives["connect-src"].split()
