"""`sam local start-api` stays usable: SAM CLI's own route discovery (the API provider it
runs before starting containers; it needs no Docker) reads template.yaml and lists every
HTTP route, and the WebSocket resources do not trip it (aws-sam-cli #2610, #7975)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .conftest import ROOT, TEMPLATE

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]


def discover(template_file: str | None = None, template_dict: dict[str, Any] | None = None) -> list[Any]:
    from samcli.lib.providers.api_provider import ApiProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(template_file=template_file, template_dictionary=template_dict,
                                                 global_parameter_overrides={"AWS::Region": "us-east-1"})
    return ApiProvider(stacks, cwd=str(ROOT)).routes


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM_CLI_TELEMETRY", "0")


def test_sam_cli_lists_every_http_route(functions: dict[str, Any]) -> None:
    routes = {(r.path, r.function_name): sorted(r.methods) for r in discover(template_file=str(TEMPLATE))}
    for path, fn in routes:
        print(f"sam local start-api would serve: ANY {path} -> {fn}")
    declared = {(e["Properties"]["Path"], name) for name, f in functions.items()
                for e in f["Properties"].get("Events", {}).values() if e["Type"] == "HttpApi"}
    assert set(routes) == declared == {("/api/{proxy+}", "ApiFunction"), ("/v1/{proxy+}", "GatewayApiFunction")}
    assert all(methods == ALL_METHODS for methods in routes.values())


def test_sam_cli_uses_its_sam_parser_and_ignores_the_websocket_routes() -> None:
    from samcli.lib.providers.api_provider import ApiProvider
    from samcli.lib.providers.sam_api_provider import SamApiProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(template_file=str(TEMPLATE),
                                                 global_parameter_overrides={"AWS::Region": "us-east-1"})
    assert isinstance(ApiProvider.find_api_provider(stacks), SamApiProvider)
    assert not [r for r in discover(template_file=str(TEMPLATE)) if r.path.startswith("$")]


def test_the_declaration_order_is_what_keeps_it_working(template: dict[str, Any]) -> None:
    """Move the WebSocket resources to the top, as #2610 reports, and SAM CLI's discovery
    breaks on `$connect`: the order in template.yaml is load-bearing."""
    resources = template["Resources"]
    websocket_first = {n: r for n, r in resources.items() if r["Type"].startswith("AWS::ApiGatewayV2::")}
    websocket_first.update({n: r for n, r in resources.items() if n not in websocket_first})
    reordered = copy.deepcopy(dict(template))
    reordered["Resources"] = copy.deepcopy(websocket_first)
    with pytest.raises(Exception) as excinfo:
        discover(template_dict=reordered)
    print(f"with WebSocket resources first: {type(excinfo.value).__name__}: {excinfo.value}")
