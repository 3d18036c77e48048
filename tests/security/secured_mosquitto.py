"""Debian's Mosquitto started with exactly the config `origami broker config` writes.

Started as root (when the tests run as root), it drops privileges to user mosquitto before reading
the password file, the ACL file and the TLS key, as Debian's service does. The broker directory
lives under a searchable /tmp directory: pytest's own temporary tree is private to its user.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from controller.devices.broker_config import BrokerFiles
from controller.devices.broker_config import write_broker_config
from tests.conftest import free_port
from tests.conftest import run_mosquitto
from tests.conftest import stop_mosquitto
from wire.mqtt import BrokerConnection
from wire.mqtt import TlsOptions


@dataclass
class SecuredBroker:
    files: BrokerFiles
    port: int
    process: subprocess.Popen
    log: Path
    ca_file: str | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.ca_file else 'mqtt'}://127.0.0.1:{self.port}"

    def connection(self, account: str | None = None, password: str | None = None) -> BrokerConnection:
        """As `account` with its own password (from credentials.json) unless `password` is given."""
        tls = TlsOptions(ca_file=self.ca_file) if self.ca_file else None
        if account is None:
            return BrokerConnection.parse(self.url, tls=tls)
        return BrokerConnection.parse(self.url, username=account,
                                      password=password if password is not None else self.files.passwords[account],
                                      tls=tls)


@dataclass(frozen=True)
class TlsMaterial:
    ca_file: str
    cert_file: str
    key_file: str


def write_tls_material(directory: Path) -> TlsMaterial:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it; the key readable
    by user mosquitto (as a deployment does: `chgrp mosquitto key.pem && chmod 640 key.pem`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "origami test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    paths = TlsMaterial(str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key"))
    Path(paths.ca_file).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(paths.cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(paths.key_file).write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    os.chmod(paths.key_file, 0o640)
    if os.geteuid() == 0:
        os.chown(paths.key_file, 0, pwd.getpwnam("mosquitto").pw_gid)
    return paths


def searchable_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="origami-broker-", dir="/tmp"))
    directory.chmod(0o755)
    return directory


def start_generated(files: BrokerFiles, port: int, ca_file: str | None = None) -> SecuredBroker:
    log = files.config.parent / "mosquitto.log"
    return SecuredBroker(files, port, run_mosquitto(files.config, port, log), log, ca_file)


@contextmanager
def generated_mosquitto(devices: list[str], *, gateways: dict[str, list[str]] | None = None,
                        tls: bool = False, tenants: dict[str, str] | None = None,
                        namespaces: tuple[str, ...] = ()) -> Iterator[SecuredBroker]:
    """Write the broker directory with `origami broker config`'s code and run Mosquitto on it."""
    root = searchable_directory()
    try:
        material = write_tls_material(root / "tls") if tls else None
        port = free_port()
        files = write_broker_config(root / "broker", devices, gateways=gateways, port=port, host="127.0.0.1",
                                    tls_cert=material and material.cert_file, tls_key=material and material.key_file,
                                    tenants=tenants, namespaces=namespaces)
        assert files.notes == (), files.notes   # every file Mosquitto needs is readable by the user it drops to
        broker = start_generated(files, port, material and material.ca_file)
        try:
            yield broker
        finally:
            stop_mosquitto(broker)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
