"""Prometheus metrics of the controller, served at `/metrics`.

Two kinds of series. Counters and histograms that the running parts *push* through a small API
(`ControllerMetrics.observe_pass`, `.ota_bytes`, `.samples`; `wire_metrics` connects them to the hooks
of the loop, the device hub and the collector); and gauges *read at scrape
time* from the state store and from watched objects (rollout progress, devices by state and board,
stage cache hits, MQTT connection), so they are right after a restart and need no bookkeeping.
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram
from prometheus_client import disable_created_metrics
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import InfoMetricFamily
from prometheus_client.registry import Collector

from controller.reconciler.ports import Rejection
from controller.state import StateStore

# Counters' and histograms' `_created` series (the time each was created) carry nothing an alert or
# a dashboard uses and double the series count: off, for the process (prometheus-client's own switch).
disable_created_metrics()

# Event reasons that are operator actions, whoever made them (CLI or dashboard): reason -> action kind.
ACTION_REASONS = {"Paused": "pause", "Resumed": "resume", "UndoRequested": "undo", "RetryRequested": "retry",
                  "Labelled": "label"}


class _StoreCollector(Collector):
    """Gauges computed from the state store on every scrape."""

    def __init__(self, metrics: ControllerMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterable:
        store = self.m.store
        yield from self._rollouts(store)
        yield from self._models(store)
        yield from self._conditions(store)
        yield self._build_info()
        yield from self._devices(store)
        yield from self._actions(store)
        yield from self._stage_cache()
        mqtt = GaugeMetricFamily("origami_mqtt_connected", "1 when the controller's MQTT link is connected",
                                 labels=["link"])
        for name, probe in self.m.mqtt_links.items():
            mqtt.add_metric([name], 1.0 if probe() else 0.0)
        yield mqtt

    @staticmethod
    def _rollouts(store: StateStore):
        states = {name: GaugeMetricFamily(f"origami_rollout_{name}_devices", help_, labels=["fleet"])
                  for name, help_ in (("members", "Devices in the fleet"),
                                      ("updated", "Members that proved the target: its digest, generation and health"),
                                      ("pending", "Members assigned the target, not there yet"),
                                      ("failed", "Members that failed the target version"),
                                      ("waiting", "Members not assigned the target yet"))}
        step = GaugeMetricFamily("origami_rollout_step", "Current strategy step of the fleet's rollout",
                                 labels=["fleet"])
        paused = GaugeMetricFamily("origami_rollout_paused", "1 when the rollout is paused", labels=["fleet"])
        failures = GaugeMetricFamily("origami_rollout_failures", "Devices recorded as failing the rollout target",
                                     labels=["fleet"])
        phase = GaugeMetricFamily("origami_rollout_phase", "1 for the rollout's current phase",
                                  labels=["fleet", "phase"])
        for obj in store.objects("Fleet"):
            for name, family in states.items():
                family.add_metric([obj.name], float(getattr(obj.fleet, name)))
        for r in store.rollouts():
            step.add_metric([r.fleet], float(r.step))
            paused.add_metric([r.fleet], 1.0 if r.paused else 0.0)
            failures.add_metric([r.fleet], float(len(r.failures)))
            for p in ("idle", "progressing", "complete", "halted", "rolled-back"):
                phase.add_metric([r.fleet, p], 1.0 if r.phase == p else 0.0)
        yield from states.values()
        yield from (step, paused, failures, phase)

    @staticmethod
    def _models(store: StateStore):
        """Each built variant's measured quality and size, as the model's last build left them."""
        figures = {name: GaugeMetricFamily(f"origami_model_variant_{name}", help_, labels=["model", "variant"])
                   for name, help_ in (("accuracy", "Test accuracy of the variant, measured on TFLM or LiteRT"),
                                       ("mae", "Test mean absolute error of the variant (regression)"),
                                       ("size_bytes", "Size of the variant's .tflite model"),
                                       ("arena_bytes", "Tensor arena the variant needs on TFLM"),
                                       ("passed", "1 when the variant passes its gates"))}
        for obj in store.objects("Model"):
            for variant, f in sorted(obj.model.variants.items()):
                passed = None if f.passed is None else float(f.passed)
                for name, value in (("accuracy", f.accuracy), ("mae", f.mae), ("size_bytes", f.size),
                                    ("arena_bytes", f.arena), ("passed", passed)):
                    if value is not None:
                        figures[name].add_metric([obj.name, variant], float(value))
        yield from figures.values()

    @staticmethod
    def _conditions(store: StateStore):
        family = GaugeMetricFamily("origami_object_condition", "1 when the object's condition is True, 0 when False",
                                   labels=["kind", "name", "condition", "reason"])
        for obj in store.objects():
            for condition in obj.conditions.values():
                family.add_metric([obj.kind, obj.name, condition.type, condition.reason],
                                  1.0 if condition.status else 0.0)
        yield family

    @staticmethod
    def _build_info() -> InfoMetricFamily:
        import platform

        from controller.pipeline.tf_runtime import tool_versions
        from wire import __version__

        versions = tool_versions()
        return InfoMetricFamily("origami_build", "Origami's version and the tools that shape its models", value={
            "version": __version__, "python": platform.python_version(),
            "tensorflow": versions.get("tensorflow", "absent"), "tflite_micro": versions.get("tflite-micro", "absent")})

    @staticmethod
    def _devices(store: StateStore):
        family = GaugeMetricFamily("origami_devices", "Known devices by state and board", labels=["state", "board"])
        counts: Counter[tuple[str, str]] = Counter()
        for d in store.devices():
            state = "offline" if not d.online else "failed" if d.healthy is False else "online"
            counts[(state, d.board or "unknown")] += 1
        for (state, board), n in sorted(counts.items()):
            family.add_metric([state, board], float(n))
        yield family

    def _actions(self, store: StateStore):
        family = CounterMetricFamily("origami_operator_actions", "Operator actions recorded in the event trail",
                                     labels=["action"])
        for action, n in sorted(self.m.tally_actions(store).items()):
            family.add_metric([action], float(n))
        yield family

    def _stage_cache(self):
        hits = CounterMetricFamily("origami_stage_cache_hits", "Pipeline stages reused from the stage cache",
                                   labels=["stage"])
        misses = CounterMetricFamily("origami_stage_cache_misses", "Pipeline stages that had to run",
                                     labels=["stage"])
        total_hits: Counter[str] = Counter()
        total_misses: Counter[str] = Counter()
        for cache in self.m.stage_caches:
            total_hits.update(cache.hits)
            total_misses.update(cache.executions)
        for kind, n in sorted(total_hits.items()):
            hits.add_metric([kind], float(n))
        for kind, n in sorted(total_misses.items()):
            misses.add_metric([kind], float(n))
        yield hits
        yield misses


class ControllerMetrics:
    """The controller's metrics on their own registry (never the process-global one)."""

    def __init__(self, store: StateStore, registry: CollectorRegistry | None = None) -> None:
        self.store = store
        self.registry = registry or CollectorRegistry()
        self.mqtt_links: dict[str, Callable[[], bool]] = {}
        self.stage_caches: list = []
        self._tally_lock = threading.Lock()
        self._tally_seq = 0
        self._tally: Counter[str] = Counter()
        self.passes = PromCounter("origami_reconcile_passes", "Reconcile passes", ["outcome"], registry=self.registry)
        self.pass_seconds = Histogram("origami_reconcile_pass_duration_seconds", "Duration of one reconcile pass",
                                      buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
                                      registry=self.registry)
        self.ota = PromCounter("origami_ota_bytes_sent", "Artifact bytes sent to devices over the air",
                               registry=self.registry)
        self.samples_ingested = PromCounter("origami_samples_ingested", "Sensor samples stored by the collector",
                                            ["sensor"], registry=self.registry)
        self.rejected = PromCounter("origami_device_messages_rejected",
                                    "Device messages the controller refused (malformed, oversized, unknown device)",
                                    ["channel"], registry=self.registry)
        self.build_seconds = Histogram("origami_build_duration_seconds", "Duration of one model build in the build "
                                       "worker (snapshot, training, squeezing, cards)", ["outcome"],
                                       buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
                                       registry=self.registry)
        self.train_seconds = Histogram("origami_train_duration_seconds", "Duration of one model's training stage",
                                       buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600), registry=self.registry)
        self.builds_running = 0
        self.registry.register(_StoreCollector(self))

    # --- what running parts call ------------------------------------------------------------
    def observe_pass(self, seconds: float, ok: bool = True) -> None:
        self.passes.labels("ok" if ok else "error").inc()
        self.pass_seconds.observe(seconds)

    def observe_build(self, what: str, seconds: float, ok: bool) -> None:
        """A build timing from the loop: "build" (a whole model build) or "train" (its training stage)."""
        if what == "train":
            self.train_seconds.observe(seconds)
        else:
            self.build_seconds.labels("ok" if ok else "failed").observe(seconds)

    def ota_bytes(self, n: int) -> None:
        self.ota.inc(n)

    def samples(self, n: int, sensor: str) -> None:
        self.samples_ingested.labels(sensor).inc(n)

    def watch_mqtt(self, name: str, connected: Callable[[], bool]) -> None:
        """Report `connected()` as origami_mqtt_connected{link=name} on every scrape."""
        self.mqtt_links[name] = connected

    def watch_stage_cache(self, cache) -> None:
        """A StageCache whose per-kind `hits` and `executions` counters are exported."""
        self.stage_caches.append(cache)

    def rejected_message(self, channel: str) -> None:
        self.rejected.labels(channel).inc()

    # --- scrape-time helpers ----------------------------------------------------------------
    def tally_actions(self, store: StateStore) -> Counter[str]:
        """Operator actions by kind, read incrementally from the event trail (dense sequence numbers)."""
        with self._tally_lock:
            for event in store.events(since=self._tally_seq):
                self._tally_seq = event.seq
                if event.reason in ACTION_REASONS:
                    self._tally[ACTION_REASONS[event.reason]] += 1
            return Counter(self._tally)


def is_ota_chunk(topic: str) -> bool:
    return topic.endswith("/transfer/chunk")


def wire_metrics(metrics: ControllerMetrics, *, reconciler=None, builder=None, hub=None, collection=None) -> None:
    """Connect the running parts of a controller to its metrics, through their public hooks: the
    loop's passes, the stage cache, the device hub's MQTT link and artifact chunks (bytes on the wire,
    chunk headers included), the collector's stored windows by sensor."""
    if reconciler is not None:
        reconciler.on_pass(lambda result, seconds: metrics.observe_pass(seconds, ok=result is not None))
        reconciler.models.on_timing(metrics.observe_build)
        reconciler.reports.on_report(lambda o: metrics.rejected_message(o.channel) if isinstance(o, Rejection)
                                     else None)
    if builder is not None:
        metrics.watch_stage_cache(builder.cache)
    if hub is not None:
        metrics.watch_mqtt("devices", hub.connected)
        hub.on_send(lambda topic, n: metrics.ota_bytes(n) if is_ota_chunk(topic) else None)
    if collection is not None:
        collection.collector.on_ingest(lambda sensor, n: metrics.samples(n, sensor))
