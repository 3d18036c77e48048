"""Tenancy benchmark: how many ways across tenants were tried on the real parts and how many got
through (must be 0), and what isolation costs a no-op reconcile pass.

Cross-tenant attempts, against the real parts:
- HTTP, one dashboard server for tenants acme and globex (`controller.tenancy.web`): acme's viewer
  on every action route; acme's operator on every route while naming globex (X-Origami-Tenant);
  acme's tokens reading globex-only objects by name; a globex token typed into acme's dashboard form;
  acme's admin listing or creating tokens for globex.
- MQTT, Mosquitto on the ACLs `origami broker config --tenants` writes: an acme device subscribing to
  each of a globex device's retained channels and to wildcards in globex's namespace, publishing on
  globex topics (hello, state, transfer requests), and asking acme's controller for globex's artifact
  by its digest.
An attempt is *allowed* when anything of globex's is read or changed.

`isolation_overhead_ratio`: a no-op pass (bench/reconcile.py's converged state) of two tenants with
25 models and 500 devices each (each tenant's store and loop, as `--tenants` runs them), over one
tenant with 50 models and 1,000 devices: medians of 5.

    .venv/bin/python bench/tenancy.py [--json]
"""
from __future__ import annotations

import argparse
import json
import queue
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench import reconcile as rb
from controller.devices.hub import DeviceHub
from controller.reconciler.loop import Reconciler
from controller.sources.local import LocalSource
from controller.state import StateStore
from controller.store.artifacts import ArtifactStore
from controller.tenancy.web import TenantBoard
from controller.tenancy.web import create_tenant_app
from controller.web import DashboardServer
from controller.web.auth import TOKEN_FILE
from controller.web.auth import TokenStore
from specs.v1alpha1 import protocol as p
from tests.security.secured_mosquitto import generated_mosquitto
from tests.web_seed import FLEET
from tests.web_seed import seeded_store
from wire.mqtt import MqttLink

ACTIONS = [f"/api/v1/fleets/{FLEET}/rollout/{a}" for a in ("pause", "resume", "undo", "retry")] + [
    "/api/v1/reconcile", "/api/v1/samples/label"]
READS = ["/api/v1/status", "/api/v1/fleets", f"/api/v1/fleets/{FLEET}", "/api/v1/models/digits", "/api/v1/devices",
         "/api/v1/devices/dev-0", "/api/v1/events", "/api/v1/records/devices", "/api/v1/records/installs",
         "/api/v1/records/rollouts", "/api/v1/records/desired", "/metrics", "/api/v1/tokens"]
LABEL = {"label": "x", "session": "s-1"}
HELLO = p.encode(p.Hello(deviceId="glx-01", agent="bench", agentVersion="0",
                         capabilities=p.Capabilities(family="linux")))


class Tally:
    def __init__(self) -> None:
        self.attempts = 0
        self.allowed: list[str] = []

    def tried(self, what: str, got_through: bool) -> None:
        self.attempts += 1
        if got_through:
            self.allowed.append(what)


