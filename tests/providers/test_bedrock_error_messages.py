"""Every way a Bedrock call fails, through the provider against the emulator's real wire
protocol, comes out with a stable code and a message a user can act on; Bedrock's own words
(exception names, ARNs, hosts) stay in the error's `detail`, for the logs. Model access as a
new account meets it (no Marketplace subscription, Anthropic's use-case form) says what to do."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.bedrock.access import DENIALS
from local.bedrock.errors import ERROR_STATUS, STREAM_EXCEPTIONS
from omnichat.providers.errors import ProviderError
from omnichat.providers.types import ChatRequest, Message, TextDelta
from tests.providers.conftest_bedrock import (  # noqa: F401  (fixtures)
    aws_env,
    bedrock,
    bedrock_server,
    boto_client,
    closed_port,
    provider_for,
    run,
    user,
)
from tests.user_facing import PROVIDER_CODES, assert_user_facing

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_PROFILE = "us." + HAIKU
# What a real error message may carry: an account's ARN, an endpoint URL.
RAW = ("User: arn:aws:sts::123456789012:assumed-role/omnichat-ws/x is not authorized (endpoint "
       "https://bedrock-runtime.us-east-1.amazonaws.com)")

EXPECTED_CODES = {
    "ValidationException": "invalid_request",
    "SerializationException": "provider_error",
    "AccessDeniedException": "access_denied",
    "ResourceNotFoundException": "model_not_found",
    "ModelTimeoutException": "timeout",
    "ModelErrorException": "provider_error",
    "ThrottlingException": "throttled",
    "ModelNotReadyException": "provider_unavailable",
    "ServiceQuotaExceededException": "throttled",
    "InternalServerException": "provider_unavailable",
    "ServiceUnavailableException": "provider_unavailable",
    "UnknownOperationException": "provider_error",
}
IN_STREAM_CODES = {
    "internalServerException": "provider_unavailable",
    "modelStreamErrorException": "provider_error",
    "validationException": "invalid_request",
    "throttlingException": "throttled",
    "serviceUnavailableException": "provider_unavailable",
}


def failure(url: str, text: str = "x [[tokens=6]]", model: str = HAIKU, **overrides: Any
            ) -> tuple[str, ProviderError]:
    """The text streamed before the call failed, and its error (whose message must be fit
    for a user)."""
    received: list[str] = []
    request = ChatRequest(model=model, messages=(Message.text("user", text),))

    async def body() -> None:
        async for event in provider_for(url, **overrides).stream_chat(request):
            if isinstance(event, TextDelta):
                received.append(event.text)

    with pytest.raises(ProviderError) as caught:
        run(body)
    error = caught.value
    assert error.code in PROVIDER_CODES and error.provider == "bedrock"
    assert_user_facing(error.message)
    return "".join(received), error


def test_the_codes_cover_every_error_the_emulator_answers() -> None:
    assert set(EXPECTED_CODES) == set(ERROR_STATUS)
    assert set(IN_STREAM_CODES) == set(STREAM_EXCEPTIONS)


@pytest.mark.parametrize("aws_code", sorted(EXPECTED_CODES))
def test_error_answers_have_a_stable_code_and_a_plain_message(bedrock, aws_code) -> None:
    bedrock.state.faults.error(aws_code, message=RAW)
    _, error = failure(bedrock.url)
    assert error.code == EXPECTED_CODES[aws_code]
    assert aws_code in error.detail and RAW in error.detail  # for the logs


@pytest.mark.parametrize("stream_code", sorted(IN_STREAM_CODES))
def test_in_stream_exceptions_keep_the_text_and_show_a_plain_message(bedrock, stream_code) -> None:
    bedrock.state.faults.midstream(after_deltas=2, code=stream_code, message=RAW)
    partial, error = failure(bedrock.url)
    assert error.code == IN_STREAM_CODES[stream_code] and len(partial.split()) == 2 == len(error.partial_text.split())
    assert "ModelStreamErrorException" not in error.message


def test_corrupted_stream_stall_and_unreachable_endpoint(bedrock, aws_env) -> None:
    bedrock.state.faults.corrupt(after_deltas=1)
    assert failure(bedrock.url)[1].code == "provider_error"
    bedrock.state.faults.stall(3.0)
    assert failure(bedrock.url, provider_read_timeout_s=0.3)[1].code == "timeout"
    port = closed_port()
    _, error = failure(f"http://127.0.0.1:{port}")
    assert error.code == "provider_unavailable" and "unreachable" in error.detail


def test_refused_credentials_are_access_denied_not_model_access(bedrock, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")  # the emulator checks signatures
    _, error = failure(bedrock.url)
    assert error.code == "access_denied" and "InvalidSignatureException" in error.detail
    assert "credentials" in error.message and "administrator" in error.message


@pytest.mark.parametrize("model", [HAIKU, HAIKU_PROFILE, f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"])
def test_a_model_the_account_has_not_subscribed_to_says_to_ask_an_admin(bedrock, model) -> None:
    bedrock.state.access.set(HAIKU, "not_subscribed")
    try:
        _, error = failure(bedrock.url, model=model)
    finally:
        bedrock.state.access.clear()
    assert error.code == "model_not_enabled" and error.status == 403
    assert "not enabled in this AWS account" in error.message and "administrator" in error.message
    assert "aws-marketplace:Subscribe" in error.detail


def test_anthropics_use_case_form_is_named(bedrock) -> None:
    bedrock.state.access.set(HAIKU, "use_case_form")
    try:
        _, error = failure(bedrock.url)
    finally:
        bedrock.state.access.clear()
    assert error.code == "model_not_enabled" and "use-case form" in error.message


def test_a_profile_only_model_called_by_id_names_the_way_out(bedrock) -> None:
    _, error = failure(bedrock.url, model="anthropic.claude-3-5-haiku-20241022-v1:0")
    assert error.code == "invalid_request" and "inference profile" in error.message


def test_the_emulator_answers_access_denied_over_the_wire(bedrock, aws_env) -> None:
    """Set over the emulator's admin endpoint (as another process would), seen by boto3."""
    runtime = boto_client("bedrock-runtime", bedrock.url)
    setting = json.dumps({"model_id": HAIKU, "state": "not_subscribed"}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{bedrock.url}/_emulator/access", data=setting,
                                                       method="POST"), timeout=5) as answer:
        assert json.load(answer) == {"models": {HAIKU: "not_subscribed"}}
    try:
        for call in (lambda: runtime.converse(modelId=HAIKU_PROFILE, messages=[user("hi")]),
                     lambda: runtime.converse_stream(modelId=HAIKU, messages=[user("hi")])):
            with pytest.raises(ClientError) as caught:
                call()
            assert caught.value.response["Error"] == {"Code": "AccessDeniedException",
                                                      "Message": DENIALS["not_subscribed"]}
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        other = runtime.converse(modelId="amazon.nova-micro-v1:0", messages=[user("hi")])
        assert other["stopReason"] == "end_turn"  # only the model configured as not subscribed
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{bedrock.url}/_emulator/access", method="DELETE"),
                               timeout=5).close()
    assert runtime.converse(modelId=HAIKU, messages=[user("hi")])["stopReason"] == "end_turn"
