"""A replica that takes a fleet over sends what the replica before it recorded and may not have sent,
and does not blame a member for the time the fleet had no live holder.

A fleet's step is recorded (installs, desired states) and only then published; a replica SIGKILLed
between the two leaves desired states that no device ever received. A lone controller re-sends every
recorded desired state when it starts again; among replicas the one that takes the fleet over does,
for that fleet's members, once per takeover. Two replicas on one state store, a clock the test moves.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from controller.devices.hub import desired_state
from controller.devices.signing import Signer
from controller.reconciler.convergence import Member
from controller.reconciler.convergence import assess
from controller.reconciler.loop import Reconciler
from controller.reconciler.shards import Shards
from controller.state import InstallRecord
from controller.state import StateStore
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target

LEASE_S = 30.0


class Link:
    def __init__(self) -> None:
        self.sent: dict[str, DesiredState] = {}
        self.rereads = 0

    def set_desired(self, device_id: str, desired: DesiredState) -> None:
        self.sent[device_id] = desired

    def reread_retained(self) -> None:
        self.rereads += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def replica(store: StateStore, name: str, signer: Signer, clock: Clock) -> tuple[Reconciler, Link]:
    link = Link()
    shards = Shards(store, name, period=LEASE_S, clock=clock)
    return Reconciler(store, None, None, link, signer, clock=clock, shards=shards), link


def two_replicas(tmp_path) -> tuple[StateStore, Signer, Clock, tuple[Reconciler, Link], tuple[Reconciler, Link]]:
    signer = Signer.load_or_create(tmp_path / "state")
    store = StateStore(tmp_path / "s.db")
    clock = Clock()
    return store, signer, clock, replica(store, "r1", signer, clock), replica(store, "r2", signer, clock)


def record_install(store: StateStore, signer: Signer, device_id: str, fleet: str, sequence: int) -> DesiredState:
    """What a replica's fleet step records before it publishes."""
    store.observe_device(device_id, board="rpi4", seen_at=1.0)
    manifest = Manifest(name="sine", version="v1", digest="ab" * 32, size=4, target=Target(runtime="litert"))
    desired = desired_state(signer, device_id, "rpi4", 1, manifest, sequence=sequence, fleet=fleet)
    store.record_install(InstallRecord(f"{device_id}:1", device_id, fleet, "v1", manifest.digest, "canary", 1.0),
                         desired.model_dump(mode="json"))
    return desired


def test_the_replica_taking_a_fleet_over_sends_the_installs_its_dead_holder_recorded_but_never_sent(tmp_path):
    store, signer, clock, (r1, sent_by_r1), (r2, sent_by_r2) = two_replicas(tmp_path)

    assert r1.claim_fleets(["site-a"]) == ["site-a"]
    assert r2.claim_fleets(["site-a", "site-b"]) == ["site-b"]
    # r1 records the canary of site-a and is killed before it publishes; r2's own fleet has an install too.
    lost = record_install(store, signer, "a-00", "site-a", 10)
    record_install(store, signer, "b-00", "site-b", 11)
    clock.now += LEASE_S / 2
    assert r2.claim_fleets(["site-a", "site-b"]) == ["site-b"]   # r1's lease still runs: not r2's to send
    assert "a-00" not in sent_by_r2.sent

    clock.now += LEASE_S   # r1's lease expired: r2 takes site-a over and sends what r1 recorded, as recorded
    assert r2.claim_fleets(["site-a", "site-b"]) == ["site-a", "site-b"]
    assert sent_by_r2.sent == {"a-00": lost}   # same sequence: a device that had it does nothing
    assert store.lease("fleet/site-a").holder == "r2"
    # the taker reads the retained reports again (those in flight to r1 through a shared subscription
    # died with it); the first claims did not: the hub read them when it started
    assert (sent_by_r1.rereads, sent_by_r2.rereads) == (0, 1)

    sent_by_r2.sent.clear()
    clock.now += LEASE_S / 2   # renewing is not taking over: nothing is sent again
    assert r2.claim_fleets(["site-a", "site-b"]) == ["site-a", "site-b"]
    assert sent_by_r2.sent == {} and sent_by_r2.rereads == 1
    assert r1.claim_fleets(["site-a"]) == []   # r1 wakes up: the fleet is r2's, r1 sends nothing
    assert sent_by_r1.sent == {}


def test_a_takeover_whose_resend_fails_sends_again_on_the_next_pass(tmp_path):
    store, signer, clock, (r1, _), (r2, sent_by_r2) = two_replicas(tmp_path)
    r1.claim_fleets(["site-a"])
    lost = record_install(store, signer, "a-00", "site-a", 10)
    clock.now += LEASE_S * 1.5

    def broker_down(device_id: str, desired: DesiredState) -> None:
        raise TimeoutError("broker did not acknowledge")

    sent_by_r2.set_desired = broker_down
    with pytest.raises(TimeoutError):
        r2.claim_fleets(["site-a"])
    del sent_by_r2.set_desired   # the broker is back
    assert r2.claim_fleets(["site-a"]) == ["site-a"]
    assert sent_by_r2.sent == {"a-00": lost}


def test_a_member_s_timeout_runs_from_the_takeover_not_from_the_dead_holder_s_assignment(tmp_path):
    """The holder assigned the canary and died; the taker re-sent it 40 s later (lease 30 s). With a
    60 s device timeout the member must get its 60 s from the takeover, not 20 s."""
    assigned, taken = 1_000.0, 1_040.0
    member = Member("a-00", "rpi4", online=True, health="unknown", desired_version="v1", desired_generation=1,
                    desired_digest="d1", assigned_at=assigned, online_since=900.0, reported_generation=-1)
    at = dict(attempt_start=assigned, timeout=60.0)
    assert assess(member, "v1", "d1", now=taken + 30, **at).timed_out   # counted from the dead holder's act
    taker = replace(member, served_since=taken)
    assert assess(taker, "v1", "d1", now=taken + 30, **at).state == "pending"
    assert assess(taker, "v1", "d1", now=taken + 60, **at).timed_out   # a real failure still fails


def test_the_taker_hands_its_takeover_time_to_the_fleet_phase(tmp_path):
    _, _, clock, (r1, _), (r2, _) = two_replicas(tmp_path)
    r1.claim_fleets(["site-a"])
    assert r1.fleets.served_since("site-a") == 1_000.0
    clock.now += LEASE_S * 1.5
    r2.claim_fleets(["site-a"])
    assert r2.fleets.served_since("site-a") == clock.now
    clock.now += LEASE_S / 2
    r2.claim_fleets(["site-a"])   # a renewal keeps the takeover time
    assert r2.fleets.served_since("site-a") == 1_000.0 + LEASE_S * 1.5
