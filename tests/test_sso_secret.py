"""The OpenID Connect client's credentials from AWS Secrets Manager (moto's server on
loopback): a plain secret, the JSON template.yaml stores for its Cognito app client
(client id and secret), and clear errors for a missing secret or JSON without a client id."""

from __future__ import annotations

import json

import pytest

from omnichat.auth import sso
from omnichat.config import Settings
from tests import secrets_manager

moto_url, aws = secrets_manager.moto_url, secrets_manager.aws  # fixtures


def test_a_plain_secret_and_the_templates_json(aws):
    plain = aws.create_secret(Name="omnichat/oidc-plain", SecretString="the-secret")["ARN"]
    settings = Settings(oidc_issuer="https://idp.example", oidc_client_id="web", oidc_client_secret_arn=plain)
    assert settings.sso_enabled and sso.client_credentials(settings) == ("web", "the-secret")
    stored = aws.create_secret(Name="omnichat/stack/oidc-client",
                               SecretString=json.dumps({"client_id": "abc123", "client_secret": "xyz"}))["ARN"]
    settings = Settings(oidc_issuer="https://idp.example", oidc_client_secret_arn=stored)
    assert settings.sso_enabled and sso.client_credentials(settings) == ("abc123", "xyz")


def test_missing_or_incomplete_secrets_are_clear_errors(aws):
    missing = Settings(oidc_issuer="https://idp.example", oidc_client_id="web",
                       oidc_client_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")
    with pytest.raises(sso.SsoError) as error:
        sso.client_credentials(missing)
    assert error.value.code == "sso_misconfigured" and "secret" in error.value.message
    no_id = aws.create_secret(Name="omnichat/oidc-noid", SecretString=json.dumps({"client_secret": "x"}))["ARN"]
    with pytest.raises(sso.SsoError) as error:
        sso.client_credentials(Settings(oidc_issuer="https://idp.example", oidc_client_secret_arn=no_id))
    assert error.value.code == "sso_misconfigured"
