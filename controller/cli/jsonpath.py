"""`-o jsonpath=TEMPLATE`: kubectl's subset that scripts use.

A template is text with `{EXPRESSION}` parts (`{.items[*].name}`, `name={.name}{"\\n"}`); an
expression is a path from the root: `.field`, `['field']`, `[N]` (negative counts from the end),
`[*]` or `.*` (every element). A list output is also reachable as `.items`, as kubectl's lists are.
Several matches print separated by spaces; objects and lists print as JSON. Pure functions.
"""
from __future__ import annotations

import json
import re
from typing import Any

from specs.errors import UsageError

_TOKEN = re.compile(r"""\.\.|\.(\*|[A-Za-z_][\w-]*)|\[(\*|-?\d+)\]|\[['"]([^'"]+)['"]\]""")
_PART = re.compile(r"\{([^{}]*)\}")
_ESCAPES = {"\\n": "\n", "\\t": "\t"}


def _steps(expression: str) -> list[str | int]:
    text = expression.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[str | int] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.group(0) == "..":
            raise UsageError(f"-o jsonpath: cannot read {text[at:]!r} in {{{expression}}}; use .field, "
                             "['field'], [N] or [*]")
        name, index, quoted = match.groups()
        steps.append("*" if name == "*" or index == "*" else name or quoted if (name or quoted) else int(index))
        at = match.end()
    return steps


def _walk(values: list[Any], step: str | int) -> list[Any]:
    found: list[Any] = []
    for value in values:
        if step == "*":
            found += list(value.values()) if isinstance(value, dict) else list(value) if isinstance(value, list) else []
        elif isinstance(step, int):
            if isinstance(value, list) and -len(value) <= step < len(value):
                found.append(value[step])
        elif isinstance(value, dict) and step in value:
            found.append(value[step])
    return found


def evaluate(expression: str, data: Any) -> list[Any]:
    """Every value the expression reaches in `data`."""
    steps = _steps(expression)
    if isinstance(data, list) and steps[:1] == ["items"]:
        steps = steps[1:]
    if not steps and not expression.strip().strip("$"):
        return [data]
    values = [data]
    for step in steps:
        values = _walk(values, step)
    return values


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, default=str)


def render(template: str, data: Any) -> str:
    """The template with each `{EXPRESSION}` replaced by what it reaches (`{"text"}` is literal text)."""
    if "{" not in template:
        template = "{" + template + "}"
    if "{range" in template or "{end}" in template:
        raise UsageError("-o jsonpath: {range} is not supported; print the list with [*], or use -o json and jq")

    def part(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if len(inner) >= 2 and inner[0] == inner[-1] == '"':
            text = inner[1:-1]
            for escape, char in _ESCAPES.items():
                text = text.replace(escape, char)
            return text
        return " ".join(_show(v) for v in evaluate(inner, data))

    return _PART.sub(part, template)
