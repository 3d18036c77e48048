"""Both sides of the wire between the controller and its devices: structured logs, the MQTT link,
topic names, manifest verification and crash-safe file writes. Depends on `specs` only; the
controller (`controller`) and the device side (`device`) both build on it."""
__version__ = "0.1.0"
