"""Models whose architecture is a `module:function` of the spec repository.

Such a Model runs repository code in the controller's build: it is valid, but the controller
builds it only when an operator started it with `--allow-repo-code`, and validate says so (a
notice). The module file must exist inside the repository, next to the Model's spec file; its
source is parsed (never run) to check that it defines the function.
"""
from __future__ import annotations

import ast
from pathlib import Path

from controller.loading.confinement import RefusedPath
from controller.loading.confinement import module_file
from controller.loading.data_files import spec_folder
from controller.loading.documents import LoadedDocument
from controller.loading.issues import SpecIssue
from specs.v1alpha1 import Model

AT = ("spec", "architecture", "entryPoint")
MAX_MODULE_BYTES = 1024 * 1024  # a model's module is a page of Keras; its syntax tree stays small


def _models_with_code(docs: list[LoadedDocument]):
    for doc in docs:
        if isinstance(doc.spec, Model) and doc.spec.spec.architecture.entryPoint:
            yield doc, doc.spec.spec.architecture.entryPoint


def repository_code_notices(docs: list[LoadedDocument]) -> list[SpecIssue]:
    notices = []
    for doc, entry_point in _models_with_code(docs):
        line, col = doc.raw.position(AT)
        notices.append(SpecIssue(doc.raw.file, line, col, doc.ref, "spec.architecture.entryPoint",
                                 f"{entry_point} runs code from the spec repository; the controller builds "
                                 "this Model only when started with --allow-repo-code", severity="notice"))
    return notices


def top_level_names(tree: ast.Module) -> set[str] | None:
    """Names a module binds at its top level (inside if/try too); None when it cannot be known."""
    names: set[str] = set()
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            pending += [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                        *(s for h in getattr(node, "handlers", []) for s in h.body)]
    return None if "__getattr__" in names else names


# What the pipeline passes, by keyword (see docs/pipeline.md, "Your own model").
ENTRY_POINT_ARGUMENTS = ("input_shape", "outputs", "task")
PRESET_OPTIONS = ("units", "kernelSize", "dropout")  # shape a preset only; an entry point builds every layer


def check_entry_point_options(docs: list[LoadedDocument]) -> list[SpecIssue]:
    """Preset options beside an entryPoint would be ignored silently: each is an error at its line."""
    issues = []
    for doc, entry_point in _models_with_code(docs):
        for option in PRESET_OPTIONS:
            if option in doc.spec.spec.architecture.model_fields_set:
                issues.append(doc.issue(("spec", "architecture", option),
                                        f"{option} shapes a preset only; {entry_point} builds every layer itself "
                                        f"(remove {option}, or set it inside the function)", prefer_key=True))
    return issues


def signature_problem(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """Why a function defined as `node` cannot be called as f(input_shape=..., outputs=..., task=...)."""
    args = node.args
    keywords = [a.arg for a in args.args + args.kwonlyargs]
    missing = [] if args.kwarg else [name for name in ENTRY_POINT_ARGUMENTS if name not in keywords]
    positional = args.posonlyargs + args.args
    without_default = positional[:len(positional) - len(args.defaults)]
    required = [a.arg for a in without_default if a in args.posonlyargs or a.arg not in ENTRY_POINT_ARGUMENTS]
    required += [a.arg for a, default in zip(args.kwonlyargs, args.kw_defaults)
                 if default is None and a.arg not in ENTRY_POINT_ARGUMENTS]
    call = f"it is called as {node.name}({', '.join(f'{n}=...' for n in ENTRY_POINT_ARGUMENTS)})"
    if missing:
        return f"{node.name} does not accept {', '.join(missing)}; {call}"
    if required:
        return f"{node.name} requires {', '.join(required)}, which the pipeline does not pass; {call}"
    return None


def _defines(file: Path, function: str) -> str | None:
    """Why the module file does not define `function` as the pipeline calls it, or None when it does
    (or cannot be known)."""
    if file.stat().st_size > MAX_MODULE_BYTES:
        return f"is larger than {MAX_MODULE_BYTES // 1024} KiB"
    try:
        tree = ast.parse(file.read_bytes(), filename=file.name)
    except SyntaxError as err:
        return f"has a syntax error at line {err.lineno}"
    except (ValueError, RecursionError, MemoryError):
        return "cannot be parsed as Python"
    names = top_level_names(tree)
    if names is not None and function not in names:
        return f"defines no top-level {function!r}"
    defined = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
               and node.name == function]
    return signature_problem(defined[-1]) if defined else None  # the last definition wins, as at import


def check_entry_points(docs: list[LoadedDocument], root: Path) -> list[SpecIssue]:
    issues = []
    for doc, entry_point in _models_with_code(docs):
        module, function = entry_point.split(":")
        try:
            problem = _defines(module_file(root, root / spec_folder(doc), module), function)
        except RefusedPath as err:
            problem = str(err)
        except OSError as err:
            problem = f"cannot be read: {err.strerror}"
        if problem:
            issues.append(doc.issue(AT, f"module {module} {problem}"))
    return issues
