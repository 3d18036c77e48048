"""The bundle stage: what a device class installs for one fleet release (variant selection, split
head, firmware), keyed by `controller.planning.keys.bundle_key` and recorded in the stage cache.

The choice is `controller.devices.selection.select_variant` over the variants that passed their
gates, for the board as its DeviceProfile describes it (the spec is the trusted description of a
class; a device's hello only says which class it belongs to). A microcontroller's RAM and flash are
counted less the Model's `split.firmwareReserve`; when no whole model fits, the split head
(`controller.split`) becomes a candidate. For microcontrollers the firmware project is rendered
(`controller.firmware.render`) and built when a toolchain is installed; the rendered project is the
artifact otherwise. Split and firmware are sub-stages with keys of their own, so a second fleet or a
restart does not repeat them.
"""
from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.devices.selection import Candidate
from controller.devices.selection import select_variant
from controller.firmware.render import template_digest
from controller.loading import SpecRepository
from controller.planning.keys import stage_key
from controller.reconciler.ports import Artifact
from controller.reconciler.ports import ModelOutcome
from controller.reconciler.ports import Progress
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import StageCache
from specs.errors import StageError
from specs.v1alpha1.budget import board_budget
from specs.v1alpha1.device_profile import DeviceProfile
from specs.v1alpha1.protocol import Accelerator
from specs.v1alpha1.protocol import Capabilities
from specs.v1alpha1.protocol import Target
from wire.logs import get_logger
from wire.manifests import key_id

log = get_logger("reconciler.bundles")
PRECISION = {"int8": "int8", "float16": "float16", "dynamic": "dynamic"}


def class_capabilities(profile: DeviceProfile) -> Capabilities:
    """A device class's capabilities as its DeviceProfile states them (the trusted description)."""
    spec = profile.spec
    return Capabilities(family=spec.family, board=spec.board, profile=profile.metadata.name,
                        ramBytes=spec.ram, flashBytes=spec.flash, runtimes=[spec.runtime],
                        accelerators=[Accelerator(kind=kind) for kind in spec.accelerators])


def candidates(variants: dict[str, dict[str, Any]], family: str) -> list[Candidate]:
    """The passed variants as the devices' selection sees them (pure)."""
    out = []
    for name, v in sorted(variants.items()):
        if not v.get("passed"):
            continue
        precision = PRECISION.get(v["quantization"], "float32")
        score = v.get("accuracy") if v.get("accuracy") is not None else \
            -v["mae"] if v.get("mae") is not None else None
        shown = f"accuracy {v['accuracy']:.4f}" if v.get("accuracy") is not None else \
            f"MAE {v['mae']:.4f}" if v.get("mae") is not None else ""
        if family == "mcu":
            if v.get("tflm") and precision == "int8":
                out.append(Candidate(name, "tflm", "int8", v["size"], v.get("arena") or 0, score=score, shown=shown))
        elif not v.get("tflm_only"):  # LUT-compressed: DECODE operators that LiteRT cannot run
            out.append(Candidate(name, "litert", precision, v["size"], score=score, shown=shown))
    return out


def usable_capabilities(profile: DeviceProfile, reserve: int) -> Capabilities:
    """A device class's capabilities with RAM and flash as its budget counts them (less what an
    MCU's firmware keeps for itself): what selection chooses against."""
    caps = class_capabilities(profile)
    budget = board_budget(profile.spec, reserve)
    if budget.ram <= 0 or budget.flash <= 0:
        raise StageError(f"DeviceProfile/{profile.metadata.name}: the Model's split.firmwareReserve ({reserve} B) "
                         f"leaves nothing of its {profile.spec.ram} B of RAM or {profile.spec.flash} B of flash")
    return caps.model_copy(update={"ramBytes": budget.ram, "flashBytes": budget.flash})


