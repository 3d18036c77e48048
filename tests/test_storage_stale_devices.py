"""Stale device rows (issue 12 "Budgets"): a device silent for longer than `--forget-devices-after`
and in no rollout in progress is forgotten (its row, desired state and member failures) with one
event; its installs stay, so a device that comes back continues its generations."""
from __future__ import annotations

import time

from controller.cli.main import main
from controller.reconciler.maintenance import Maintenance
from controller.reconciler.maintenance import MaintenanceSettings
from controller.reconciler.reports import RateLimit
from controller.reconciler.wiring import artifact_dir
from controller.state import InstallRecord
from controller.state import RolloutRecord
from controller.state import open_store
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import StageCache

DAY = 86400.0


def seed(store, now: float) -> None:
    """gone-N: silent 40 days; busy: silent 40 days but assigned by a rollout in progress; member: silent
    40 days but a member the loop says is in a rollout; recent: seen an hour ago."""
    for i in range(3):
        store.observe_device(f"gone-{i}", board="rpi4", seen_at=now - 40 * DAY)
    for device in ("busy", "member"):
        store.observe_device(device, board="rpi4", seen_at=now - 40 * DAY)
    store.observe_device("recent", board="rpi4", seen_at=now - 3600)
    for device, fleet in (("gone-0", "idle"), ("busy", "moving")):
        store.record_install(InstallRecord(f"{device}:1", device, fleet, "v1", "d" * 64, "rollout", now - 41 * DAY),
                             {"generation": 1})
        store.record_failure(device, fleet, "v0", "health check failed", now - 41 * DAY)
    store.put_rollout(RolloutRecord("moving", target="v1", phase="progressing"))
    store.put_rollout(RolloutRecord("idle", target="v1", phase="complete"))


def test_devices_silent_too_long_and_in_no_rollout_in_progress_are_forgotten_with_one_event(tmp_path, make_store):
    store = open_store(tmp_path, url=make_store.url)
    now = time.time()
    seed(store, now)
    artifacts = ArtifactStore(artifact_dir(tmp_path))
    maintenance = Maintenance(store, artifacts, StageCache(artifacts), MaintenanceSettings(forget_devices_s=30 * DAY),
                              clock=lambda: now)
    assert maintenance.forget_devices({"member"}, now) == ["gone-0", "gone-1", "gone-2"]

    assert [d.device_id for d in store.devices()] == ["busy", "member", "recent"]
    assert set(store.desired()) == {"busy"}
    assert store.failed_versions("idle") == {} and store.failed_versions("moving") == {"busy": frozenset({"v0"})}
    assert [i.install_id for i in store.installs("gone-0")] == ["gone-0:1"]  # generations continue if it returns
    (event,) = store.events()
    assert (event.kind, event.name, event.reason) == ("Source", "devices", "DevicesForgotten")
    assert "3 device(s) silent for more than 30 day(s) forgotten: gone-0, gone-1, gone-2" in event.message

    assert maintenance.forget_devices({"member"}, now) == [] and len(store.events()) == 1  # nothing more to do
    store.observe_device("gone-0", board="rpi4", seen_at=now)  # it comes back: a fresh row
    assert store.device("gone-0").first_seen == now
    store.close()


def test_origami_gc_forgets_devices_on_request_only(tmp_path, capsys, make_store):
    store = open_store(tmp_path, url=make_store.url)
    seed(store, time.time())
    store.close()
    state = ["--state", make_store.url] if make_store.url else []
    assert main(["gc", "--state-dir", str(tmp_path), *state]) == 0
    store = open_store(tmp_path, read_only=True, url=make_store.url)
    assert len(store.devices()) == 6
    store.close()
    assert main(["gc", "--state-dir", str(tmp_path), *state, "--forget-devices-after", "30d"]) == 0
    assert "forgot 4 device(s)" in capsys.readouterr().out  # "member" is protected only inside the loop
    store = open_store(tmp_path, read_only=True, url=make_store.url)
    assert [d.device_id for d in store.devices()] == ["busy", "recent"]
    store.close()


def test_the_per_device_event_limit_remembers_a_bounded_number_of_devices():
    limit = RateLimit(burst=2, window=60.0, max_tracked=100)
    for i in range(10_000):  # 10,000 ids, a new one every 10 ms
        assert limit.allow(f"made-up-{i}", i * 0.01)[0]
        assert len(limit._windows) <= 100
    for _ in range(2):
        limit.allow("noisy", 200.0)
    assert limit.allow("noisy", 200.0) == (False, 0)  # a device still in its window keeps its count
    assert limit.allow("noisy", 260.0) == (True, 1)
