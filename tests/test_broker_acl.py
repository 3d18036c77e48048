"""With the generated password file and ACLs on a real Mosquitto: a device cannot publish on
another device's topics nor read its desired state; the controller reads and writes everything."""
from __future__ import annotations

import base64
import hashlib
import queue
import subprocess
import time

import pytest

from controller.devices import broker_config
from specs.errors import DeviceError
from specs.errors import UsageError
from specs.v1alpha1 import protocol as p
from tests.conftest import start_mosquitto
from tests.conftest import stop_mosquitto
from wire.mqtt import MqttLink


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    directory = tmp_path_factory.mktemp("secured")
    files = broker_config.write_broker_config(directory / "config", ["dev-a", "dev-b"], port=None)
    # pytest's temporary tree is private to root: keep the broker from switching to user mosquitto,
    # which could not read the password file there (a deployment chowns the files instead).
    broker = start_mosquitto(directory / "broker", "user root\n" + files.security_config(), allow_anonymous=False)
    yield broker, files
    stop_mosquitto(broker)


def _link(broker, user, password, client_id=None) -> MqttLink:
    return MqttLink(client_id or f"acl-{user}", broker.url, username=user, password=password).start(5)


def _collect(link: MqttLink, topic_filter: str) -> tuple[int, queue.Queue]:
    inbox: queue.Queue = queue.Queue()
    granted = link.subscribe(topic_filter, lambda topic, payload: inbox.put((topic, payload)))
    return granted, inbox


def test_device_cannot_publish_to_another_devices_topics(secured):
    broker, files = secured
    controller = _link(broker, "controller", files.passwords["controller"])
    a = _link(broker, "dev-a", files.passwords["dev-a"])
    try:
        granted, inbox = _collect(controller, "origami/v1/devices/#")
        assert granted == 1
        # Allowed: A on its own state. Denied: A posing as B, and A writing anyone's desired state.
        a.publish_and_wait(p.state_topic("dev-a"), b"own", retain=False)
        for topic in [p.state_topic("dev-b"), p.hello_topic("dev-b"), p.transfer_request_topic("dev-b"),
                      p.desired_topic("dev-b"), p.desired_topic("dev-a"), p.transfer_chunk_topic("dev-b")]:
            a.publish_and_wait(topic, b"forged", retain=False)
        a.publish_and_wait(p.events_topic("dev-a"), b"marker")
        seen = []
        while True:
            topic, payload = inbox.get(timeout=5)
            seen.append((topic, payload))
            if payload == b"marker":
                break
        assert seen == [(p.state_topic("dev-a"), b"own"), (p.events_topic("dev-a"), b"marker")]
    finally:
        a.stop()
        controller.stop()


def test_device_cannot_read_another_devices_desired_state(secured):
    broker, files = secured
    controller = _link(broker, "controller", files.passwords["controller"])
    a = _link(broker, "dev-a", files.passwords["dev-a"])
    try:
        own_granted, own = _collect(a, p.desired_topic("dev-a"))
        other_granted, other = _collect(a, p.desired_topic("dev-b"))
        wild_granted, wild = _collect(a, "origami/v1/devices/+/transfer/chunk")
        assert own_granted == 1
        controller.publish_and_wait(p.desired_topic("dev-b"), b"for b", retain=True)
        controller.publish_and_wait(p.transfer_chunk_topic("dev-b"), b"chunk for b")
        controller.publish_and_wait(p.desired_topic("dev-a"), b"for a", retain=True)
        assert own.get(timeout=5) == (p.desired_topic("dev-a"), b"for a")
        time.sleep(0.3)  # the marker for A arrived; anything for B would have been queued before it
        assert other.empty() and wild.empty(), (other_granted, wild_granted)
        # B, with its own password, does read its own desired state.
        b = _link(broker, "dev-b", files.passwords["dev-b"])
        try:
            granted, inbox = _collect(b, p.desired_topic("dev-b"))
            assert inbox.get(timeout=5) == (p.desired_topic("dev-b"), b"for b")
        finally:
            b.stop()
    finally:
        a.stop()
        controller.stop()


def test_wrong_password_and_unknown_device_are_refused(secured):
    broker, files = secured
    with pytest.raises(DeviceError, match="cannot connect"):
        _link(broker, "dev-a", files.passwords["dev-b"], client_id="acl-wrong").stop()
    with pytest.raises(DeviceError, match="cannot connect"):
        _link(broker, "dev-z", "guess", client_id="acl-unknown").stop()


def test_password_file_matches_mosquitto_passwd_format(tmp_path):
    line = broker_config.password_hash("secret", salt=b"0123456789ab")
    _, algo, iterations, salt, digest = line.split("$")
    assert (algo, iterations) == ("7", "101")
    expected = hashlib.pbkdf2_hmac("sha512", b"secret", base64.b64decode(salt), 101, 64)
    assert base64.b64decode(digest) == expected
    # Mosquitto's own tool reads our file and keeps our hash when it updates another user.
    files = broker_config.write_broker_config(tmp_path, ["dev-a"], port=None)
    ours = files.passwd.read_text()
    subprocess.run(["/usr/bin/mosquitto_passwd", "-b", str(files.passwd), "extra", "pw"], check=True)
    assert set(ours.splitlines()) <= set(files.passwd.read_text().splitlines())


def test_rerun_keeps_passwords_and_rejects_bad_ids(tmp_path):
    first = broker_config.write_broker_config(tmp_path, ["dev-a"])
    second = broker_config.write_broker_config(tmp_path, ["dev-a", "dev-b"])
    assert second.passwords["dev-a"] == first.passwords["dev-a"] and "dev-b" in second.passwords
    assert oct(second.credentials.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(UsageError, match="lowercase"):
        broker_config.write_broker_config(tmp_path, ["Dev/B"])
