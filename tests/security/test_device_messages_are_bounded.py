"""A device's messages are bounded field by field (specs/v1alpha1/protocol.py): a hello whose clock
reads -1e300, with thousands of labels or a megabyte-long agent name, is refused with a Warning that
names the fields (never their values), records nothing, and the API keeps answering.
"""
from __future__ import annotations

import uuid

import httpx
import pytest

from controller.devices.hub import DeviceHub
from controller.reconciler.reports import ReportIngest
from controller.reconciler.wiring import HubLink
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.web.server import start_dashboard
from tests.outsider import Outsider
from tests.waiting import wait_until


@pytest.mark.parametrize("name, changes, field", [
    ("clock", {"ts": -1e300}, "ts"),
    ("labels", {"labels": {f"k{i}": "v" for i in range(1000)}}, "labels"),
    ("agent", {"agent": "x" * 20_000}, "agent"),
    ("ram", {"capabilities": {"family": "linux", "board": "rpi4", "ramBytes": 10**30}}, "capabilities.ramBytes"),
])
def test_an_out_of_bounds_hello_is_refused_by_field_and_records_nothing(mosquitto, tmp_path, name, changes, field):
    store = StateStore(tmp_path / "state" / "origami-state.db")
    hub = DeviceHub(mosquitto.url, ArtifactStore(tmp_path / "artifacts"),
                    client_id=f"bounds-{uuid.uuid4().hex[:6]}").start()
    ingest = ReportIngest(store, HubLink(hub))
    device_id = f"bounds-{name}-{uuid.uuid4().hex[:6]}"
    attacker = Outsider(mosquitto.url, device_id)
    server = start_dashboard("127.0.0.1:0", tmp_path / "state", store)

    def refusals():
        ingest.ingest()
        return [e for e in store.events(kind="Device", name=device_id) if e.reason == "MessageRejected"]

    try:
        attacker.hello(retain=False, **changes)
        refused = wait_until(refusals, "a Warning for the refused hello", 10, every=0.05)
        assert refused[0].type == "Warning"
        assert field in refused[0].message and "1e+300" not in refused[0].message and "xxxx" not in refused[0].message
        assert store.device(device_id) is None                       # nothing recorded about it
        assert httpx.get(f"{server.url}/api/v1/devices").status_code == 200
    finally:
        server.stop()
        attacker.close()
        hub.stop()
        store.close()
