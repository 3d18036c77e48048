"""Fleets that can claim the same device must say which one takes it (distinct `priority`).

Without that, membership would silently go to one of them: a new Fleet could take devices from
another. Reported on the later Fleet (in file order), at its selector.
"""
from __future__ import annotations

from controller.loading.documents import LoadedDocument
from controller.loading.issues import SpecIssue
from specs.v1alpha1 import Fleet


def _shared_boards(a: Fleet, b: Fleet) -> str:
    boards_a, boards_b = a.spec.selector.boards, b.spec.selector.boards
    if not boards_a and not boards_b:
        return "both select any board"
    if not boards_a or not boards_b:
        return f"{(a if not boards_a else b).ref} selects any board"
    shared = sorted(set(boards_a) & set(boards_b))
    return f"both select board{'s' if len(shared) > 1 else ''} {', '.join(shared)}"


def check_fleet_overlaps(docs: list[LoadedDocument]) -> list[SpecIssue]:
    fleets = [d for d in docs if isinstance(d.spec, Fleet)]
    issues = []
    for j, later in enumerate(fleets):
        rivals = [earlier for earlier in fleets[:j]
                  if earlier.ref != later.ref  # a duplicate name is its own error
                  and earlier.spec.priority == later.spec.priority
                  and earlier.spec.spec.selector.can_share_devices(later.spec.spec.selector)]
        if not rivals:
            continue
        first = rivals[0]
        line, _ = first.raw.position(("metadata", "name"))
        more = f" (and {len(rivals) - 1} more Fleet(s))" if len(rivals) > 1 else ""
        issues.append(later.issue(
            ("spec", "selector"),
            f"can claim the same devices as {first.ref} at {first.raw.file}:{line}{more}: "
            f"{_shared_boards(first.spec, later.spec)} and their matchLabels do not contradict; tell the "
            "selectors apart with a label, or set distinct spec.priority values (the higher takes the device)",
            prefer_key=True))
    return issues
