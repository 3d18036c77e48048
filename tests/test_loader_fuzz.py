"""Property-based: malformed documents never crash the loader; every problem is located.

Mutations of the valid examples (wrong types, missing fields, unknown keys, huge numbers,
unicode, deep nesting) and corrupted YAML text. Over 1,000 documents per run.
"""
from __future__ import annotations

import re

import yaml
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from controller.loading import load_texts
from tests.conftest import EXAMPLES

SEED_FILES = sorted((EXAMPLES / "digits-mixed").glob("*.yaml")) + sorted((EXAMPLES / "sine-mcu").glob("*.yaml"))
SEEDS = [doc for path in SEED_FILES
         for doc in yaml.safe_load_all(path.read_text()) if doc]
SEED_TEXTS = [path.read_text() for path in sorted(EXAMPLES.rglob("*.yaml")) if "invalid" not in path.parts]
LOCATED = re.compile(r"^[^:\n]+:(\d+):(\d+): ")
SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),  # unicode included
    st.sampled_from(["", "256KiB", "-1", "1e309", "origami/v1alpha1", "Model", "ǅ名前", "\u202e", "0x10"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                           inner, max_size=4),
                      max_leaves=12)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, prefix + (i,))


def mutate(doc, path, op, value, depth):
    import copy

    doc = copy.deepcopy(doc)
    if not path:
        return value if op != "nest" else _nest(doc, depth)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif op == "unknown" and isinstance(parent, dict):
        parent[f"unexpected_{last}"] = value
    elif op == "nest":
        parent[last] = _nest(parent[last], depth)
    return doc


def _nest(value, depth):
    for _ in range(depth):
        value = {"spec": value} if depth % 2 else [value]
    return value


def assert_located(repo, text: str):
    lines = text.count("\n") + 2
    for issue in repo.issues:
        shown = str(issue)
        match = LOCATED.match(shown)
        assert match, shown
        assert 1 <= int(match.group(1)) <= lines, shown
        assert int(match.group(2)) >= 1, shown
        assert issue.message


@SETTINGS
@given(data=st.data(), op=st.sampled_from(["replace", "delete", "unknown", "nest"]), value=values,
       depth=st.integers(1, 200))
def test_mutated_documents_yield_located_errors(data, op, value, depth):
    seed = data.draw(st.sampled_from(SEEDS))
    path = data.draw(st.sampled_from(list(paths(seed))))
    doc = mutate(seed, path, op, value, depth)
    try:
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, RecursionError):
        return
    repo = load_texts([("fuzz.yaml", text, None)])
    assert_located(repo, text)


FRAGMENTS = ["", ":", "- ", "\t", "{", "[", "]", "'", '"', "&a", "*a", "<<: *a", "\n---\n",
             "!!python/object:os.system", "\x00", "é", "  ", "key: [", "? [a]\n: b"]


@SETTINGS
@given(data=st.data(), cuts=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 20), st.sampled_from(FRAGMENTS)),
                                     max_size=4))
def test_corrupted_yaml_text_yields_located_errors(data, cuts):
    text = data.draw(st.sampled_from(SEED_TEXTS))
    for at, drop, insert in cuts:
        at %= max(len(text), 1)
        text = text[:at] + insert + text[at + drop:]
    repo = load_texts([("broken.yaml", text, None)])
    assert_located(repo, text)


def test_deeply_nested_document_is_an_error_not_a_crash():
    text = "apiVersion: origami/v1alpha1\nkind: Model\nmetadata: {name: x}\nspec: " + "[" * 5000 + "]" * 5000 + "\n"
    repo = load_texts([("deep.yaml", text, None)])
    assert not repo.valid
    assert_located(repo, text)
