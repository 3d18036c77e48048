"""Origami's controller: loads specs, builds artifacts, reconciles fleets."""
__version__ = "0.1.0"
