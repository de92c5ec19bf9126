"""Small, explicit helpers over a parsed template: CloudFormation's own parameter
validation (AllowedValues, AllowedPattern, Min/Max, per-element for lists) and its Rules
functions, so tests can prove a bad `sam deploy` value fails before anything is created."""

from __future__ import annotations

import re
from typing import Any

AWS_SPECIFIC = ("AWS::", "List<AWS::")


def violations(definition: dict[str, Any], value: str) -> list[str]:
    """Why CloudFormation would refuse `value` for this parameter (empty: accepted)."""
    kind = definition["Type"]
    if kind.startswith(AWS_SPECIFIC):
        return []
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


def is_constrained(definition: dict[str, Any]) -> bool:
    kind = definition["Type"]
    if kind.startswith(AWS_SPECIFIC):
        return True  # CloudFormation checks the value against the account itself
    if "AllowedValues" in definition or "AllowedPattern" in definition:
        return True
    return kind == "Number" and "MinValue" in definition and "MaxValue" in definition


def evaluate(node: Any, params: dict[str, str]) -> Any:
    """The condition functions Rules may use, over concrete parameter values."""
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return params[arg]
        if fn == "Fn::Equals":
            left, right = (evaluate(a, params) for a in arg)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not evaluate(arg[0], params)
        if fn == "Fn::And":
            return all(evaluate(a, params) for a in arg)
        if fn == "Fn::Or":
            return any(evaluate(a, params) for a in arg)
        if fn == "Fn::Contains":
            return evaluate(arg[1], params) in evaluate(arg[0], params)
    return node


def failed_rules(template: dict[str, Any], params: dict[str, str]) -> list[str]:
    """Names of the template's Rules whose assertions fail for these parameter values."""
    values = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    values.update(params)
    failed = []
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], values):
            continue
        if not all(evaluate(a["Assert"], values) for a in rule["Assertions"]):
            failed.append(name)
    return failed


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
    from omnichat.aws.stack_config import evaluate, parameter_values

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
