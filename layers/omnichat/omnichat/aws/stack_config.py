"""What a `sam deploy` would send, read without SAM CLI: template.yaml's parameters, rules
and conditions, and one samconfig.toml environment's parameter overrides.

CloudFormation's own parameter validation (AllowedValues, AllowedPattern, MaxLength,
Min/MaxValue, per element for a CommaDelimitedList) and its Rules and Conditions functions
are written once here: the preflight uses them and so do the template tests.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AWS_SPECIFIC = ("AWS::", "List<AWS::")


class StackConfigError(Exception):
    """A template or samconfig.toml that cannot be read; the message says which and why."""


def parse_template(text: str) -> Any:
    """A template's text (YAML or JSON) with CloudFormation's short-form tags in their long
    form (`!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]},
    `!Equals [...]` -> {"Fn::Equals": [...]}). The local API Gateway reads template.yaml
    with it too."""
    import yaml  # the `local` extra; imported here only, the Lambda hot path never needs it

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    def construct(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix in ("Ref", "Condition"):
            return {suffix: value}
        if suffix == "GetAtt" and isinstance(value, str):
            resource, _, attribute = value.partition(".")
            return {"Fn::GetAtt": [resource, attribute]}
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", construct)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader


def load_template(path: str | Path) -> dict[str, Any]:
    """template.yaml, parsed by `parse_template`."""
    try:
        import yaml
    except ImportError:
        raise StackConfigError("reading template.yaml needs PyYAML: pip install 'omnichat[local]'") from None
    try:
        template = parse_template(Path(path).read_text())
    except OSError as exc:
        raise StackConfigError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise StackConfigError(f"{path}: not a readable template: {exc}") from None
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise StackConfigError(f"{path}: not a CloudFormation template (no Resources)")
    return template


@dataclass
class DeployConfig:
    """One samconfig.toml environment's deploy settings."""

    env: str
    stack_name: str = ""
    region: str = ""
    overrides: dict[str, str] = field(default_factory=dict)


def load_samconfig(path: str | Path, env: str) -> DeployConfig:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise StackConfigError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise StackConfigError(f"{path}: not valid TOML: {exc}") from None
    if env not in data:
        raise StackConfigError(f"{path}: no environment [{env}] (found: {', '.join(sorted(data)) or 'none'})")
    # SAM CLI's precedence: the command's own section over `global`.
    merged: dict[str, Any] = {**data[env].get("global", {}).get("parameters", {}),
                              **data[env].get("deploy", {}).get("parameters", {})}
    return DeployConfig(env=env, stack_name=str(merged.get("stack_name", "")), region=str(merged.get("region", "")),
                        overrides=parse_overrides(merged.get("parameter_overrides", [])))


def parse_overrides(value: str | list[str]) -> dict[str, str]:
    """`parameter_overrides` as SAM CLI accepts it: a list of "Key=Value" strings, or one
    shell-quoted string of them."""
    items = shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise StackConfigError(f"parameter_overrides: {item!r} is not Key=Value")
        pairs[key] = val
    return pairs


def violations(definition: dict[str, Any], value: str) -> list[str]:
    """Why CloudFormation would refuse `value` for this parameter (empty: accepted)."""
    kind = str(definition.get("Type", "String"))
    if kind.startswith(AWS_SPECIFIC):
        return []  # CloudFormation checks these against the account itself
    values = [v.strip() for v in value.split(",")] if kind == "CommaDelimitedList" else [value]
    problems: list[str] = []
    for v in values:
        if "AllowedValues" in definition and v not in [str(a) for a in definition["AllowedValues"]]:
            problems.append(f"{v!r} is not one of {definition['AllowedValues']}")
        if "AllowedPattern" in definition and not re.fullmatch(definition["AllowedPattern"], v):
            problems.append(f"{v!r} does not match {definition['AllowedPattern']}")
        if "MaxLength" in definition and len(v) > int(definition["MaxLength"]):
            problems.append(f"{v!r} is longer than {definition['MaxLength']}")
        if kind == "Number":
            try:
                number = float(v)
            except ValueError:
                problems.append(f"{v!r} is not a number")
                continue
            if "MinValue" in definition and number < float(definition["MinValue"]):
                problems.append(f"{v} < MinValue {definition['MinValue']}")
            if "MaxValue" in definition and number > float(definition["MaxValue"]):
                problems.append(f"{v} > MaxValue {definition['MaxValue']}")
    return problems


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Every parameter's value for a deploy: the override, else the template's Default."""
    values = {name: str(p.get("Default", "")) for name, p in (template.get("Parameters") or {}).items()}
    values.update(overrides)
    return values


def evaluate(node: Any, values: dict[str, str], conditions: dict[str, Any] | None = None) -> Any:
    """The condition functions (Ref, Equals, Not, And, Or, Contains, Condition, If) over
    concrete parameter values; anything else is returned as is."""
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return values.get(arg, node) if arg != "AWS::NoValue" else None
        if fn == "Condition":
            return evaluate((conditions or {})[arg], values, conditions)
        if fn == "Fn::Equals":
            left, right = (evaluate(a, values, conditions) for a in arg)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not evaluate(arg[0], values, conditions)
        if fn == "Fn::And":
            return all(evaluate(a, values, conditions) for a in arg)
        if fn == "Fn::Or":
            return any(evaluate(a, values, conditions) for a in arg)
        if fn == "Fn::Contains":
            return evaluate(arg[1], values, conditions) in evaluate(arg[0], values, conditions)
        if fn == "Fn::If":
            name, then, otherwise = arg
            chosen = then if evaluate((conditions or {})[name], values, conditions) else otherwise
            return evaluate(chosen, values, conditions)
    return node


def failed_rules(template: dict[str, Any], values: dict[str, str]) -> list[str]:
    """Names of the template's Rules whose assertions fail for these parameter values."""
    values = parameter_values(template, values)
    failed = []
    for name, rule in (template.get("Rules") or {}).items():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], values):
            continue
        if not all(evaluate(a["Assert"], values) for a in rule["Assertions"]):
            failed.append(name)
    return failed


def reserved_concurrency(template: dict[str, Any], values: dict[str, str]) -> dict[str, int]:
    """ReservedConcurrentExecutions of each function the deploy creates (Globals included),
    by logical id, with parameters, conditions and Fn::If resolved."""
    conditions = template.get("Conditions") or {}
    globals_ = ((template.get("Globals") or {}).get("Function") or {})
    found: dict[str, int] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        if "Condition" in resource and not evaluate(conditions[resource["Condition"]], values, conditions):
            continue
        properties = resource.get("Properties") or {}
        raw = properties.get("ReservedConcurrentExecutions")
        if raw is None and resource["Type"] == "AWS::Serverless::Function":
            raw = globals_.get("ReservedConcurrentExecutions")
        value = evaluate(raw, values, conditions)
        if value is None or isinstance(value, dict):
            continue  # not reserved, or not knowable before the deploy
        found[logical_id] = int(float(value))
    return found
