"""Read YAML into plain data while remembering where every value and key came from.

PyYAML's composer gives nodes with marks; we turn nodes into Python values ourselves so
that duplicate keys, unhashable keys and runaway nesting become located issues rather
than silent overwrites or tracebacks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from controller.loading.issues import SpecIssue

try:  # the C composer is several times faster on large repositories
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

MAX_DEPTH = 64
Path = tuple  # of str | int


@dataclass
class RawDocument:
    """One YAML document: its data, and the (line, col) of each value and mapping key (1-based)."""

    file: str
    index: int
    data: Any
    start: tuple[int, int]
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    containers: set[Path] = field(default_factory=set)

    def position(self, path: Path, prefer_key: bool = False) -> tuple[int, int]:
        """Where `path` is, or its nearest ancestor that exists.

        A mapping or list is located at its key (`split:`), a scalar at its value.
        """
        path = tuple(path)
        while path:
            if (prefer_key or path in self.containers) and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), self.start)


def _mark(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, file: str, issues: list[SpecIssue]) -> None:
        self.file = file
        self.issues = issues
        self.constructor = yaml.constructor.SafeConstructor()

    def issue(self, node, message: str) -> None:
        line, col = _mark(node)
        self.issues.append(SpecIssue(self.file, line, col, None, None, message))

    def build(self, node, doc: RawDocument, path: Path, depth: int) -> Any:
        doc.values[path] = _mark(node)
        if depth > MAX_DEPTH:
            self.issue(node, f"nesting deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(node, ScalarNode):
            try:
                return self.constructor.construct_object(node, deep=True)
            except yaml.YAMLError as err:
                self.issue(node, f"bad scalar: {getattr(err, 'problem', err)}")
                return None
            except (ValueError, OverflowError) as err:  # e.g. a timestamp out of range
                self.issue(node, f"bad scalar: {err}")
                return None
        if isinstance(node, (SequenceNode, MappingNode)):
            doc.containers.add(path)
        if isinstance(node, SequenceNode):
            return [self.build(item, doc, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.build_mapping(node, doc, path, depth)
        self.issue(node, f"unsupported YAML node {type(node).__name__}")  # pragma: no cover
        return None

    def build_mapping(self, node: MappingNode, doc: RawDocument, path: Path, depth: int) -> dict:
        try:
            self.constructor.flatten_mapping(node)  # resolve `<<: *anchor` merge keys
        except yaml.YAMLError as err:
            self.issue(node, f"bad merge key: {getattr(err, 'problem', err)}")
        out: dict = {}
        first_seen: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.issue(key_node, "a mapping key must be a plain scalar, not a list or mapping")
                continue
            try:
                key = self.constructor.construct_object(key_node, deep=True)
                hash(key)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as err:
                self.issue(key_node, f"bad mapping key: {err}")
                continue
            if key in first_seen:
                line, _ = first_seen[key]
                self.issue(key_node, f"duplicate key '{key}' (first defined at line {line})")
                continue
            first_seen[key] = _mark(key_node)
            doc.keys[path + (key,)] = _mark(key_node)
            out[key] = self.build(value_node, doc, path + (key,), depth + 1)
        return out


def read_yaml(file: str, text: str) -> tuple[list[RawDocument], list[SpecIssue]]:
    """Parse every document of one file; problems come back as issues, never exceptions."""
    issues: list[SpecIssue] = []
    docs: list[RawDocument] = []
    builder = _Builder(file, issues)
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
            if node is None:
                continue
            doc = RawDocument(file=file, index=index, data=None, start=_mark(node))
            doc.data = builder.build(node, doc, (), 0)
            docs.append(doc)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(p for p in (err.context, err.problem) if p) or "invalid YAML"
        issues.append(SpecIssue(file, line, col, None, None, f"YAML syntax error: {problem}"))
    except yaml.YAMLError as err:
        issues.append(SpecIssue(file, 1, 1, None, None, f"YAML error: {err}"))
    except RecursionError:
        issues.append(SpecIssue(file, 1, 1, None, None, f"nesting deeper than {MAX_DEPTH} levels"))
    return docs, issues
