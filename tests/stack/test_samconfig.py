"""samconfig.toml, read by SAM CLI's own config loader: default, dev and prod exist, and
every parameter value in them passes the template's constraints and rules, so none of
them fails at deploy time."""

from __future__ import annotations

from typing import Any

import pytest

from .cfn import failed_rules, violations
from .conftest import ROOT

ENVIRONMENTS = ("default", "dev", "prod")


def deploy_settings(env: str) -> dict[str, Any]:
    from samcli.lib.config.samconfig import SamConfig

    return SamConfig(str(ROOT), filename="samconfig.toml").get_all(["deploy"], "parameters", env=env)


def overrides(env: str) -> dict[str, str]:
    from samcli.cli.types import CfnParameterOverridesType

    return dict(CfnParameterOverridesType().convert(deploy_settings(env)["parameter_overrides"], None, None))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_is_complete(env: str) -> None:
    settings = deploy_settings(env)
    assert settings["stack_name"].startswith("omnichat")
    assert "CAPABILITY_IAM" in settings["capabilities"]
    assert settings["resolve_s3"] is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_override_is_a_valid_parameter_value(env: str, template: dict[str, Any]) -> None:
    params = template["Parameters"]
    values = overrides(env)
    unknown = set(values) - set(params)
    assert not unknown, f"{env}: not template parameters: {unknown}"
    for name, value in values.items():
        assert violations(params[name], value) == [], f"{env}: {name}={value}"
    assert failed_rules(template, values) == [], env


def test_environments_differ_where_they_should() -> None:
    dev, prod = overrides("dev"), overrides("prod")
    assert dev["DbDeletionProtection"] == "false" and prod["DbDeletionProtection"] == "true"
    assert prod["DbMultiAz"] == "true" and prod["NatGateways"] == "2"
    assert prod["SnapStart"] == "Enabled" and dev.get("SnapStart", "Disabled") == "Disabled"  # cache is billed
    assert overrides("default")["OllamaDesiredCount"] == "0"  # nothing to run until the image is pushed
    assert len({deploy_settings(e)["stack_name"] for e in ENVIRONMENTS}) == 3
