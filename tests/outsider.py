"""A device written from docs/protocol.md alone: plain paho publishing JSON on its own topics, not our
agent. Tests use it to play honest or lying devices; it clears what it retained when it closes."""
from __future__ import annotations

import json

import paho.mqtt.client as mqtt

HELLO = {"protocol": "origami/v1", "agent": "outsider", "agentVersion": "0.1",
         "capabilities": {"family": "linux", "board": "rpi4"}}


class Outsider:
    def __init__(self, url: str, device_id: str, *, follow_desired: bool = False) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.device_id = device_id
        self.root = f"origami/v1/devices/{device_id}"
        self.desired: list[dict] = []  # desired states received, when following them
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"outsider-{device_id}")
        self.client.on_message = lambda c, u, m: m.payload and self.desired.append(json.loads(m.payload))
        self.client.connect(host, int(port))
        if follow_desired:
            self.client.subscribe(f"{self.root}/desired", qos=1)
        self.client.loop_start()

    def publish(self, channel: str, body: dict, retain: bool = True) -> None:
        self.client.publish(f"{self.root}/{channel}", json.dumps(body), qos=1, retain=retain).wait_for_publish(5)

    def hello(self, retain: bool = True, **changes) -> None:
        """A retained hello (an rpi4 Linux board unless `changes` say otherwise)."""
        self.publish("hello", HELLO | {"deviceId": self.device_id} | changes, retain=retain)

    def close(self) -> None:
        for channel in ("hello", "presence", "state"):   # leave no retained messages behind
            self.client.publish(f"{self.root}/{channel}", b"", qos=1, retain=True).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()
