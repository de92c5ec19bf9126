"""Fixtures for the local API Gateway tests: the emulator serving fixtures/template.yaml
on a loopback port, in-process, with real clients (httpx, websockets, boto3) against it.

Starting a gateway applies the functions' environment to os.environ (one process, as in
`make local`); every fixture here restores the environment it found afterwards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.gateway import Limits, cfn, start
from local.gateway.server import RunningGateway

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATE = FIXTURES / "template.yaml"

# The main gateway: API Gateway's limits, except timeouts short enough to test.
LIMITS = Limits(ws_integration_timeout_s=1.0, http_integration_timeout_s=1.0, http_body_bytes=1 << 20)


@pytest.fixture(scope="module")
def saved_environ() -> Iterator[None]:
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


@pytest.fixture(scope="module")
def gateway(saved_environ: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    env_file = tmp_path_factory.mktemp("env") / "env.json"
    env_file.write_text(json.dumps({"Parameters": {"FIXTURE_FROM_FILE": "from-file"},
                                    "HttpFunction": {"FIXTURE_OWN": "own-from-file"}}))
    site = tmp_path_factory.mktemp("site")
    (site / "index.html").write_text("<!doctype html><title>OmniChat</title>")
    (site / "assets").mkdir()
    (site / "assets" / "app.js").write_text("console.log('hi')")
    running = start(TEMPLATE, env_vars=env_file, env={"FIXTURE_KWARG": "from-kwarg"}, static=site, limits=LIMITS)
    yield running
    running.stop()


def variant_template(tmp_dir: Path) -> Path:
    """fixtures/template.yaml, edited as a developer would edit template.yaml: no $default
    route, and a new function with a new WebSocket route and a new HTTP route. Written as
    JSON (CloudFormation's other syntax), with absolute code paths."""
    template: dict[str, Any] = cfn.load(TEMPLATE.read_text())
    resources = template["Resources"]
    for resource in resources.values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = str(FIXTURES / props[key])
    del resources["DefaultRoute"]
    resources["LaterFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": str(FIXTURES / "functions" / "later"), "Handler": "app.handler",
                       "Events": {"Hello": {"Type": "HttpApi", "Properties": {
                           "ApiId": {"Ref": "HttpApi"}, "Path": "/later/{name}", "Method": "POST"}}}}}
    resources["LaterIntegration"] = {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {"ApiId": {"Ref": "WsApi"}, "IntegrationType": "AWS_PROXY",
                       "IntegrationUri": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path"
                                                     "/2015-03-31/functions/${LaterFunction.Arn}/invocations"}}}
    resources["LaterRoute"] = {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {"ApiId": {"Ref": "WsApi"}, "RouteKey": "later.hello",
                       "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "LaterIntegration"}]]}}}
    resources["LaterRouteResponse"] = {
        "Type": "AWS::ApiGatewayV2::RouteResponse",
        "Properties": {"ApiId": {"Ref": "WsApi"}, "RouteId": {"Ref": "LaterRoute"}, "RouteResponseKey": "$default"}}
    path = tmp_dir / "variant.json"
    path.write_text(json.dumps(template, indent=1))
    return path


@pytest.fixture(scope="module")
def variant(saved_environ: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """The variant template, with a 0.6 s idle timeout."""
    running = start(variant_template(tmp_path_factory.mktemp("variant")),
                    limits=Limits(idle_timeout_s=0.6, ws_integration_timeout_s=2.0))
    yield running
    running.stop()
