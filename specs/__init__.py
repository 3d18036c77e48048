"""Origami's API: pydantic models of every spec kind and device-protocol message.

Nothing in this package does I/O. The current version lives in `specs.v1alpha1`.
"""
from specs.v1alpha1 import API_VERSION  # noqa: F401
