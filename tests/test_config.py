"""Settings and secrets from AWS Secrets Manager (moto stands in for AWS)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from omnichat.config import Settings, _url_from_secret, load_jwt_secret


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_jwt_secret_comes_from_secrets_manager_in_production(aws, tmp_path):
    arn = aws.create_secret(Name="omnichat/jwt", SecretString="from-secrets-manager-" + "s" * 30)["ARN"]
    settings = Settings(environment="aws", home=tmp_path, jwt_secret_arn=arn)
    assert load_jwt_secret(settings) == "from-secrets-manager-" + "s" * 30


def test_database_url_is_built_from_the_rds_secret(aws):
    arn = aws.create_secret(Name="omnichat/db", SecretString=json.dumps(
        {"username": "omni", "password": "p@ss/word", "host": "db.internal", "port": 5432}))["ARN"]
    _url_from_secret.cache_clear()
    settings = Settings(db_secret_arn=arn, db_host="proxy.internal", db_name="omnichat")
    assert settings.resolved_database_url == "postgresql+pg8000://omni:p%40ss%2Fword@proxy.internal:5432/omnichat"


def test_settings_from_environment():
    s = Settings.from_env({"OLLAMA_HOST": "10.0.0.5:11434", "OMNICHAT_ENV": "aws", "AWS_REGION": "eu-west-1",
                           "OMNICHAT_WS_TICKET_TTL": "600"})
    assert s.ollama_host == "http://10.0.0.5:11434" and s.is_production and s.aws_region == "eu-west-1"
    assert s.ws_ticket_ttl_s == 60  # tickets never live longer than a minute
