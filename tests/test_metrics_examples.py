"""The metrics a controller exports from its state store, and the Grafana dashboard and Prometheus
alert rules in examples/grafana/: parsed, with every metric name their expressions use checked
against what a real ControllerMetrics exposes (promtool-free)."""
from __future__ import annotations

import json
import re

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from controller.reconciler.build_progress import BuildProgress
from controller.web.metrics import ControllerMetrics
from tests.conftest import EXAMPLES
from tests.web_seed import seeded_store

GRAFANA = EXAMPLES / "grafana"
METRIC = re.compile(r"\borigami_[a-zA-Z0-9_:]*")


def exposition(metrics: ControllerMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def exported_names(text: str) -> set[str]:
    """Every name a query may use: each family's samples, and a histogram's or counter's series names
    even before they have samples (a labelled family without children)."""
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
    return names


def test_models_conditions_build_info_and_durations_are_exported(tmp_path):
    store = seeded_store(tmp_path)
    metrics = ControllerMetrics(store)
    clock = iter([0.0, 1.0, 5.0, 10.0, 70.0, 80.0]).__next__  # init, run, three lines, end
    progress = BuildProgress(store, "k", "Model/digits", lambda what, f: None, clock, metrics.observe_build)
    progress.run(lambda: [progress(line, 0.0) for line in ("[1/4] dataset digits: building snapshot",
                                                           "[2/4] model digits: training (30 epochs max)",
                                                           "[3/4] model digits: squeezing variant int8")])
    text = exposition(metrics)
    got = samples(text)
    assert "_created" not in text
    assert got[("origami_train_duration_seconds_count", ())] == 1 and \
        got[("origami_train_duration_seconds_sum", ())] == 60.0
    assert got[("origami_build_duration_seconds_count", (("outcome", "ok"),))] == 1 and \
        got[("origami_build_duration_seconds_sum", (("outcome", "ok"),))] == 79.0
    model = store.object("Model", "digits")
    assert model.model.variants and store.object("Fleet", "mcu").conditions
    for variant, figures in model.model.variants.items():
        labels = (("model", "digits"), ("variant", variant))
        assert got[("origami_model_variant_passed", labels)] == float(bool(figures.passed))
        if figures.size is not None:
            assert got[("origami_model_variant_size_bytes", labels)] == figures.size
    fleet = store.object("Fleet", "mcu")
    for condition in fleet.conditions.values():
        key = ("origami_object_condition", (("condition", condition.type), ("kind", "Fleet"), ("name", "mcu"),
                                            ("reason", condition.reason)))
        assert got[key] == float(condition.status)
    [(name, labels)] = [k for k in got if k[0] == "origami_build_info"]
    assert dict(labels)["version"] and got[(name, labels)] == 1


def expressions() -> list[tuple[str, str]]:
    dashboard = json.loads((GRAFANA / "origami-dashboard.json").read_text())
    found = [(f"panel {p['title']}", t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((GRAFANA / "origami-alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
            found.append((f"alert {rule['alert']}", rule["expr"]))
    return found


def test_every_metric_the_dashboard_and_alerts_use_exists(tmp_path):
    names = exported_names(exposition(ControllerMetrics(seeded_store(tmp_path))))
    used = expressions()
    assert len(used) >= 15
    for where, expr in used:
        metrics = METRIC.findall(expr)
        assert metrics, f"{where}: no Origami metric in {expr!r}"
        missing = [m for m in metrics if m not in names]
        assert not missing, f"{where}: {missing} not exported; exported: {sorted(names)}"
        assert expr.count("(") == expr.count(")"), f"{where}: unbalanced {expr!r}"


def test_the_dashboard_is_importable_grafana_json():
    dashboard = json.loads((GRAFANA / "origami-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] == "Origami"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
