"""A located spec problem, printed as `file:LINE:COL: kind/name: field.path: message`.

A notice is located the same way but does not make the repository invalid (e.g. a Model that
runs repository code, which the controller builds only when an operator allows it).
"""
from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SpecIssue:
    file: str
    line: int
    col: int
    ref: str | None  # "Kind/name" when the document says so
    field: str | None  # "spec.training.epochs"
    message: str
    severity: str = "error"  # or "notice"

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}:{self.col}"]
        if self.ref:
            parts.append(self.ref)
        if self.field:
            parts.append(self.field)
        if self.severity != "error":
            parts.append(self.severity)
        parts.append(self.message)
        return ": ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)

    def github(self) -> str:
        """A GitHub Actions workflow command that annotates the line in the pull request."""
        title = _escape_property(self.ref or "origami")
        text = _escape_data(": ".join(p for p in (self.field, self.message) if p))
        return (f"::{self.severity} file={_escape_property(self.file)},line={self.line},col={self.col},"
                f"title={title}::{text}")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_field_path(loc: tuple) -> str:
    """('spec', 'sources', 0, 'name') -> 'spec.sources[0].name'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
