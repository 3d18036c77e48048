"""Which devices belong to a fleet: the selector over devices that said hello (pure)."""
from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping

from controller.state.records import DeviceRecord
from specs.v1alpha1.fleet import Fleet
from specs.v1alpha1.fleet import Selector


def matches(selector: Selector, device: DeviceRecord) -> bool:
    if device.board is None:  # no hello yet: we do not know what it is
        return False
    if selector.boards and device.board not in selector.boards:
        return False
    return all(device.labels.get(k) == v for k, v in selector.matchLabels.items())


def assign_fleets(fleets: Mapping[str, Fleet], devices: Iterable[DeviceRecord]
                  ) -> tuple[dict[str, list[DeviceRecord]], dict[str, list[str]]]:
    """Members per fleet (offline devices included: a member that is away stays pending, it does not
    leave), and the conflicts resolved: fleet -> the devices it
    matched but another fleet took.

    A device matching several fleets joins the one with the highest `spec.priority` (unset counts
    as 0), then the first by name, so its desired state is never contested. Validation refuses
    fleets that can share devices without distinct priorities, so a conflict here was decided by
    priority or comes from specs that were never validated; the caller reports it (a Warning event).
    """
    members: dict[str, list[DeviceRecord]] = {name: [] for name in fleets}
    conflicts: dict[str, list[str]] = {}
    # Index selectors once: by board (or "any board"), labels as item sets; a pass over 1,000 devices
    # and 50 fleets then costs a few set operations per device.
    by_board: dict[str | None, list[tuple[str, frozenset[tuple[str, str]]]]] = {}
    rank = {name: (-fleets[name].priority, name) for name in fleets}
    for name in sorted(fleets):
        selector = fleets[name].spec.selector
        labels = frozenset(selector.matchLabels.items())
        boards: list[str | None] = list(selector.boards) or [None]
        for board in boards:
            by_board.setdefault(board, []).append((name, labels))
    for device in devices:
        if device.board is None:
            continue
        items = device.labels.items()
        candidates = by_board.get(device.board, []) + by_board.get(None, [])
        claimed = sorted((name for name, labels in candidates if labels <= items), key=rank.__getitem__)
        if not claimed:
            continue
        members[claimed[0]].append(device)
        for other in claimed[1:]:
            conflicts.setdefault(other, []).append(device.device_id)
    return members, conflicts