def http_attempts(tmp: Path, tally: Tally) -> None:
    stores = {}
    for name in ("acme", "globex"):
        (tmp / name).mkdir(parents=True)
        stores[name] = seeded_store(tmp / name)
        stores[name].tenant = name
    stores["globex"].put_object(stores["globex"].object("Fleet", FLEET).__class__("Fleet", "globex-only"))
    tokens = TokenStore(tmp / TOKEN_FILE)
    acme = {role: tokens.create(f"a-{role}", tenant="acme", role=role) for role in ("viewer", "operator", "admin")}
    globex_operator = tokens.create("g-operator", tenant="globex", role="operator")
    app = create_tenant_app([TenantBoard(n, s, reconcile_now=lambda: None) for n, s in stores.items()], tokens=tokens)
    before = {n: (len(s.events()), s.rollout(FLEET).to_dict()) for n, s in stores.items()}
    with DashboardServer(app, "127.0.0.1", 0) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        def bearer(token, tenant=None):
            return {"Authorization": f"Bearer {token}", **({"X-Origami-Tenant": tenant} if tenant else {})}
        for path in ACTIONS:  # a viewer acts
            answer = client.post(path, json=LABEL if "label" in path else None, headers=bearer(acme["viewer"]))
            tally.tried(f"viewer POST {path}", answer.status_code < 400)
        for role, token in acme.items():  # any acme role, naming globex
            for path in ACTIONS:
                answer = client.post(path, json=LABEL if "label" in path else None, headers=bearer(token, "globex"))
                tally.tried(f"acme {role} POST {path} as globex", answer.status_code < 400)
            for path in READS:
                answer = client.get(path, headers=bearer(token, "globex"))
                tally.tried(f"acme {role} GET {path} as globex", answer.status_code < 400)
            for path in ("/api/v1/fleets/globex-only", "/fleets/globex-only"):
                answer = client.get(path, headers=bearer(token))
                tally.tried(f"acme {role} GET {path}", answer.status_code < 400)  # the 404 names only what was asked
            stream = client.get("/api/v1/events", headers=bearer(token))
            tally.tried(f"acme {role} events show globex", "globex" in stream.text)
            metrics = client.get("/metrics", headers=bearer(token))
            tally.tried(f"acme {role} metrics show globex", "globex-only" in metrics.text)
        made = client.post("/api/v1/tokens", json={"name": "x", "role": "admin"}, headers=bearer(acme["admin"]))
        tally.tried("acme admin creates a globex token", made.status_code < 400 and made.json()["tenant"] != "acme")
        listed = client.get("/api/v1/tokens", headers=bearer(acme["admin"])).json()
        tally.tried("acme admin lists globex tokens", any(h["tenant"] != "acme" for h in listed))
        client.get("/login")
        csrf = client.cookies["origami_csrf"]
        client.post("/login", data={"csrf": csrf, "token": acme["operator"], "next": "/"})
        form = client.post(f"/fleets/{FLEET}/rollout/pause", data={"csrf": csrf, "token": globex_operator})
        tally.tried("globex token typed into acme's page", form.status_code < 400)
    after = {n: (len(s.events()), s.rollout(FLEET).to_dict()) for n, s in stores.items()}
    tally.tried("globex's state changed at all", after["globex"] != before["globex"])


