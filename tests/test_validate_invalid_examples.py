"""Every case in examples/invalid/ fails with exactly the located errors it declares.

Each case states its expected errors in `# origami-expect: LINE:COL: ref: field: text`
comments, so the examples document themselves and this test keeps them honest.
"""
from __future__ import annotations

import re

import pytest

from controller.loading import load_repository
from tests.conftest import EXAMPLES

CASES = sorted(p for p in (EXAMPLES / "invalid").iterdir() if p.is_dir())
EXPECT = re.compile(r"^# origami-expect: (.*)$", re.M)


def expected_errors(case):
    out = []
    for f in sorted(case.glob("*.yaml")):
        out += [f"{f.name}:{m}" for m in EXPECT.findall(f.read_text())]
    return out


def test_there_is_a_case_for_each_error_kind():
    names = {c.name for c in CASES}
    assert {"unknown-field", "wrong-type", "negative-epochs", "split-ratios", "zero-ram", "duplicate-name",
            "dangling-dataset", "dangling-model", "dangling-board", "yaml-syntax", "duplicate-key",
            "non-mapping"} <= names


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_case_reports_exact_location_and_field(case):
    expected = expected_errors(case)
    assert expected, f"{case} declares no origami-expect line"
    repo = load_repository(case)
    assert len(repo.issues) == len(expected), [str(i) for i in repo.issues]
    for want in expected:
        assert any(_matches(issue, want) for issue in repo.issues), \
            f"expected {want!r} in {[str(i) for i in repo.issues]}"


def _matches(issue, want: str) -> bool:
    """Location, kind/name and field path exactly; the message by a fragment of it."""
    head = ": ".join(p for p in (f"{issue.file}:{issue.line}:{issue.col}", issue.ref, issue.field) if p)
    return want.startswith(head + ": ") and want[len(head) + 2:] in issue.message
