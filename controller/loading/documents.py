"""Turn one RawDocument into a typed spec, or into located issues."""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from controller.loading.issues import SpecIssue
from controller.loading.issues import format_field_path
from controller.loading.yaml_positions import RawDocument
from specs.v1alpha1 import API_VERSION
from specs.v1alpha1 import KINDS
from specs.v1alpha1 import Document


@dataclass(frozen=True)
class LoadedDocument:
    spec: Document
    raw: RawDocument

    @property
    def ref(self) -> str:
        return self.spec.ref

    def issue(self, path: tuple, message: str, prefer_key: bool = False) -> SpecIssue:
        line, col = self.raw.position(path, prefer_key=prefer_key)
        return SpecIssue(self.raw.file, line, col, self.ref, format_field_path(path) or None, message)


def _ref_of(data: dict) -> str | None:
    kind = data.get("kind")
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if isinstance(kind, str) and isinstance(name, str):
        return f"{kind}/{name}"
    return kind if isinstance(kind, str) else None


def _data_path(data, loc: tuple) -> tuple:
    """The part of pydantic's loc that names fields in the user's YAML.

    pydantic adds union-member tags ('int', 'constrained-str', 'files') to locs; they
    name nothing in the YAML, so they are dropped. A missing field stays in the path and
    is located at its parent.
    """
    shown: list = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif not isinstance(node, (dict, list)) or (isinstance(node, dict) and node.get("type") == part):
            continue  # a union tag
        else:
            node = None
        shown.append(part)
    return tuple(shown)


def _message(error: dict) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if kind not in ("value_error", "assertion_error") and "input" in error:
        shown = repr(error["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if not isinstance(error["input"], (dict, list)):
            msg = f"{msg} (got {shown})"
    return msg


def parse_document(raw: RawDocument) -> tuple[LoadedDocument | None, list[SpecIssue]]:
    data = raw.data
    if not isinstance(data, dict):
        what = type(data).__name__ if data is not None else "null"
        line, col = raw.start
        return None, [SpecIssue(raw.file, line, col, None, None,
                                f"a document must be a mapping with apiVersion, kind, metadata and spec, not {what}")]
    ref = _ref_of(data)

    def at(path: tuple, message: str, prefer_key: bool = False) -> SpecIssue:
        line, col = raw.position(path, prefer_key=prefer_key)
        return SpecIssue(raw.file, line, col, ref, format_field_path(path) or None, message)

    if not isinstance(data.get("apiVersion"), str) or data.get("apiVersion") != API_VERSION:
        got = data.get("apiVersion")
        hint = "is missing" if got is None else f"is {got!r}"
        return None, [at(("apiVersion",), f"apiVersion {hint}; this Origami reads '{API_VERSION}'")]
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        hint = "is missing" if kind is None else f"{kind!r} is not a kind"
        return None, [at(("kind",), f"kind {hint}; expected one of {', '.join(KINDS)}")]
    try:
        spec = KINDS[kind].model_validate(data)
    except ValidationError as err:
        issues = []
        for error in err.errors(include_url=False):
            path = _data_path(data, tuple(error["loc"]))
            issues.append(at(path, _message(error), prefer_key=error["type"] in ("extra_forbidden", "missing")))
        return None, sorted(set(issues))
    return LoadedDocument(spec=spec, raw=raw), []
