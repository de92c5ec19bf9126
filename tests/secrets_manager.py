"""AWS Secrets Manager for tests: moto's server on loopback (one per test module) and a
boto3 client of it, with the environment pointing omnichat's own client at it. A test
module takes both as its own fixtures:

    moto_url, aws = secrets_manager.moto_url, secrets_manager.aws
"""

from __future__ import annotations

import boto3
import pytest

from local.serve import moto_server
from omnichat.aws import secrets


@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(monkeypatch, moto_url):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url}.items():
        monkeypatch.setenv(name, value)
    secrets.clear_cache()
    yield boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_url)
    secrets.clear_cache()
