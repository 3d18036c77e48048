"""A small paho-mqtt wrapper: one connection with credentials, TLS, last will, reconnect,
per-filter handlers that survive reconnects, and a way to wait for the broker's answers.
`BrokerConnection` says how an account reaches the broker; every MQTT client is built from one.

Measured on this machine (publisher and subscriber both paho 2.2, QoS 1, Mosquitto 2.0):
5,000 x 4 KiB in 1.5-2.4 s (2,000-3,400 msg/s), 5,000 x 100 B QoS 0 in 0.4 s (13,000 msg/s),
1,000 x 64 KiB in 0.34 s (2,900 msg/s, 190 MB/s). The cost is per message (Python work in
paho's packet parser and callbacks), not per byte, which is why the protocol moves artifacts in
64 KiB chunks. A much lower rate (hundreds/s) is what one sees when the subscriber's callback
does slow work on paho's network thread, or when the broker's per-client inflight window (20
by default) waits on PUBACKs the busy thread has not sent: handlers here must stay short and
hand slow work (install, health check) to another thread.
"""
from __future__ import annotations

import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from specs.errors import DeviceError
from specs.errors import UsageError
from wire.logs import get_logger
from wire.secret_files import read_first_line_text
from wire.topics import into_namespace
from wire.topics import is_tenant_name
from wire.topics import out_of_namespace

log = get_logger("devices.mqtt")

Handler = Callable[[str, bytes], None]   # (topic, payload)
SHARE_GROUP_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"   # no '/', '+' or '#': one topic level
DEFAULT_SHARE_GROUP = "origami"   # controller replicas' group (docs/scale.md "MQTT at scale")


def shared_filter(group: str, topic_filter: str) -> str:
    """The MQTT 5 shared subscription of `group` to `topic_filter`: the broker hands each matching
    message to one member of the group instead of to every subscriber."""
    return f"$share/{group}/{topic_filter}"


@dataclass(frozen=True)
class TlsOptions:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False               # skip host name checks (test brokers with self-signed certs)


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True
    qos: int = 1


def _redacted(url: str) -> str:
    """The URL without its user info: what errors and logs may show."""
    scheme, sep, rest = url.rpartition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def _parse_url(url: str):
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname or port == -1:
        raise UsageError(f"broker URL '{_redacted(url)}' must look like mqtt://host:1883 or mqtts://host:8883 "
                         "(user info allowed: mqtt://user:password@host:1883)")
    return parsed, port


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """`mqtt://host:1883` or `mqtts://host:8883` (port optional, user info ignored)."""
        parsed, port = _parse_url(url)
        tls = parsed.scheme == "mqtts"
        return cls(parsed.hostname, port or (8883 if tls else 1883), tls)


ENVIRONMENT = {   # what `BrokerConnection.resolve` reads when an option is not given
    "url": "ORIGAMI_BROKER", "username": "ORIGAMI_BROKER_USERNAME", "password": "ORIGAMI_BROKER_PASSWORD",
    "password_file": "ORIGAMI_BROKER_PASSWORD_FILE", "ca_file": "ORIGAMI_BROKER_CA",
    "cert_file": "ORIGAMI_BROKER_CERT", "key_file": "ORIGAMI_BROKER_KEY", "tenant": "ORIGAMI_TENANT",
}
DEFAULT_URL = "mqtt://127.0.0.1:1883"


