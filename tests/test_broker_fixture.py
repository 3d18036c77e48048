"""The shared Mosquitto fixture really relays messages (guards every MQTT test's premise)."""
from __future__ import annotations

import threading

import paho.mqtt.client as mqtt


def test_mosquitto_relays_a_retained_message(mosquitto):
    got = threading.Event()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fixture-pub")
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    pub.publish("fixture/check", b"hello", qos=1, retain=True).wait_for_publish(5)
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fixture-sub")
    sub.on_message = lambda c, u, m: got.set() if m.payload == b"hello" else None
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe("fixture/check", qos=1)
    sub.loop_start()
    try:
        assert got.wait(5)
    finally:
        for c in (pub, sub):
            c.loop_stop()
            c.disconnect()
