"""Fixtures of the attack tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def keras():
    """tf-keras; afterwards its session is cleared, so that later tests name layers as a fresh process
    would (automatic names like 'flatten' otherwise become 'flatten_28')."""
    from controller.pipeline.tf_runtime import import_tf

    _, keras = import_tf()
    yield keras
    keras.backend.clear_session()
