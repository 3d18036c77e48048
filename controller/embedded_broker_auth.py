"""What makes the embedded amqtt broker (0.12) hold the same line as the generated Mosquitto config.

- `PasswordFileAuth`: an amqtt auth plugin that checks the generated `passwd` file's `$7$` hashes
  (amqtt's own file plugin reads only argon2/sha512-crypt), re-read when the file changes.
- `AclFileTopics`: an amqtt topic plugin that enforces the generated `acl` file with Mosquitto's
  semantics (`broker_acl.AccessList`), for publishing, subscribing and delivery alike.
- `AccountBroker`: amqtt's Broker with two fixes. (1) amqtt looks up, takes over or deletes the
  session of the CONNECT's client id *before* it authenticates, so anyone could kick the
  controller off by connecting with its client id; here, on a secured broker, the client id is
  replaced by the account name once the password checks out, and by a throwaway id otherwise
  (Mosquitto's `use_username_as_clientid`). (2) On every connect amqtt sends the new client the
  retained messages of every filter *anyone* subscribed to; here only the client's own filters.
Both fixes override private methods of amqtt 0.12 (pinned in pyproject.toml);
tests/security/test_embedded_broker.py shows the stock behaviour and ours.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError
from amqtt.errors import MQTTError
from amqtt.errors import NoDataError
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.plugins.base import BaseTopicPlugin
from amqtt.session import Session

from controller.devices.accounts import verify_password
from controller.devices.broker_acl import AccessList
from controller.devices.broker_acl import parse_acl
from wire.logs import get_logger

log = get_logger("embedded_broker")
MAX_FILE_BYTES = 16 * 1024 * 1024


class _WatchedFile:
    """A file parsed again whenever its size or modification time changes."""

    def __init__(self, path: str, parse) -> None:
        self.path = Path(path)
        self._parse = parse
        self._stamp: tuple[int, int] | None = None
        self._value = parse("")

    def value(self):
        try:
            info = os.stat(self.path)
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                with open(self.path, "rb") as handle:
                    text = handle.read(MAX_FILE_BYTES).decode("utf-8")
                self._value, self._stamp = self._parse(text), stamp
        except (OSError, UnicodeDecodeError) as err:   # keep the last good rules: never fail open
            log.warning("embedded broker cannot read a security file", extra={"file": self.path.name,
                                                                              "error": type(err).__name__})
        return self._value


def _parse_passwd(text: str) -> dict[str, str]:
    users = {}
    for line in text.splitlines():
        user, sep, hashed = line.strip().partition(":")
        if sep and user and not user.startswith("#"):
            users[user] = hashed
    return users


class PasswordFileAuth(BaseAuthPlugin):
    @dataclass
    class Config:
        password_file: str = ""

    def __init__(self, context) -> None:
        super().__init__(context)
        self._users = _WatchedFile(self.config.password_file, _parse_passwd)

    async def authenticate(self, *, session: Session) -> bool:
        if not session or not session.username:
            return False
        hashed = self._users.value().get(session.username)
        return hashed is not None and verify_password(session.password or "", hashed)


class AclFileTopics(BaseTopicPlugin):
    @dataclass
    class Config:
        acl_file: str = ""

    def __init__(self, context) -> None:
        super().__init__(context)
        self._acl = _WatchedFile(self.config.acl_file, lambda text: AccessList(parse_acl(text)))

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        if session is None or not topic:
            return False
        acl: AccessList = self._acl.value()
        user, client_id = session.username, session.client_id or ""
        if action == Action.PUBLISH:
            return acl.may_publish(user, client_id, topic)
        if action == Action.SUBSCRIBE:
            return acl.may_subscribe(user, client_id, topic)
        return acl.may_receive(user, client_id, topic)


class AccountBroker(Broker):
    """amqtt's Broker; `secured` turns on the account-bound client ids."""

    secured = False

    async def _initialize_client_session(self, reader, writer, remote_address, remote_port):
        # amqtt 0.12's method, with the client id settled before any session is looked up.
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(reader, writer, self.plugins_manager)
        except MQTTError as exc:
            await writer.close()
            raise MQTTError(exc) from exc
        except (AMQTTError, NoDataError) as exc:
            raise AMQTTError(exc) from exc
        if self.secured:
            if session.username and await self._authenticate(session, None):
                session.client_id = session.username
            else:   # refused a moment later by amqtt's own authentication; must touch no session
                session.client_id, session.clean_session = f"refused-{secrets.token_hex(8)}", True
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = f"anonymous-{secrets.token_hex(8)}"
            session.parent = 0
        elif session.client_id in self._sessions:
            existing, _ = self._sessions[session.client_id]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive", "username", "password"):
                setattr(existing, name, getattr(session, name))
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session

    async def _publish_retained_messages_for_subscription(self, subscription, session) -> None:
        # amqtt 0.12 calls this on every connect for each filter anyone subscribed to: only the client's own.
        subscribers = self._subscriptions.get(subscription[0], ())
        if any(other.client_id == session.client_id for other, _ in subscribers):
            await super()._publish_retained_messages_for_subscription(subscription, session)
