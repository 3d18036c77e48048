"""Where stage outputs live: a content-addressed artifact store and the stage cache over it."""
from controller.store.artifacts import ArtifactInfo
from controller.store.artifacts import ArtifactStore
from controller.store.stage_cache import CachedOnly
from controller.store.stage_cache import NotBuilt
from controller.store.stage_cache import StageCache
from controller.store.stage_cache import StageRecord

__all__ = ["ArtifactInfo", "ArtifactStore", "CachedOnly", "NotBuilt", "StageCache", "StageRecord"]
