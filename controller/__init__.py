"""Origami's controller: loads specs, builds artifacts, reconciles fleets."""
