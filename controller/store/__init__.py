"""Where stage outputs live: a content-addressed artifact store and the stage cache over it."""
from controller.store.artifacts import ArtifactInfo, ArtifactStore
from controller.store.stage_cache import StageCache, StageRecord, stage_key

__all__ = ["ArtifactInfo", "ArtifactStore", "StageCache", "StageRecord", "stage_key"]
