"""Label selectors as kubectl's `-l`: `key=value` (or `==`), `key!=value`, `key` (present), `!key`
(absent), comma-separated, all must hold. Pure functions."""
from __future__ import annotations

import re

from specs.errors import UsageError

_KEY = re.compile(r"^[A-Za-z0-9]([\w./-]*[A-Za-z0-9])?$")

Requirement = tuple[str, str, str | None]  # (key, "=" | "!=" | "exists" | "absent", value)


def parse_selector(text: str) -> list[Requirement]:
    requirements: list[Requirement] = []
    for part in (p.strip() for p in text.split(",")):
        if "!=" in part:
            key, value = part.split("!=", 1)
            requirement: Requirement = (key.strip(), "!=", value.strip())
        elif "=" in part:
            key, value = part.split("==", 1) if "==" in part else part.split("=", 1)
            requirement = (key.strip(), "=", value.strip())
        elif part.startswith("!"):
            requirement = (part[1:].strip(), "absent", None)
        else:
            requirement = (part, "exists", None)
        if not _KEY.match(requirement[0]):
            raise UsageError(f"-l {text!r}: {part!r} is not a requirement; use key=value, key!=value, key or !key "
                             "(comma-separated)")
        requirements.append(requirement)
    return requirements


def matches(selector: list[Requirement] | None, labels: dict[str, str]) -> bool:
    for key, op, value in selector or ():
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "absent" and key in labels:
            return False
    return True
