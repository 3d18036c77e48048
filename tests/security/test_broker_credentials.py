"""Every MQTT client of the product authenticates the same way (BrokerConnection, the shared
--broker-* flags, or the environment), and a password never shows in a log, an error or a repr."""
from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import subprocess
import sys

import pytest

from controller.cli.broker_flags import add_broker_flags
from controller.cli.broker_flags import connection_from_args
from controller.cli.broker_flags import open_controller_broker
from specs.errors import DeviceError
from specs.errors import UsageError
from specs.v1alpha1 import protocol as p
from tests.conftest import ROOT
from tests.security.secured_mosquitto import generated_mosquitto
from wire.mqtt import BrokerConnection
from wire.mqtt import MqttLink

SECRET = "s3cr:t/p@ss"


def parse(argv: list[str], **kwargs) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_broker_flags(parser, **kwargs)
    return parser.parse_args(argv)


def test_user_info_in_the_url_is_the_login_and_is_never_shown():
    connection = BrokerConnection.parse("mqtts://dev-a:s3cr%3At%2Fp%40ss@broker.example:8884")
    assert (connection.username, connection.password) == ("dev-a", SECRET)
    assert connection.address.tls and connection.address.port == 8884 and connection.uses_tls
    assert SECRET not in repr(connection) and "s3cr" not in str(connection) and "s3cr" not in connection.url
    assert str(connection) == "mqtts://dev-a@broker.example:8884"
    with pytest.raises(UsageError) as bad:
        BrokerConnection.parse("http://dev-a:hunter2@broker.example")
    assert "hunter2" not in str(bad.value) and "broker.example" in str(bad.value)


def test_flags_win_over_the_environment_which_wins_over_the_url(tmp_path, monkeypatch):
    password_file = tmp_path / "password"
    password_file.write_text(f"{SECRET}\nignored second line\n")
    monkeypatch.setenv("ORIGAMI_BROKER", "mqtt://env-user:env-pw@env-host:1999")
    assert connection_from_args(parse([])).password == "env-pw"
    monkeypatch.setenv("ORIGAMI_BROKER_USERNAME", "from-env")
    monkeypatch.setenv("ORIGAMI_BROKER_PASSWORD", "pw-from-env")
    env = connection_from_args(parse([]))
    assert (env.address.host, env.username, env.password) == ("env-host", "from-env", "pw-from-env")
    flags = connection_from_args(parse(["--broker", "mqtt://flag-host", "--broker-username", "dev-a",
                                        "--broker-password-file", str(password_file)]))
    assert (flags.address.host, flags.address.port, flags.username, flags.password) == \
        ("flag-host", 1883, "dev-a", SECRET)


def test_a_device_logs_in_as_its_id_when_only_a_password_is_given(tmp_path, monkeypatch):
    monkeypatch.delenv("ORIGAMI_BROKER", raising=False)
    monkeypatch.setenv("ORIGAMI_BROKER_PASSWORD", "pw")
    assert connection_from_args(parse([]), default_username="rpi-7").username == "rpi-7"
    with pytest.raises(UsageError, match="needs a user name"):
        connection_from_args(parse([]))


def test_bad_password_files_and_tls_files_are_usage_errors_that_show_no_content(tmp_path):
    empty, secret = tmp_path / "empty", tmp_path / "secret"
    empty.write_text("\n")
    secret.write_text(SECRET)
    secret.chmod(0o000)
    for argv, message in [(["--broker-password-file", str(tmp_path / "missing")], "No such file"),
                          (["--broker-password-file", str(empty)], "first line is empty"),
                          (["--broker-ca", str(tmp_path / "ca.pem")], "no such file"),
                          (["--broker-cert", str(secret)], "needs both --broker-cert and --broker-key")]:
        with pytest.raises(UsageError, match=message) as error:
            connection_from_args(parse(["--broker-username", "x", *argv]))
        assert SECRET not in str(error.value)


def test_a_refused_login_logs_and_raises_without_the_password(caplog):
    with generated_mosquitto(["dev-a"]) as broker:
        caplog.set_level(logging.DEBUG, logger="origami")
        with pytest.raises(DeviceError) as error:
            MqttLink("dev-a", broker.connection("dev-a", password=SECRET)).start(5)
        assert SECRET not in str(error.value) and "Not authorized" in str(error.value)
        assert caplog.records and all(SECRET not in record.getMessage() and SECRET not in str(vars(record))
                                      for record in caplog.records)


def test_the_controller_logs_in_as_controller_and_collector_and_believes_only_enrolled_devices(tmp_path):
    with generated_mosquitto(["dev-a"]) as broker:
        registry = broker.files.config.parent
        args = parse(["--broker", broker.url, "--broker-registry", str(registry)], default_url=None, registry=True)
        controller = open_controller_broker(args, tmp_path)
        assert (controller.hub.username, controller.collector.username) == ("controller", "collector")
        assert controller.hub.password == broker.files.passwords["controller"]
        assert controller.enrollment("dev-a") and not controller.enrollment("dev-z")
        assert "1 enrolled device(s)" in controller.startup_line
        open_args = parse(["--broker", broker.url], default_url=None, registry=True)
        assert "enrollment is open" in open_controller_broker(open_args, tmp_path).startup_line


def test_with_no_broker_the_controller_uses_the_embedded_one_and_says_when_it_is_open(tmp_path, monkeypatch):
    monkeypatch.delenv("ORIGAMI_BROKER", raising=False)
    args = parse([], default_url=None, registry=True)
    opened = open_controller_broker(args, tmp_path / "open")
    try:
        assert opened.enrollment is None and "OPEN (development only)" in opened.startup_line
        assert opened.hub.username is None
    finally:
        opened.stop()
    from controller.devices.broker_config import write_broker_config

    write_broker_config(tmp_path / "secured" / "broker", ["dev-a"], port=None, run_as=None)
    secured = open_controller_broker(args, tmp_path / "secured")
    try:
        assert secured.hub.username == "controller" and secured.enrollment("dev-a")
        MqttLink("origami-controller", secured.hub).start(5).stop()
        MqttLink("origami-collector", secured.collector).start(5).stop()
    finally:
        secured.stop()


def test_origami_agent_connects_with_a_password_file_and_the_brokers_ca(tmp_path):
    with generated_mosquitto(["rpi-9"], tls=True) as broker:
        from controller.devices.signing import Signer
        from wire.manifests import PUBLIC_KEY_FILE

        Signer.load_or_create(tmp_path / "controller")
        password_file = tmp_path / "password"
        password_file.write_text(broker.files.passwords["rpi-9"] + "\n")
        controller = MqttLink("origami-controller", broker.connection("controller")).start(5)
        hellos: queue.Queue = queue.Queue()
        controller.subscribe(p.hello_topic("rpi-9"), lambda topic, payload: hellos.put(payload))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORIGAMI_BROKER")}
        agent = subprocess.Popen(
            [sys.executable, "-m", "controller.cli.main", "agent", "--id", "rpi-9", "--broker", broker.url,
             "--broker-password-file", str(password_file), "--broker-ca", broker.ca_file,
             "--public-key", str(tmp_path / "controller" / "keys" / PUBLIC_KEY_FILE),
             "--state-dir", str(tmp_path / "agent")],
            cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
        try:
            assert p.decode(p.Hello, hellos.get(timeout=60)).deviceId == "rpi-9"
        finally:
            agent.send_signal(signal.SIGTERM)
            _, err = agent.communicate(timeout=20)
            controller.stop()
        assert agent.returncode == 0, err
        assert broker.files.passwords["rpi-9"] not in err