@dataclass(frozen=True)
class BrokerConnection:
    """How one account reaches the broker: address, user name, password and TLS. Every MQTT client of
    Origami is built from one. The password never appears in repr(), str(), logs or errors.

    `tenant`: whose device namespace the account lives in. A client of a tenant other than `default`
    speaks the protocol's topics (`origami/v1/devices/...`) and the link moves them under
    `origami/v1/t/{tenant}/...` on the broker, where that tenant's ACLs are (a client-side mount point)."""

    address: BrokerAddress
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsOptions | None = None
    tenant: str | None = None

    @classmethod
    def parse(cls, url: str, *, username: str | None = None, password: str | None = None,
              tls: TlsOptions | None = None) -> BrokerConnection:
        """From a URL, whose user info (`mqtt://user:password@host:1883`, percent-encoded) gives the
        credentials unless `username`/`password` are passed."""
        parsed, _ = _parse_url(url)
        if username is None and parsed.username:
            username = unquote(parsed.username)
            if password is None and parsed.password is not None:
                password = unquote(parsed.password)
        return cls(BrokerAddress.parse(url), username, password, tls)

    @classmethod
    def of(cls, broker: str | BrokerConnection) -> BrokerConnection:
        return broker if isinstance(broker, BrokerConnection) else cls.parse(broker)

    @classmethod
    def resolve(cls, url: str | None = None, *, username: str | None = None, password_file: str | None = None,
                ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                environ: Mapping[str, str] | None = None, default_url: str = DEFAULT_URL) -> BrokerConnection:
        """Options first, then the environment (`ENVIRONMENT`), then the URL's user info. A password
        comes from a file or `$ORIGAMI_BROKER_PASSWORD`, never from a command-line option."""
        env = os.environ if environ is None else environ
        url = url or env.get(ENVIRONMENT["url"]) or default_url
        username = username or env.get(ENVIRONMENT["username"]) or None
        password_file = password_file or env.get(ENVIRONMENT["password_file"]) or None
        password = read_password_file(password_file) if password_file else env.get(ENVIRONMENT["password"]) or None
        files = {name: value or env.get(ENVIRONMENT[name]) or None
                 for name, value in (("ca_file", ca_file), ("cert_file", cert_file), ("key_file", key_file))}
        if bool(files["cert_file"]) != bool(files["key_file"]):
            raise UsageError("a client certificate needs both --broker-cert and --broker-key")
        for name, path in files.items():
            if path and not Path(path).is_file():
                raise UsageError(f"--broker-{name.split('_')[0]} {path}: no such file")
        tls = TlsOptions(files["ca_file"], files["cert_file"], files["key_file"]) if any(files.values()) else None
        tenant = env.get(ENVIRONMENT["tenant"]) or None
        if tenant is not None and not is_tenant_name(tenant):
            raise UsageError(f"${ENVIRONMENT['tenant']}: a tenant name is 1-32 lower-case letters, digits and '-'")
        return replace(cls.parse(url, username=username, password=password, tls=tls), tenant=tenant)

    def in_tenant(self, tenant: str | None) -> BrokerConnection:
        """The same account in `tenant`'s device namespace."""
        return replace(self, tenant=tenant)

    @property
    def url(self) -> str:
        """`mqtt://host:port` or `mqtts://host:port`, without credentials."""
        host = f"[{self.address.host}]" if ":" in self.address.host else self.address.host
        return f"{'mqtts' if self.address.tls else 'mqtt'}://{host}:{self.address.port}"

    @property
    def uses_tls(self) -> bool:
        return self.address.tls or self.tls is not None

    def as_user(self, username: str | None, password: str | None) -> BrokerConnection:
        """The same broker and TLS settings for another account (e.g. one virtual device each)."""
        return replace(self, username=username, password=password)

    def configure(self, client: mqtt.Client) -> None:
        """Credentials and TLS on a paho client that is not connected yet."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.uses_tls:
            tls = self.tls or TlsOptions()
            client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file,
                           cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(tls.insecure)

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return self.url.replace("://", f"://{user}", 1)


def read_password_file(path: str | Path) -> str:
    """The first line of a password file (the rest is ignored); errors never show its content."""
    return read_first_line_text(path, "broker password file")


class MqttLink:
    """One MQTT connection. Handlers run on paho's network thread: keep them short."""

    def __init__(self, client_id: str, broker: str | BrokerConnection, *, username: str | None = None,
                 password: str | None = None, tls: TlsOptions | None = None, will: Will | None = None,
                 keepalive: int = 30, on_connected: Callable[[MqttLink], None] | None = None,
                 share_group: str | None = None) -> None:
        """`broker` is a URL or a BrokerConnection; `username`, `password` and `tls`, when given,
        replace the connection's own (a shorthand for tests and tools). `share_group`: speak MQTT 5
        and make `subscribe(..., shared=True)` a `$share/GROUP/...` subscription (docs/scale.md)."""
        if share_group is not None and not re.fullmatch(SHARE_GROUP_PATTERN, share_group):
            raise UsageError("a share group is 1-64 letters, digits, '_' and '-' (one MQTT topic level)")
        connection = BrokerConnection.of(broker)
        if username is not None or password is not None:
            connection = connection.as_user(username, password)
        if tls is not None:
            connection = replace(connection, tls=tls)
        self.client_id = client_id
        self.connection = connection
        self.tenant = connection.tenant
        self.address = connection.address
        self._on_connected = on_connected
        self._handlers: dict[str, Handler] = {}
        self._subacks: dict[int, tuple[threading.Event, list]] = {}
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.connections = 0                 # grows on every (re)connect: tells stale messages apart
        self.connect_failure: str | None = None
        self.share_group = share_group
        self.retained_seen = 0               # retained messages delivered (only a normal subscription gets them)
        self._last_retained = 0.0
        if share_group is None:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                                 protocol=mqtt.MQTTv311)
        else:  # shared subscriptions are MQTT 5; paho takes clean start on connect there, not here
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        connection.configure(client)
        if will is not None:
            client.will_set(into_namespace(will.topic, self.tenant), will.payload, qos=will.qos, retain=will.retain)
        client.reconnect_delay_set(min_delay=0.2, max_delay=10)
        client.max_inflight_messages_set(64)    # our own QoS 1 publishes in flight (chunks in a window)
        client.max_queued_messages_set(0)       # never drop what we publish while reconnecting
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_subscribe = self._subscribed
        client.on_unsubscribe = self._subscribed   # the same waiters, by message id
        client.on_message = self._unrouted
        self._client = client
        self._keepalive = keepalive

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float | None = 10.0) -> MqttLink:
        """Connect in the background and, unless timeout is None, wait for the broker to accept."""
        if self.share_group is None:
            self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive)
        else:  # a fresh session each time, as MQTT 3.1.1's clean session: subscriptions come from _connected
            self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive,
                                       clean_start=True)
        self._client.loop_start()
        if timeout is not None:
            self.wait_connected(timeout)
        return self

    def wait_connected(self, timeout: float) -> None:
        """Wait for CONNACK; a refusal (bad credentials) fails at once and stops reconnecting."""
        deadline = time.monotonic() + timeout
        while not self.connected.wait(0.05) and self.connect_failure is None and time.monotonic() < deadline:
            pass
        if self.connected.is_set():
            # the subscriptions made on connect are in place only once acknowledged: a message
            # published to them before the SUBACK would be lost
            with self._lock:
                pending = [done for done, _ in self._subacks.values()]
            for done in pending:
                done.wait(max(0.0, deadline - time.monotonic()))
            return
        if not self.connected.is_set():
            if self.connect_failure is not None:
                self.stop()
            reason = self.connect_failure or "no answer"
            hint = " and the TLS CA (--broker-ca) and server name" if self.connection.uses_tls else ""
            raise DeviceError(f"{self.client_id}: cannot connect to MQTT broker "
                              f"{self.address.host}:{self.address.port} within {timeout:.0f} s ({reason}); "
                              f"check the URL, that the broker runs, the credentials{hint}")

    def stop(self) -> None:
        """Disconnect cleanly (the broker does not publish the last will)."""
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def drop(self) -> None:
        """Cut the TCP connection without MQTT DISCONNECT, as a lost link would (fault injection)."""
        sock = self._client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- messaging --------------------------------------------------------------------------
    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1, timeout: float = 5.0,
                  shared: bool = False) -> int:
        """Route messages on `topic_filter` to `handler`; wait for SUBACK and return the granted QoS
        (0x80 when the broker refused the subscription, e.g. by ACL). Restored after reconnects.
        `shared` (with a share group): one member of the group gets each message, not every one."""
        topic_filter = into_namespace(topic_filter, self.tenant)
        # the broker delivers a shared subscription's messages under their own topic: route by the plain filter
        wire_filter = shared_filter(self.share_group, topic_filter) if shared and self.share_group else topic_filter
        with self._lock:
            self._handlers[wire_filter] = handler
        self._client.message_callback_add(topic_filter, self._route(handler))
        if not self.connected.is_set():
            return qos  # subscribed by _connected once the link is up
        return self._subscribe_now(wire_filter, qos, timeout)

    def reread_retained(self, topic_filters: list[str], *, quiet_s: float = 0.5, limit_s: float = 10.0) -> int:
        """Read the retained messages on `topic_filters` once, through the handlers already routed for
        them: a shared subscription never gets retained messages (MQTT 5, 4.8.2), so a member that
        needs the current retained state (at start, on taking a fleet over) subscribes normally for
        a moment. Waits (bounded by `limit_s`) until none arrived for `quiet_s`, then unsubscribes;
        returns how many arrived. Live messages seen meanwhile reach the handler twice (once through
        the shared subscription): handlers must be idempotent."""
        wire = [into_namespace(f, self.tenant) for f in topic_filters]
        before, started = self.retained_seen, time.monotonic()
        self._last_retained = started
        for topic_filter in wire:
            if self._subscribe_now(topic_filter, 1, max(0.1, limit_s)) >= 0x80:
                raise DeviceError(f"{self.client_id}: the broker refused a subscription to {topic_filter}")
        while time.monotonic() - started < limit_s and time.monotonic() - self._last_retained < quiet_s:
            time.sleep(0.02)
        self._unsubscribe_now(wire, max(0.1, limit_s))
        seen = self.retained_seen - before
        log.info("retained state re-read", extra={"client": self.client_id, "messages": seen,
                                                  "seconds": round(time.monotonic() - started, 3)})
        return seen

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self._client.publish(into_namespace(topic, self.tenant), payload, qos=qos, retain=retain)

    def publish_and_wait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                         timeout: float = 10.0) -> None:
        info = self.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise DeviceError(f"{self.client_id}: publishing to {topic} was not acknowledged within {timeout:.0f} s")

    # --- paho callbacks (network thread) ---------------------------------------------------
    def _subscribe_now(self, topic_filter: str, qos: int, timeout: float | None) -> int:
        done, granted = threading.Event(), []
        with self._lock:  # held until the mid is registered, so a fast SUBACK still finds its waiter
            result, mid = self._client.subscribe(topic_filter, qos)
            if result != mqtt.MQTT_ERR_SUCCESS:
                return 0x80
            self._subacks[mid] = (done, granted)
        if timeout is None or not done.wait(timeout):
            return qos if timeout is None else 0x80
        return granted[0] if granted else 0x80

    def _unsubscribe_now(self, topic_filters: list[str], timeout: float) -> None:
        """Unsubscribe and wait (bounded) for UNSUBACK: until then the broker still delivers to the
        subscription, so a caller that goes on at once would see live messages twice."""
        done: threading.Event = threading.Event()
        with self._lock:
            result, mid = self._client.unsubscribe(topic_filters)
            if result != mqtt.MQTT_ERR_SUCCESS:
                return
            self._subacks[mid] = (done, [])
        if not done.wait(timeout):
            log.warning("unsubscribe not acknowledged", extra={"client": self.client_id, "filters": topic_filters})

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.connect_failure = str(reason_code)
            log.warning("broker refused connection", extra={"client": self.client_id, "reason": str(reason_code)})
            return
        with self._lock:
            filters = list(self._handlers)
        for topic_filter in filters:
            self._subscribe_now(topic_filter, 1, None)
        self.connections += 1
        self.connected.set()
        log.info("connected", extra={"client": self.client_id, "broker": f"{self.address.host}:{self.address.port}"})
        if self._on_connected is not None:
            self._on_connected(self)

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.info("disconnected", extra={"client": self.client_id, "reason": str(reason_code)})

    def _subscribed(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._lock:
            waiter = self._subacks.pop(mid, None)
        if waiter is not None:
            waiter[1].extend(rc.value for rc in reason_codes)
            waiter[0].set()

    def _route(self, handler: Handler):
        def on_message(client, userdata, message) -> None:
            if message.retain:
                self.retained_seen += 1
                self._last_retained = time.monotonic()
            try:
                handler(out_of_namespace(message.topic, self.tenant), message.payload)
            except Exception:  # a bad message must never kill the network thread
                log.exception("handler failed", extra={"client": self.client_id, "topic": message.topic})
        return on_message

    def _unrouted(self, client, userdata, message) -> None:
        log.debug("message without handler", extra={"client": self.client_id, "topic": message.topic})
