"""Spec sources: where the desired state comes from. A source is *fetched* into a `Revision` (the
whole tree of one commit, materialized); the loop *loads* and *validates* it."""
from controller.sources.revision import Revision
from controller.sources.revision import SpecSource
from controller.sources.revision import load_revision

__all__ = ["Revision", "SpecSource", "load_revision"]
