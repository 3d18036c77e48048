"""Attacks by whoever can merge to a spec repository, each refused with a clear, located error."""
