"""With no --broker, the controller's embedded amqtt broker carries retained device messages."""
from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from controller.embedded_broker import EmbeddedBroker


def test_embedded_broker_delivers_retained_messages_on_loopback():
    with EmbeddedBroker() as broker:
        assert broker.host == "127.0.0.1"
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub")
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        pub.publish("origami/v1/devices/d1/hello", b"{}", qos=1, retain=True).wait_for_publish(10)
        got = threading.Event()
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sub")
        sub.on_message = lambda c, u, m: got.set() if m.topic.endswith("/hello") and m.retain else None
        sub.on_connect = lambda c, u, f, rc, p=None: c.subscribe("origami/v1/devices/+/hello", qos=1)
        sub.connect(broker.host, broker.port)
        sub.loop_start()
        try:
            assert got.wait(10)
        finally:
            for c in (pub, sub):
                c.loop_stop()
                c.disconnect()
