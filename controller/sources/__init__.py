"""Spec sources: where the desired state comes from. A source is *fetched* into a `Snapshot`
(a revision and the spec files' texts); the loop *loads* and *validates* it."""
from controller.sources.snapshot import Snapshot, SpecSource, load_snapshot  # noqa: F401
