"""docs/deploy.md stays true to the template: the parameters and outputs it names exist,
and it covers every mode, upgrading, tearing down and the cost of idle and busy."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import ROOT

DOC = (ROOT / "docs" / "deploy.md").read_text()


def test_parameters_and_outputs_named_in_the_guide_exist(template: dict[str, Any]) -> None:
    table_params = re.findall(r"^\| `(\w+)`(?: / `(\w+)`|, `(\w+)`)?", DOC, re.MULTILINE)
    named = {n for row in table_params for n in row if n}
    assert named and named <= set(template["Parameters"]), named - set(template["Parameters"])
    for output in ("WebUrl", "OpenAIBaseUrl", "WebSocketUrl", "HttpApiUrl", "FrontendBucketName",
                   "FrontendDistributionId", "OllamaRepositoryUri"):
        assert output in DOC and output in template["Outputs"], output


def test_the_guide_covers_what_a_new_user_needs() -> None:
    for heading in ("## Local and hybrid", "## AWS", "## Upgrading", "## Tearing down", "## Monthly cost"):
        assert heading in DOC, heading
    assert re.search(r"\*\*Total per month\*\* \| \| \*\*≈ \$\d+\*\* \| \*\*≈ \$\d+\*\*", DOC)
    assert "scaled to zero" in DOC and "aws.amazon.com/" in DOC  # Ollama at zero; price sources


def first_deploy_section() -> str:
    start = DOC.index("### First deploy on a new account")
    return DOC[start:DOC.index("\n### ", start + 1)]


def test_the_guide_answers_every_question_the_guided_deploy_asks_about_authentication(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`sam deploy --guided` asks "<resource> has no authentication. Is this okay? [y/N]" for
    each of these, and its default aborts the deploy (aws-sam-cli#1990). The list comes from
    SAM CLI's own check over the template."""
    from samcli.commands.deploy.auth_utils import auth_per_resource
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    from .conftest import TEMPLATE

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # SAM's transform needs one; nothing is called
    stacks, _ = SamLocalStackProvider.get_stacks(str(TEMPLATE))
    asked = [resource for resource, authorized in auth_per_resource(stacks) if not authorized]
    assert asked, "no question: then this test and the guide's paragraph can go"
    section = first_deploy_section()
    paragraph = section[section.index("has no authentication. Is this okay?"):]
    paragraph = paragraph[:paragraph.index("\n   - ", 1)]
    for resource in asked:
        assert f"`{resource}`" in paragraph, resource
    assert "Answer **y**" in paragraph


def test_the_first_deploy_walk_through_runs_the_preflight_and_pushes_the_image() -> None:
    section = first_deploy_section()
    commands = re.findall(r"^\s*\.venv/bin/omnichat (aws preflight.*?)(?:\s+#.*)?$", section, re.MULTILINE)
    assert commands, "the walk-through starts with `omnichat aws preflight`"
    from omnichat.cli import main

    for command in commands:  # the CLI accepts what the guide tells people to type
        with pytest.raises(SystemExit) as help_exit:
            main([*command.split(), "--help"])
        assert help_exit.value.code == 0, command
    pushed = re.search(r'docker push "\$REPO:([^"]+)"', section)
    assert pushed and f"OllamaImageTag={pushed.group(1)}" in section  # the tag pushed is the tag deployed
    assert "OllamaRepositoryUri" in section and "docker build" in section


def test_bedrock_access_is_an_admins_one_time_action_with_real_commands() -> None:
    """The console's "Model access" page is retired; the guide names the Marketplace
    permissions the admin needs and CLI commands that exist in Bedrock's API."""
    import botocore.session

    for line in DOC.splitlines():
        if "model access" in line.lower() and "retired" not in line:
            raise AssertionError(f"points at the retired Model access page: {line}")
    section = first_deploy_section()
    for permission in ("aws-marketplace:Subscribe", "aws-marketplace:Unsubscribe", "aws-marketplace:ViewSubscriptions"):
        assert permission in section
    operations = set(botocore.session.get_session().get_service_model("bedrock").operation_names)
    used = re.findall(r"aws bedrock ([a-z-]+)", DOC)
    assert used
    for command in used:
        assert "".join(part.capitalize() for part in command.split("-")) in operations, command


def test_cloudfront_verification_and_the_concurrency_quota_are_explained() -> None:
    section = first_deploy_section()
    assert "verified" in section and "AWS Support" in section
    assert "WsChatReservedConcurrency" in section and "GatewayReservedConcurrency" in section