def mqtt_attempts(tmp: Path, tally: Tally) -> None:
    devices = {"acme-01": "acme", "glx-01": "globex"}
    with generated_mosquitto([], tenants=devices, namespaces=("acme", "globex")) as broker:
        accounts = broker.files.accounts
        hubs, stores = {}, {}
        for tenant in ("acme", "globex"):
            stores[tenant] = ArtifactStore(tmp / "artifacts" / tenant)
            connection = broker.connection(accounts.controller_of(tenant)).in_tenant(tenant)
            hubs[tenant] = DeviceHub(connection, stores[tenant], client_id=f"bench-{tenant}").start(5)
        digest = stores["globex"].put_bytes(b"globex's model" * 100)
        glx = MqttLink("glx-01", broker.connection("glx-01").in_tenant("globex")).start(5)
        for channel in ("hello", "state"):
            glx.publish_and_wait(p.device_topic("glx-01", channel), b"{}", retain=True)
        heard: queue.Queue = queue.Queue()
        hubs["globex"].on_report(lambda report: heard.put(report.device_id))
        for namespace in ("globex", "acme"):  # acme-01 in globex's namespace, then glx's topics from its own
            spy = MqttLink(f"spy-{namespace}", broker.connection("acme-01").in_tenant(namespace))
            seen: queue.Queue = queue.Queue()
            filters = [p.device_topic("glx-01", c) for c in ("hello", "state", "desired", "transfer/chunk")]
            filters += ["origami/v1/#", "origami/v1/devices/+/hello", "origami/v1/keys"]
            for topic_filter in filters:
                spy.subscribe(topic_filter, lambda t, b, q=seen: q.put(t))
            spy.start(5)
            spy.publish_and_wait(p.hello_topic("glx-01"), HELLO)  # would be a report of glx-01 if it got through
            for channel in ("state", "transfer/request"):
                spy.publish_and_wait(p.device_topic("glx-01", channel), b"{}")
            time.sleep(1.0)
            spy.stop()
            got = []
            while not seen.empty():
                got.append(seen.get())
            theirs = [t for t in got if "glx-01" in t or (namespace == "globex" and t)]
            for topic_filter in filters:
                tally.tried(f"acme-01 reads {topic_filter} in {namespace}'s namespace",
                            any(t for t in theirs if _matches(topic_filter, t)))
            tally.tried(f"acme-01 writes glx-01's topics in {namespace}'s namespace",
                        any(d == "glx-01" for d in list(heard.queue)))
        replies: queue.Queue = queue.Queue()
        thief = MqttLink("thief", broker.connection("acme-01").in_tenant("acme"))
        thief.subscribe(p.transfer_offer_topic("acme-01"), lambda t, b: replies.put(json.loads(b)))
        thief.start(5)
        thief.publish_and_wait(p.transfer_request_topic("acme-01"), p.encode(p.TransferRequest(digest=digest)))
        try:
            answer = replies.get(timeout=10)
        except queue.Empty:
            answer = {"kind": "none"}
        thief.stop()
        tally.tried("acme-01 fetches globex's artifact by digest", answer.get("kind") == "offer")
        glx.stop()
        for hub in hubs.values():
            hub.stop()


def _matches(topic_filter: str, topic: str) -> bool:
    from controller.devices.broker_acl import topic_matches

    return topic_matches(topic_filter, topic)


def noop_pass_ms(tmp: Path, tenants: int) -> float:
    """Median over 5 of one no-op pass of every tenant (each with 50/`tenants` models and 1000/`tenants` devices)."""
    models, devices = rb.MODELS, rb.DEVICES
    loops = []
    try:
        rb.MODELS = models // tenants
        for index in range(tenants):
            root = tmp / f"tenant-{index}"
            rb.write_specs(root / "specs")
            store = StateStore(root / "origami-state.db", tenant=f"t{index}")
            loop = Reconciler(store, LocalSource(root / "specs"), rb.AlreadyBuilt(), rb.Quiet(), rb.Unsigned())
            rb.seed_converged(store, loop, devices // tenants)
            loop.reconcile_once()
            loops.append(loop)
    finally:
        rb.MODELS = models
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for loop in loops:
            loop.reconcile_once()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="origami-bench-tenancy-"))
    try:
        tally = Tally()
        http_attempts(tmp / "http", tally)
        mqtt_attempts(tmp / "mqtt", tally)
        one = noop_pass_ms(tmp / "one", 1)
        two = noop_pass_ms(tmp / "two", 2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"cross-tenant attempts: {tally.attempts}, allowed: {len(tally.allowed)}"
          + (f" ({'; '.join(tally.allowed)})" if tally.allowed else ""))
    print(f"no-op pass, {rb.MODELS} models and {rb.DEVICES} devices: one tenant {one:.1f} ms, two tenants "
          f"(half each) {two:.1f} ms: ratio {two / one:.2f}")
    if args.json:
        print(json.dumps({"tenants": 2, "cross_tenant_attempts": tally.attempts,
                          "cross_tenant_allowed": len(tally.allowed), "isolation_overhead_ratio": round(two / one, 3),
                          "noop_one_tenant_ms": round(one, 1), "noop_two_tenants_ms": round(two, 1)}))
    return 0 if not tally.allowed else 1


if __name__ == "__main__":
    sys.exit(main())
