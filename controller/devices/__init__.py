"""The controller's MQTT side: topics, the MQTT link, signing, artifact transfer, capabilities,
variant selection, broker configuration and the `DeviceHub` the reconciler talks to."""
