"""Small, explicit helpers over a parsed template: CloudFormation's own parameter
validation (AllowedValues, AllowedPattern, Min/Max, per-element for lists) and its Rules
functions, so tests can prove a bad `sam deploy` value fails before anything is created."""

from __future__ import annotations

import re
from typing import Any

# CloudFormation's parameter validation and Rules, written once in the core package (the
# preflight checks samconfig.toml with them too).
from omnichat.aws.stack_config import AWS_SPECIFIC, evaluate, failed_rules, violations  # noqa: F401


def is_constrained(definition: dict[str, Any]) -> bool:
    kind = definition["Type"]
    if kind.startswith(AWS_SPECIFIC):
        return True  # CloudFormation checks the value against the account itself
    if "AllowedValues" in definition or "AllowedPattern" in definition:
        return True
    return kind == "Number" and "MinValue" in definition and "MaxValue" in definition


def sub_text(value: Any) -> str:
    """The template string of a Fn::Sub (either form), or the plain string."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub[0] if isinstance(sub, list) else sub
    return value if isinstance(value, str) else ""


def invoked_function(uri: Any) -> str:
    """What a Lambda integration URI invokes: "Fn" for `${Fn.Arn}`, "Fn.Alias" for a Sub
    variable that is SAM's `!Ref Fn.Alias` (a published alias, as SnapStart needs)."""
    sub = uri["Fn::Sub"]
    text, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
    found = re.search(r"lambda:path/2015-03-31/functions/\$\{([^}]+)\}/invocations$", text)
    assert found, f"not a Lambda integration URI: {text}"
    name = found.group(1)
    return str(variables[name]["Ref"]) if name in variables else name.removesuffix(".Arn")


def statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy_document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_NO_VALUE = object()


def resolve(template: dict[str, Any], node: Any, params: dict[str, str]) -> Any:
    """`node` as one deploy with these parameters sees it: Fn::If chosen by the template's
    Conditions, parameter Refs and Fn::Sub over parameters filled in, AWS::NoValue dropped.
    Resource Refs, GetAtts and pseudo parameters stay as they are (unknowable before)."""
    from omnichat.aws.stack_config import parameter_values

    values = parameter_values(template, params)
    conditions = template.get("Conditions", {})

    def walk(n: Any) -> Any:
        if isinstance(n, dict) and len(n) == 1:
            (fn, arg), = n.items()
            if fn == "Fn::If":
                name, then, otherwise = arg
                return walk(then if evaluate(conditions[name], values, conditions) else otherwise)
            if fn == "Ref" and arg == "AWS::NoValue":
                return _NO_VALUE
            if fn == "Ref" and arg in values:
                return values[arg]
            if fn == "Fn::Sub":
                text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
                for name, value in variables.items():
                    text = text.replace("${%s}" % name, str(walk(value)))
                for name, value in values.items():
                    text = text.replace("${%s}" % name, value)
                return text
        if isinstance(n, dict):
            return {k: w for k, w in ((k, walk(v)) for k, v in n.items()) if w is not _NO_VALUE}
        if isinstance(n, list):
            return [w for w in (walk(v) for v in n) if w is not _NO_VALUE]
        return n

    found = walk(node)
    return None if found is _NO_VALUE else found
