"""Where stage outputs live: a content-addressed artifact store and the stage cache over it."""
from controller.store.artifacts import ArtifactInfo, ArtifactStore
from controller.store.stage_cache import CachedOnly, NotBuilt, StageCache, StageRecord

__all__ = ["ArtifactInfo", "ArtifactStore", "CachedOnly", "NotBuilt", "StageCache", "StageRecord"]
