"""checkov's suppressions say why. `make lint` runs checkov (with cfn-lint and `sam
validate`: tests/stack/template_checks.py) and fails on any finding; what it may skip is
decided here: each skip in a resource's Metadata has a reason, and .checkov.yaml skips two
checks everywhere, each named in a comment that says why."""

from __future__ import annotations

from typing import Any

import yaml

from .conftest import ROOT

CONFIG = ROOT / ".checkov.yaml"


def test_every_checkov_skip_in_the_template_has_a_reason(resources: dict[str, Any]) -> None:
    skips = [(name, skip) for name, r in resources.items()
             for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", [])]
    assert skips, "the template suppresses nothing: has the Metadata format changed?"
    for name, skip in skips:
        print(f"skipped {skip['id']} on {name}: {skip.get('comment', '')}")
        assert len(skip.get("comment", "").strip()) >= 30, f"{skip['id']} on {name} is suppressed without a reason"


def test_checkov_config_skips_only_what_it_explains() -> None:
    text = CONFIG.read_text()
    skipped = yaml.safe_load(text)["skip-check"]
    assert set(skipped) == {"CKV_AWS_115", "CKV_AWS_116"}
    for check_id in skipped:
        assert f"# {check_id} (" in text, f"{check_id} is skipped in .checkov.yaml without a reason"