class BundleMaker:
    """Builds (or reads back) the artifact of one (fleet release, device class)."""

    def __init__(self, store: ArtifactStore, cache: StageCache, public_key: Ed25519PublicKey | None = None) -> None:
        self.store = store  # ArtifactStore
        self.cache = cache  # StageCache
        self.public_key = public_key  # the controller's: rendered into firmware, which trusts only it

    def built(self, key: str) -> Artifact | None:
        """The bundle recorded under `key`, or None when it has not been built."""
        record = self.cache.get(key)
        return Artifact.from_dict(record.result["artifact"]) if record is not None else None

    def build(self, repo: SpecRepository, fleet: str, board: str, key: str, outcome: ModelOutcome,
              progress: Progress | None = None) -> Artifact:
        record = self.cache.run("bundle", key, lambda: self._bundle(repo, fleet, board, outcome, progress))
        return Artifact.from_dict(record.result["artifact"])

    def _bundle(self, repo: SpecRepository, fleet: str, board: str, outcome: ModelOutcome,
                progress: Progress | None) -> tuple[dict[str, str], dict[str, Any]]:
        artifact = self.artifact_for(repo, fleet, outcome, board, progress)
        outputs = {"artifact": artifact.digest}
        if artifact.firmware:
            outputs["firmware"] = artifact.firmware
        if artifact.tail:
            outputs["tail"] = artifact.tail
        # model and board: garbage collection keeps the last bundles of each (see controller.store.gc)
        return outputs, {"artifact": artifact.to_dict(), "model": repo.fleets[fleet].spec.model, "board": board}

    def artifact_for(self, repo: SpecRepository, fleet: str, outcome: ModelOutcome, board: str,
                     progress: Progress | None = None) -> Artifact:
        say = progress or (lambda what, fraction: None)
        spec = repo.fleets[fleet].spec
        model = repo.models[spec.model]
        if board not in repo.profiles:
            raise StageError(f"no DeviceProfile '{board}' (reported by a device); add one to the specs")
        profile = repo.profiles[board]
        variants = {n: v for n, v in outcome.variants.items() if v.get("passed")}
        if spec.variant:
            if spec.variant not in variants:
                raise StageError(f"pinned variant '{spec.variant}' did not pass its gates")
            variants = {spec.variant: variants[spec.variant]}
        if not variants:
            raise StageError(f"no variant passed its gates; see `origami describe model/{spec.model}`")
        family = profile.spec.family
        reserve = model.spec.split.firmwareReserve if family == "mcu" else 0
        usable = usable_capabilities(profile, reserve)
        options = candidates(variants, family)
        if family == "mcu" and not options:  # the implicit TFLM gate: say why no passed variant may go
            raise StageError(f"{board}: no variant can run on this TFLM board: " + "; ".join(
                f"{n}: {v.get('ineligible', {}).get('tflm', 'not measured on TFLM')}"
                for n, v in sorted(variants.items())))
        selection = select_variant(usable, options)
        tail = None
        if selection.candidate is None and family == "mcu" and model.spec.split.policy != "never" \
                and options:
            say(f"{board}: no whole model fits; splitting", 0.0)
            head = self._split(repo, fleet, outcome, profile, reserve)
            options.append(Candidate(f"split@{head['layer']}", "tflm", "int8", head["size"], head["arena"], "head"))
            selection = select_variant(usable, options)
            tail = head["tail"]
            head_digest = head["head"]
        if selection.candidate is None:
            raise StageError(f"{board}: {selection.reason}")
        chosen = selection.candidate
        if chosen.part == "head":
            digest, variant = head_digest, chosen.name
        else:
            digest, variant, tail = variants[chosen.name]["digest"], chosen.name, None
        if family != "mcu":
            return Artifact(digest, chosen.size, Target(runtime="litert", precision=chosen.precision),  # type: ignore[arg-type]
                            variant,
                            selection.reason)
        device = variants[chosen.name].get("device") if chosen.part == "full" else None
        firmware, status = self._firmware(profile, digest, chosen.arena, say, device)
        return Artifact(digest, chosen.size, Target(runtime="tflm", precision="int8", part=chosen.part,  # type: ignore[arg-type]
                                                    board=board),
                        variant, selection.reason, firmware, status, tail)

    # --- split -----------------------------------------------------------------------------------
    def _split(self, repo: SpecRepository, fleet: str, outcome: ModelOutcome, profile: DeviceProfile,
               reserve: int) -> dict[str, Any]:
        build = outcome.handle
        if build is None:
            raise StageError("the model's build is not loaded; cannot split it")
        spec = repo.fleets[fleet].spec
        policy = repo.models[spec.model].spec.split
        key = stage_key("split", {"profile": profile.spec.model_dump(mode="json"),
                                  "link": spec.link.model_dump(mode="json"),
                                  "policy": policy.model_dump(mode="json"), "reserve": reserve},
                        {"model": build.model_digest, "dataset": build.dataset_digest})

        def split_stage() -> tuple[dict[str, str], dict[str, Any]]:
            from controller.pipeline.datasets import Snapshot
            from controller.pipeline.tf_runtime import import_tf
            from controller.split import build_split
            from controller.split import plan_split

            _, keras = import_tf()
            keras_model = keras.models.load_model(self.store.path(build.model_digest), compile=False)
            snapshot = Snapshot.decode(self.store.read_bytes(build.dataset_digest))
            data = snapshot.x("train")
            decision = plan_split(keras_model, profile, spec.link, policy, reserve, representative_data=data,
                                  name=spec.model)
            head, tail = build_split(keras_model, decision, data)
            cut = decision.cut
            outputs = {"head": self.store.put_bytes(head, {"kind": "split-head", "model": spec.model,
                                                           "board": profile.metadata.name, "layer": decision.layer})}
            if tail is not None:
                outputs["tail"] = self.store.put_bytes(tail, {"kind": "split-tail", "model": spec.model,
                                                              "layer": decision.layer})
            return outputs, {"layer": decision.layer, "size": len(head), "arena": cut.head_arena_bytes,
                             "reason": decision.reason}

        record = self.cache.run("split", key, split_stage)
        log.info("split head", extra={"board": profile.metadata.name, "layer": record.result["layer"],
                                      "cached": record.cached})
        return {**record.result, "head": record.outputs["head"], "tail": record.outputs.get("tail")}

    # --- firmware --------------------------------------------------------------------------------
    def _firmware(self, profile: DeviceProfile, model_digest: str, arena: int, say: Progress,
                  device: dict[str, Any] | None = None) -> tuple[str, str]:
        """The firmware project for this board and model (with what the device needs beside it: classes,
        normalisation, quantization), as a tar.gz in the artifact store."""
        config: dict[str, Any] = {"profile": profile.spec.model_dump(mode="json"), "device": device}
        if self.public_key is not None:
            config["keyId"] = key_id(self.public_key)  # a new controller key means a new firmware
        key = stage_key("firmware", config, {"model": model_digest, "templates": template_digest(profile)})

        def firmware_stage() -> tuple[dict[str, str], dict[str, Any]]:
            from controller.firmware.render import render_firmware
            from controller.firmware.toolchains import build_firmware

            say(f"{profile.metadata.name}: rendering firmware", 0.0)
            with tempfile.TemporaryDirectory(prefix="origami-firmware-") as tmp:
                project = render_firmware(self.store.read_bytes(model_digest), profile, Path(tmp) / "project",
                                          version=model_digest[:12], arena_measured=arena or None, device=device,
                                          public_key=self.public_key)
                built = build_firmware(project)
                status = "built" if built.status == "built" else f"rendered: {built.reason}"
                digest = self.store.put_bytes(_tar(Path(built.artifact)),
                                              {"kind": "firmware", "board": profile.metadata.name,
                                               "model": model_digest, "status": status,
                                               "project": json.dumps(project.to_dict(), default=str)})
            return {"firmware": digest}, {"status": status}

        record = self.cache.run("firmware", key, firmware_stage)
        return record.outputs["firmware"], record.result["status"]


def _tar(directory: Path) -> bytes:
    """A deterministic tar.gz of a directory (sorted names, zero mtimes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        paths = [directory] if directory.is_file() else sorted(p for p in directory.rglob("*") if p.is_file())
        for path in paths:
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(directory.parent if directory.is_file()
                                                                            else directory)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(path, "rb") as f:
                tar.addfile(info, f)
    return buffer.getvalue()
