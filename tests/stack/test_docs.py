"""docs/deploy.md stays true to the template: the parameters and outputs it names exist,
and it covers every mode, upgrading, tearing down and the cost of idle and busy."""

from __future__ import annotations

import re
from typing import Any

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
