"""Finding a model's cards and plots in the artifact store, for the variants the controller built.

The pipeline stores, per variant, `card.json` (figures, training history, the stage keys) and the
cards stage records which plot (training curves, confusion matrix, size vs accuracy) belongs to
which variant. A card is the one whose variant's .tflite digest is the digest the state store holds.
"""
from __future__ import annotations

from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import StageCache

FIGURES = ("training_curves.png", "confusion.png", "size_vs_accuracy.png")


def model_cards(artifacts: ArtifactStore | None, model: str, variant_digests: dict[str, str]) -> dict[str, dict]:
    """variant name -> {"card": card.json content, "files": {file name: digest}} for the built digests."""
    if artifacts is None or not variant_digests:
        return {}
    found: dict[str, dict] = {}
    for info in artifacts.list():
        meta = info.metadata
        if meta.get("kind") != "model-card" or meta.get("model") != model or meta.get("media_type"):
            continue
        try:
            card = artifacts.read_json(info.digest)
        except (OSError, ValueError):
            continue
        variant = card.get("variant", {})
        name = variant.get("name")
        if name in variant_digests and variant.get("tflite_digest") == variant_digests[name]:
            found[name] = {"card": card, "card_digest": info.digest, "files": {}}
    cache = StageCache(artifacts)
    for name, entry in found.items():
        key = entry["card"].get("stage_keys", {}).get("cards")
        record = cache.get(key) if key else None
        if record is not None:
            prefix = f"{name}/"
            entry["files"] = {role[len(prefix):]: digest for role, digest in record.outputs.items()
                              if role.startswith(prefix)}
    return found


def figure_digest(artifacts: ArtifactStore | None, model: str, variant: str, figure: str,
                  variant_digests: dict[str, str]) -> str | None:
    if figure not in FIGURES:
        return None
    entry = model_cards(artifacts, model, variant_digests).get(variant)
    return entry["files"].get(figure) if entry else None


def card_summary(card: dict) -> dict:
    """The parts of a card.json the page shows, small enough for JSON responses."""
    return {"task": card.get("task"), "dataset": card.get("dataset"), "float_metrics": card.get("float_metrics", {}),
            "epochs_run": card.get("training", {}).get("epochs_run"),
            "history": card.get("training", {}).get("history", {})}


