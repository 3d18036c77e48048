"""A tenant's limits where they bite: storage before each build, devices at the enrollment gate,
and the tenants file itself (names, one tenant per device, errors that name the field)."""
from __future__ import annotations

import pytest

from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.tenancy.config import load_tenants
from controller.tenancy.quota import StorageQuota
from controller.tenancy.runtime import DeviceCap
from specs.errors import StageError
from specs.errors import UsageError


class Recorder:
    def __init__(self, store: ArtifactStore) -> None:
        self.store, self.built = store, []

    def build_model(self, repo, model, keys, progress):
        self.built.append(model)
        return "outcome"

    def build_bundle(self, repo, fleet, board, key, outcome, progress):
        self.built.append(f"{fleet}@{board}")
        return "artifact"


def test_a_tenant_over_its_storage_limit_builds_nothing_until_there_is_room(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    inner = Recorder(store)
    quota = StorageQuota(inner, "acme", 4096)
    assert quota.build_model(None, "small", None, None) == "outcome"
    digest = store.put_bytes(b"x" * 8192)
    with pytest.raises(StageError, match=r"tenant acme: its artifacts take .* of its 0.0 MiB storage limit"):
        quota.build_model(None, "big", None, None)
    with pytest.raises(StageError, match="Fleet/linux's rpi4 bundle waits"):
        quota.build_bundle(None, "linux", "rpi4", "k", None, None)
    assert inner.built == ["small"] and quota.store is store  # reads pass through
    store.remove(digest)
    assert quota.build_bundle(None, "linux", "rpi4", "k", None, None) == "artifact"


def test_a_tenant_at_its_device_limit_takes_no_new_device(tmp_path):
    state = StateStore(tmp_path / "s.db", tenant="acme")
    cap = DeviceCap(lambda device: device != "stranger", state, limit=2)
    assert cap("a") and cap("b")
    assert not cap("c")            # a third, new device: over the limit
    assert cap("a")                # the two it has keep reporting
    assert not cap("stranger")     # not enrolled: never, limit or not


def _file(tmp_path, text: str):
    path = tmp_path / "tenants.yaml"
    path.write_text(text)
    return path


def test_the_tenants_file_is_checked_and_its_errors_name_the_field(tmp_path):
    ok = load_tenants(_file(tmp_path, "tenants:\n- name: acme\n  source: {path: /srv/acme}\n  devices: [a-1]\n"
                                      "  limits: {parallelBuilds: 2, storage: 1GiB}\n"))
    assert ok[0].topic_root == "origami/v1/t/acme" and ok[0].spec.limits.storage_bytes == 2 ** 30
    assert ok[0].state_dir(tmp_path) == tmp_path / "tenants" / "acme"
    with pytest.raises(UsageError, match=r"tenants\.0\.name"):
        load_tenants(_file(tmp_path, "tenants:\n- name: ../x\n  source: {path: /srv}\n"))
    with pytest.raises(UsageError, match="device a-1 is in tenants acme and globex"):
        load_tenants(_file(tmp_path, "tenants:\n- {name: acme, source: {path: /a}, devices: [a-1]}\n"
                                     "- {name: globex, source: {path: /b}, devices: [a-1]}\n"))
    with pytest.raises(UsageError, match="named twice"):
        load_tenants(_file(tmp_path, "tenants:\n- {name: acme, source: {path: /a}}\n"
                                     "- {name: acme, source: {path: /b}}\n"))
    with pytest.raises(UsageError, match="source"):
        load_tenants(_file(tmp_path, "tenants:\n- {name: acme, source: {}}\n"))


def test_the_local_cli_reads_a_tenants_state_directory_as_that_tenant(tmp_path):
    from controller.state import open_store

    written = open_store(tmp_path, tenant="acme")
    written.emit("Fleet", "linux", "RolloutStarted", "acme's")
    written.close()
    local = open_store(tmp_path)  # what `origami events --state-dir STATE/tenants/acme` opens
    assert local.tenant == "acme" and [e.message for e in local.events()] == ["acme's"]
    assert open_store(tmp_path / "fresh").tenant == "default"
