"""Two install slots (a, b) on a device's disk, switched atomically.

Layout under `root`: `a/` and `b/` each hold `model.tflite` and `manifest.json`; `slots.json`
says which slot is active, which one was active before, and whether the active one is still
on trial (installed but not yet confirmed by a health check). Every change of `slots.json` is
a write to a temporary file and a rename, so a crash leaves the old or the new record, never a
mix; an agent that starts and finds a slot on trial rolls it back (it was never confirmed).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import SlotState
from wire.files import atomic_write

MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
SLOTS = ("a", "b")


@dataclass(frozen=True)
class SlotRecord:
    active: str | None = None
    previous: str | None = None
    trial: bool = False


class Slots:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._record_path = self.root / "slots.json"

    # --- reading ----------------------------------------------------------------------------
    def record(self) -> SlotRecord:
        if not self._record_path.exists():
            return SlotRecord()
        return SlotRecord(**json.loads(self._record_path.read_text()))

    def manifest(self, slot: str | None) -> Manifest | None:
        if slot is None or not (self.root / slot / MANIFEST_FILE).exists():
            return None
        return Manifest.model_validate_json((self.root / slot / MANIFEST_FILE).read_bytes())

    def model_path(self, slot: str) -> Path:
        return self.root / slot / MODEL_FILE

    def active_manifest(self) -> Manifest | None:
        return self.manifest(self.record().active)

    def inactive(self) -> str:
        active = self.record().active
        return "b" if active == "a" else "a"

    def states(self) -> list[SlotState]:
        out = []
        for slot in SLOTS:
            manifest = self.manifest(slot)
            out.append(SlotState(name=slot, version=manifest.version if manifest else None,
                                 digest=manifest.digest if manifest else None,
                                 installedAt=(self.root / slot / MANIFEST_FILE).stat().st_mtime if manifest else None))
        return out

    # --- changing ---------------------------------------------------------------------------
    def install(self, manifest: Manifest, artifact: Path) -> str:
        """Copy a verified artifact into the inactive slot and make it active on trial."""
        slot = self.inactive()
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{slot}-"))
        shutil.copyfile(artifact, staging / MODEL_FILE)
        with open(staging / MODEL_FILE, "rb+") as handle:
            os.fsync(handle.fileno())
        (staging / MANIFEST_FILE).write_text(manifest.model_dump_json())
        target = self.root / slot
        if target.exists():
            shutil.rmtree(target)   # the inactive slot is not in use: nothing reads it
        os.replace(staging, target)
        before = self.record()
        self._save(SlotRecord(active=slot, previous=before.active, trial=True))
        return slot

    def confirm(self) -> None:
        record = self.record()
        self._save(SlotRecord(active=record.active, previous=record.previous, trial=False))

    def roll_back(self) -> str | None:
        """Make the previous slot active again; returns it (None: nothing was installed before)."""
        record = self.record()
        self._save(SlotRecord(active=record.previous, previous=None, trial=False))
        return record.previous

    def _save(self, record: SlotRecord) -> None:
        atomic_write(self._record_path, json.dumps(asdict(record)).encode())
