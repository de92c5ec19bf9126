"""HTTP API through the emulator: payload 2.0 events field by field against the captured
samples in events/, the format 2.0 response rules, route selection, errors as API Gateway
answers them, Lambda Web Adapter functions, the static site, and the function environment."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from local.gateway.server import RunningGateway

from .support import assert_same_shape, recorded, sample


@pytest.fixture(scope="module")
def client(gateway: RunningGateway) -> httpx.Client:
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        yield c


def event_of(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()["event"]


def test_get_event_has_the_fields_and_types_of_a_real_one(client: httpx.Client) -> None:
    event = event_of(client.get("/api/health", headers={"accept": "application/json",
                                                         "content-type": "application/json"}))
    assert_same_shape(sample("http-api-health.json"), event)
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "ANY /api/{proxy+}"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/api/health"
    assert event["pathParameters"] == {"proxy": "health"}
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["http"]["userAgent"].startswith("python-httpx/")
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert "connection" not in event["headers"]  # hop-by-hop headers are not forwarded


def test_post_event_with_a_json_body_matches_the_signup_sample(client: httpx.Client) -> None:
    body = {"email": "lambda@example.com", "password": "correct horse battery", "name": "Lambda"}
    event = event_of(client.post("/api/auth/signup", json=body, headers={"accept": "application/json"}))
    assert_same_shape(sample("http-api-signup.json"), event)
    assert json.loads(event["body"]) == body and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"


def test_query_cookies_and_repeated_headers_follow_format_2_0(client: httpx.Client) -> None:
    headers = [("X-Multi", "one"), ("X-Multi", "two"), ("Cookie", "session=abc; theme=dark")]
    event = event_of(client.get("/api/search?q=a%20b&tag=x&tag=y&empty=", headers=headers))
    assert event["rawQueryString"] == "q=a%20b&tag=x&tag=y&empty="
    assert event["queryStringParameters"] == {"q": "a b", "tag": "x,y", "empty": ""}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert all(name == name.lower() for name in event["headers"])


def test_binary_bodies_arrive_base64_encoded(client: httpx.Client) -> None:
    raw = bytes(range(256))
    event = event_of(client.post("/api/upload", content=raw, headers={"content-type": "application/octet-stream"}))
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
    event = event_of(client.post("/api/notes", content="plain words", headers={"content-type": "text/plain"}))
    assert event["isBase64Encoded"] is False and event["body"] == "plain words"


def test_the_most_specific_route_wins(client: httpx.Client) -> None:
    event = event_of(client.get("/api/items/42"))
    assert event["routeKey"] == "GET /api/items/{id}" and event["pathParameters"] == {"id": "42"}
    event = event_of(client.delete("/api/items/42"))  # only ANY /api/{proxy+} takes a DELETE
    assert event["routeKey"] == "ANY /api/{proxy+}" and event["pathParameters"] == {"proxy": "items/42"}


def test_unknown_routes_answer_404_as_api_gateway_does(client: httpx.Client) -> None:
    for method, path in [("GET", "/nothing/here.png"), ("POST", "/nothing"), ("GET", "/api")]:
        response = client.request(method, path)
        assert response.status_code == 404 and response.json() == {"message": "Not Found"}, (method, path)


def test_format_2_0_response_inference(client: httpx.Client) -> None:
    response = client.get("/api/plain-dict")  # no statusCode: 200 application/json, the value as body
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": "world", "n": 1}
    response = client.get("/api/plain-string")
    assert response.status_code == 200 and response.text == "just text"
    response = client.get("/api/cookies")  # statusCode, headers, cookies
    assert response.status_code == 201 and response.text == "made"
    assert response.headers["x-one"] == "1" and response.headers["x-flag"] == "true"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2; Path=/"]
    assert response.headers["apigw-requestid"]
    response = client.get("/api/binary")  # isBase64Encoded: the bytes
    assert response.content == b"\x89PNG\r\n\x1a\n\x00\x01\x02\xff" and response.headers["content-type"] == "image/png"


def test_one_content_length_for_the_body_sent(client: httpx.Client) -> None:
    response = client.get("/api/own-length")
    assert response.headers.get_list("content-length") == ["4"] and response.text == "four"


def test_a_raising_handler_is_a_500_and_the_server_keeps_serving(client: httpx.Client) -> None:
    for _ in range(3):
        response = client.get("/api/boom")
        assert response.status_code == 500 and response.json() == {"message": "Internal Server Error"}
        assert client.get("/api/still-alive").status_code == 200
    response = client.get("/api/bad-status")  # not a valid format 2.0 response
    assert response.status_code == 500 and response.json() == {"message": "Internal Server Error"}


def test_integration_timeout_is_a_503(client: httpx.Client) -> None:
    response = client.get("/api/sleep?s=1.5")  # the fixture gateway's integration timeout: 1 s
    assert response.status_code == 503 and response.json() == {"message": "Service Unavailable"}
    assert client.get("/api/after-timeout").status_code == 200


def test_oversized_request_bodies_are_refused(client: httpx.Client) -> None:
    response = client.post("/api/big", content=b"x" * ((1 << 20) + 1), headers={"content-type": "text/plain"})
    assert response.status_code == 413


def test_environment_and_context_come_from_the_template(client: httpx.Client, gateway: RunningGateway) -> None:
    info = client.get("/debug/env").json()
    env, context = info["env"], info["context"]
    assert env["FIXTURE_GLOBAL"] == "from-globals"          # Globals.Function
    assert env["FIXTURE_REGION"] == "us-east-1"             # !Sub with a pseudo parameter
    assert env["FIXTURE_IS_TEST"] == "yes"                  # !If on a condition of a parameter default
    assert env["FIXTURE_OWN"] == "own-from-file"            # env-vars file, function section
    assert env["FIXTURE_FROM_FILE"] == "from-file"          # env-vars file, Parameters
    assert env["FIXTURE_KWARG"] == "from-kwarg"             # keyword override
    assert env["FIXTURE_DB_HOST"] is None and env["FIXTURE_SECRET"] is None  # only exist in AWS: dropped
    assert env["OMNICHAT_ENV"] == "local"
    assert env["OMNICHAT_WS_ENDPOINT"] == f"{gateway.url}/test"  # the stage, from a parameter default
    assert context["function_name"] == "HttpFunction" and context["memory"] == 256
    assert context["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:HttpFunction"
    assert 4000 < context["remaining_ms"] <= 5000          # the function's own Timeout: 5
    assert "[$LATEST]" in context["log_stream"] and context["request_id"]


def test_web_adapter_functions_serve_their_asgi_app_streaming(client: httpx.Client) -> None:
    info = client.get("/v1/models").json()
    assert info["started"] is True  # the app's lifespan startup ran, as under its own server
    assert info["path"] == "/v1/models" and info["method"] == "GET"
    assert info["request_context"]["routeKey"] == "ANY /v1/{proxy+}"
    with client.stream("GET", "/v1/stream") as response:
        chunks = [chunk for chunk in response.iter_text() if chunk]
    assert "".join(chunks) == "".join(f"chunk{i}\n" for i in range(5))


def test_static_site_with_single_page_app_fallback(client: httpx.Client) -> None:
    assert "<title>OmniChat</title>" in client.get("/").text
    assert client.get("/assets/app.js").text == "console.log('hi')"
    assert "<title>OmniChat</title>" in client.get("/chats/01JD8ZQ3").text  # the SPA's router takes it
    assert client.get("/assets/missing.js").status_code == 404
    assert client.get("/%2e%2e/%2e%2e/etc/hostname").status_code == 404  # no escape from the folder
    assert client.get("/api/anything").json()["event"]["rawPath"] == "/api/anything"  # API routes first


def test_static_site_answers_carry_the_page_policy(client: httpx.Client) -> None:
    from omnichat.security_headers import CONTENT_SECURITY_POLICY  # what CloudFront adds in AWS

    for path in ("/", "/index.html", "/assets/app.js", "/chats/01JD8ZQ3"):
        assert client.get(path).headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path


def test_hashed_assets_are_kept_and_the_rest_asked_for_again(client: httpx.Client) -> None:
    """A build names what is under assets/ by its content: kept for a year. index.html (and
    the router's fallback to it) is asked for again, so a rebuilt page is seen at once."""
    assert client.get("/assets/app.js").headers["cache-control"] == "public, max-age=31536000, immutable"
    for path in ("/", "/index.html", "/chats/01JD8ZQ3"):
        assert client.get(path).headers["cache-control"] == "no-cache", path


def test_each_request_is_one_invocation_with_its_own_request_id(client: httpx.Client, gateway: RunningGateway) -> None:
    ids = {client.get(f"/api/count/{i}").headers["apigw-requestid"] for i in range(5)}
    assert len(ids) == 5
    seen = {e["requestContext"]["requestId"] for e in recorded(gateway.url, "http")}
    assert ids <= seen
