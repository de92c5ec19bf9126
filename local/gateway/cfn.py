"""CloudFormation templates: YAML with the short-form intrinsic tags, and a resolver for the
intrinsic functions whose value is knowable on a laptop.

`load(text)` turns `!Ref X` into `{"Ref": "X"}`, `!GetAtt A.B` into
`{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` into `{"Fn::Sub": s}` and so on, the long form that
CloudFormation itself works on (JSON templates load unchanged: JSON is YAML).

`Resolver.resolve(value)` evaluates Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Select,
Fn::Split, Fn::If, Fn::Equals/Not/And/Or, Condition, Fn::FindInMap and Fn::Base64 against
parameters (overrides, else their Default) and pseudo parameters. What only a deployed
stack knows (a database endpoint, an import, a parameter without a default) raises
`Unresolvable`; callers decide whether to drop the value or fail.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omnichat.aws.stack_config import parse_template


def load(text: str) -> dict[str, Any]:
    document = parse_template(text)
    if not isinstance(document, dict):
        raise ValueError("the template is not a mapping")
    return document


class Unresolvable(Exception):
    """The value depends on something only a deployed stack knows."""


NO_VALUE = object()  # AWS::NoValue: the property is removed
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Resolver:
    """Evaluates intrinsic functions of one template.

    `ref` and `get_att` decide what a resource's Ref / GetAtt mean; by default both are
    unresolvable (the physical id of a deployed resource), which is right for environment
    variables. The template reader passes functions that name the logical ids instead, to
    follow the wiring between resources.
    """

    template: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    pseudo: dict[str, Any] = field(default_factory=dict)
    ref: Callable[[str], Any] | None = None
    get_att: Callable[[str, str], Any] | None = None
    _conditions: dict[str, bool] = field(default_factory=dict)

    # ---- entry point -------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), = value.items()
                if key == "Ref":
                    return self._ref(arg)
                if key == "Condition" and isinstance(arg, str):
                    return self.condition(arg)
                if key.startswith("Fn::"):
                    return self._function(key[4:], arg)
            out = {}
            for k, v in value.items():
                resolved = self.resolve(v)
                if resolved is not NO_VALUE:
                    out[k] = resolved
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise Unresolvable(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    # ---- intrinsics --------------------------------------------------------------------

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise Unresolvable(f"Ref to {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        declared = (self.template.get("Parameters") or {}).get(name)
        if declared is not None:
            if "Default" not in declared:
                raise Unresolvable(f"parameter {name} has no default")
            return _parameter_value(declared)
        resources = self.template.get("Resources") or {}
        if name in resources and self.ref is not None:
            return self.ref(name)
        if "." in name and name.partition(".")[0] in resources:  # SAM's `!Ref Function.Alias`
            return self._fn_getatt(name.split(".", 1))
        raise Unresolvable(f"Ref {name}")

    def _function(self, name: str, arg: Any) -> Any:
        handler = getattr(self, f"_fn_{name.lower()}", None)
        if handler is None:
            raise Unresolvable(f"Fn::{name}")
        return handler(arg)

    def _fn_getatt(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        resource, attribute = self.resolve(arg[0]), self.resolve(arg[1])
        if self.get_att is None:
            raise Unresolvable(f"Fn::GetAtt {resource}.{attribute}")
        return self.get_att(resource, attribute)

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return str(self._fn_getatt([resource, attribute]))
            value = self._ref(name)
            if value is NO_VALUE:
                raise Unresolvable(f"${{{name}}} is AWS::NoValue")
            return str(value)

        return _SUB_VAR.sub(replace, text)

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        values = self.resolve(items)
        return str(delimiter).join(_scalar_str(v) for v in values)

    def _fn_select(self, arg: Any) -> Any:
        index, items = self.resolve(arg[0]), self.resolve(arg[1])
        return items[int(index)]

    def _fn_split(self, arg: Any) -> list[str]:
        return str(self.resolve(arg[1])).split(arg[0])

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = (self.resolve(v) for v in arg)
        return _scalar_str(left) == _scalar_str(right)

    def _fn_not(self, arg: Any) -> bool:
        return not self.resolve(arg[0])

    def _fn_and(self, arg: Any) -> bool:
        return all(self.resolve(v) for v in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self.resolve(v) for v in arg)

    def _fn_findinmap(self, arg: Any) -> Any:
        name, first, second = (self.resolve(v) for v in arg[:3])
        try:
            return self.template["Mappings"][name][first][second]
        except (KeyError, TypeError):
            raise Unresolvable(f"Fn::FindInMap {name}/{first}/{second}") from None

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()


def _parameter_value(declared: dict[str, Any]) -> Any:
    default = declared["Default"]
    if str(declared.get("Type", "")).startswith("List<") or declared.get("Type") == "CommaDelimitedList":
        return [s.strip() for s in str(default).split(",")] if isinstance(default, str) else default
    return default


def _scalar_str(value: Any) -> str:
    """A value as CloudFormation renders it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise Unresolvable("a structured value where a string is needed")
    return str(value)


def as_string(value: Any) -> str:
    """A resolved scalar property (environment variables, names) as a string."""
    return _scalar_str(value)
