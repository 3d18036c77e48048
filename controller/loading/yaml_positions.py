"""Read YAML into plain data while remembering where every value and key came from.

PyYAML's composer gives nodes with marks; we turn nodes into Python values ourselves so
that duplicate keys, unhashable keys and runaway nesting become located issues rather
than silent overwrites or tracebacks.

A file is untrusted: a few hundred bytes of nested anchors and aliases expand to billions of
nodes. The composer counts every node as it would be after expanding aliases (and so merge
keys) and stops at the file's budget with a located issue, before anything is expanded.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode
from yaml.nodes import ScalarNode
from yaml.nodes import SequenceNode
from yaml.resolver import Resolver

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.limits import how_to_raise
from controller.loading.issues import SpecIssue

try:  # libyaml's parser is several times faster than PyYAML's on large repositories
    from yaml.cyaml import CParser as _Events
except ImportError:  # pragma: no cover - libyaml missing
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Events(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)

        def dispose(self) -> None:
            pass

Path = tuple  # of str | int


class _OverBudget(Exception):
    def __init__(self, mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _BudgetedLoader(Composer, _Events, SafeConstructor, Resolver):
    """PyYAML's composer on libyaml's events, counting nodes as they would be with aliases expanded."""

    def __init__(self, stream: str, limits: Limits) -> None:
        _Events.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.limits = limits
        self.expanded = 0  # nodes in this file so far, every alias counted as the nodes it stands for
        self.depth = 0
        self.sizes: dict[str, int] = {}  # anchor -> expanded nodes under it, once it is complete

    def compose_document(self):
        self.sizes = {}
        return super().compose_document()

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)  # raises on an undefined alias
            if event.anchor not in self.sizes:
                raise _OverBudget(event.start_mark, f"alias *{event.anchor:.40} refers to its own anchor; "
                                                    "recursive structures are not specs")
            self._count(self.sizes[event.anchor], event.start_mark)
            return node
        self.depth += 1
        if self.depth > self.limits.max_yaml_depth:
            raise _OverBudget(event.start_mark, f"nesting deeper than {self.limits.max_yaml_depth} levels")
        before = self.expanded
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        self.depth -= 1
        if event.anchor is not None:
            self.sizes[event.anchor] = self.expanded - before
        return node

    def _count(self, nodes: int, mark) -> None:
        self.expanded += nodes
        if self.expanded > self.limits.max_yaml_nodes:
            raise _OverBudget(mark, f"more than {self.limits.max_yaml_nodes} YAML nodes once aliases are "
                                    f"expanded; {how_to_raise('max_yaml_nodes')}")


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
    def __init__(self, file: str, issues: list[SpecIssue], max_depth: int) -> None:
        self.file = file
        self.issues = issues
        self.max_depth = max_depth
        self.constructor = yaml.constructor.SafeConstructor()

    def issue(self, node, message: str) -> None:
        line, col = _mark(node)
        self.issues.append(SpecIssue(self.file, line, col, None, None, message))

    def build(self, node, doc: RawDocument, path: Path, depth: int) -> Any:
        doc.values[path] = _mark(node)
        if depth > self.max_depth:  # aliases can nest deeper than the text itself
            self.issue(node, f"nesting deeper than {self.max_depth} levels")
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


def read_yaml(file: str, text: str, limits: Limits = DEFAULT_LIMITS) -> tuple[list[RawDocument], list[SpecIssue]]:
    """Parse every document of one file; problems come back as issues, never exceptions."""
    issues: list[SpecIssue] = []
    docs: list[RawDocument] = []
    builder = _Builder(file, issues, limits.max_yaml_depth)
    loader = None
    try:
        loader = _BudgetedLoader(text, limits)
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                doc = RawDocument(file=file, index=index, data=None, start=_mark(node))
                doc.data = builder.build(node, doc, (), 0)
                docs.append(doc)
            index += 1
    except _OverBudget as err:
        line, col = err.mark.line + 1, err.mark.column + 1
        return [], [*issues, SpecIssue(file, line, col, None, None, err.message)]
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(p for p in (err.context, err.problem) if p) or "invalid YAML"
        issues.append(SpecIssue(file, line, col, None, None, f"YAML syntax error: {problem}"))
    except yaml.YAMLError as err:
        issues.append(SpecIssue(file, 1, 1, None, None, f"YAML error: {err}"))
    except RecursionError:
        issues.append(SpecIssue(file, 1, 1, None, None, f"nesting deeper than {limits.max_yaml_depth} levels"))
    finally:
        if loader is not None:
            loader.dispose()
    return docs, issues
