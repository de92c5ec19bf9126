"""Settings and secrets from AWS Secrets Manager (moto's server stands in for AWS, on
loopback, over the real wire protocol; boto3 creates the secrets, omnichat reads them)."""

from __future__ import annotations

import json

import pytest

from omnichat.aws import secrets
from omnichat.aws.client import AwsError
from omnichat.config import Settings, _url_from_secret, load_jwt_secret
from tests import secrets_manager

moto_url, aws = secrets_manager.moto_url, secrets_manager.aws  # fixtures


def test_secret_values_strings_binaries_and_their_cache(aws):
    arn = aws.create_secret(Name="omnichat/cache-test", SecretString="first")["ARN"]
    assert secrets.get_secret(arn) == "first"
    aws.put_secret_value(SecretId=arn, SecretString="second")
    assert secrets.get_secret(arn) == "first"  # cached for max_age
    assert secrets.get_secret(arn, max_age=0) == "second"
    binary = aws.create_secret(Name="omnichat/binary", SecretBinary=b"raw-bytes")["ARN"]
    assert secrets.get_secret(binary) == "raw-bytes"  # sent base64-encoded in the JSON, as AWS does


def test_a_missing_secret_is_a_typed_error_not_retried(aws):
    with pytest.raises(AwsError) as missing:
        secrets.get_secret("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")
    assert missing.value.code == "ResourceNotFoundException"  # AWS answers 400, moto 404: the code is what counts


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


def test_an_empty_environment_gives_the_declared_defaults():
    """Each default is written once, on its field: reading no variables changes none."""
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"OMNICHAT_PROVIDER_READ_TIMEOUT": "", "OMNICHAT_DB_PORT": ""}) == Settings()


def test_each_variable_reaches_its_field_with_its_type():
    s = Settings.from_env({"OMNICHAT_DB_PORT": "6543", "OMNICHAT_BEDROCK_ENABLED": "yes", "OMNICHAT_HOME": "/srv/o",
                           "OMNICHAT_PROVIDER_READ_TIMEOUT": "7.5", "OMNICHAT_ENV": "aws", "OMNICHAT_DB_TLS": "off"})
    assert (s.db_port, s.bedrock_enabled, str(s.home), s.provider_read_timeout_s) == (6543, True, "/srv/o", 7.5)
    assert s.pull_queue and not s.db_tls  # unset, pulls follow the environment; set, TLS is as asked
