"""The broker's topic rules for an Origami fleet: what each account may read and write.

One policy, two brokers: `fleet_rules` gives the rules, `acl_text` writes them as a Mosquitto
`acl_file`, and `AccessList` evaluates that same file's text with Mosquitto's semantics for the
embedded amqtt broker. Each account gets the least it needs:
- a device (user name = device id): write its own report channels and split requests, read its
  own desired state, transfer replies, collect requests and split replies (`pattern` lines, %u);
- a gateway: the same, for itself and for each board it carries;
- the controller: read every device's reports, write desired states, transfers and collect requests,
  and the key announcement (`origami/v1/keys`), which every account may read; and read the reports
  through an MQTT 5 shared subscription (`$share/GROUP/...`, any group: replicas split them);
- the collector: read samples (shared too), write Warning events about rejected samples;
- a split worker: read split requests, write split replies.

With tenants (`accounts.tenants` names a device's tenant), a tenant's devices live under
`origami/v1/t/TENANT/...` (wire.topics): there is no device pattern line then (it would give every
device its id's topics in every namespace), but one block per device with its own tenant's topics
only, so a device of tenant A can neither read nor write anything of tenant B, nor pose as a device
of the default tenant. The controller and the collector have one account per tenant
(`controller-TENANT`, `collector-TENANT`), each with its tenant's namespace only.

Shared subscriptions: a device that joined the controllers' share group would be handed a share of
the reports and, not allowed to read them, drop them. The `$share/+/...` rules name who may join;
brokers that check subscriptions against the ACL (EMQX, HiveMQ, Mosquitto's dynamic-security plugin,
`AccessList` here) refuse anyone else. Mosquitto's `acl_file` checks deliveries only, never
subscriptions (docs/security.md, "Shared subscriptions"): there the group name must be a secret.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller.devices.accounts import Accounts
from specs.v1alpha1.protocol import DEVICE_PUBLISHES
from specs.v1alpha1.protocol import DEVICE_READS
from specs.v1alpha1.protocol import device_topic
from specs.v1alpha1.protocol import keys_topic
from specs.v1alpha1.split import split_reply_topic
from specs.v1alpha1.split import split_request_topic
from wire.mqtt import shared_filter
from wire.topics import into_namespace

READ, WRITE, READWRITE, DENY = "read", "write", "readwrite", "deny"
CONTROLLER_WRITES = tuple(channel for channel in DEVICE_READS if channel != "split/reply")


@dataclass(frozen=True)
class AclRule:
    access: str              # read, write, readwrite or deny
    topic: str               # an MQTT filter; in patterns %u is the user name and %c the client id
    user: str | None = None  # None: a pattern line, for every user; "": anonymous clients


def _device_rules(device: str, user: str | None, tenant: str | None = None) -> list[AclRule]:
    rules = [AclRule(WRITE, device_topic(device, channel), user) for channel in DEVICE_PUBLISHES]
    rules.append(AclRule(WRITE, split_request_topic("+", device), user))
    rules += [AclRule(READ, device_topic(device, channel), user) for channel in DEVICE_READS]
    rules.append(AclRule(READ, keys_topic(), user))
    return [AclRule(r.access, into_namespace(r.topic, tenant), r.user) for r in rules]


def _service_rules(accounts: Accounts, tenant: str) -> list[AclRule]:
    controller, collector = accounts.controller_of(tenant), accounts.collector_of(tenant)
    rules = [AclRule(READ, device_topic("+", channel), controller) for channel in DEVICE_PUBLISHES]
    rules += [AclRule(WRITE, device_topic("+", channel), controller) for channel in CONTROLLER_WRITES]
    rules.append(AclRule(WRITE, keys_topic(), controller))
    rules += [AclRule(READ, device_topic("+", "samples"), collector),
              AclRule(WRITE, device_topic("+", "events"), collector)]
    rules = [AclRule(r.access, into_namespace(r.topic, tenant), r.user) for r in rules]
    # the same reads through a shared subscription of any group: for controller accounts only
    return rules + [AclRule(READ, shared_filter("+", r.topic), r.user) for r in rules if r.access == READ]


def fleet_rules(accounts: Accounts, devices: Iterable[str] = ()) -> list[AclRule]:
    """The rules of every account; `devices` (the enrolled device accounts) matter only with tenants."""
    rules = _service_rules(accounts, "default")
    for tenant in accounts.namespaces:
        rules += _service_rules(accounts, tenant)
    for worker in accounts.workers:
        rules += [AclRule(READ, split_request_topic("+", "+"), worker), AclRule(WRITE, split_reply_topic("+"), worker)]
    for gateway, boards in sorted(accounts.gateways.items()):
        for board in sorted(boards):
            rules += _device_rules(board, gateway)
    if not accounts.tenants and not accounts.namespaces:
        return rules + _device_rules("%u", None)
    for device in sorted(devices):
        rules += _device_rules(device, device, accounts.tenant_of(device))
    return rules


def acl_text(rules: Iterable[AclRule]) -> str:
    lines = ["# Generated by `origami broker config`: every account logs in with its own user name; devices",
             "# and gateways use their device id. Pattern lines (%u = user name) apply to every account."]
    current: object = ()
    for rule in sorted(rules, key=lambda r: r.user is not None):   # patterns first, then each user's block
        if rule.user is None:
            lines.append(f"pattern {rule.access} {rule.topic}")
            continue
        if rule.user != current:
            current = rule.user
            lines += ["", f"user {rule.user}"]
        lines.append(f"topic {rule.access} {rule.topic}")
    return "\n".join(lines) + "\n"


def parse_acl(text: str) -> list[AclRule]:
    """Mosquitto's acl_file syntax: `user NAME`, `topic [ACCESS] FILTER`, `pattern [ACCESS] FILTER`."""
    rules: list[AclRule] = []
    user = ""   # topic lines before the first `user` line are for anonymous clients
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        rest = rest.strip()
        if keyword == "user":
            user = rest
        elif keyword in ("topic", "pattern") and rest:
            access, _, topic = rest.partition(" ")
            if access not in (READ, WRITE, READWRITE, DENY) or not topic.strip():
                access, topic = READWRITE, rest
            rules.append(AclRule(access, topic.strip(), user if keyword == "topic" else None))
    return rules


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (`+` one level, `#` the rest)."""
    levels, parts = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(parts) or level not in ("+", parts[index]):
            return False
    return len(levels) == len(parts)


def filter_within(requested: str, allowed: str) -> bool:
    """Whether every topic `requested` can match is matched by `allowed` (a subscription covered by a rule)."""
    levels, wanted = allowed.split("/"), requested.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(wanted) or wanted[index] == "#" or (level != "+" and wanted[index] != level):
            return False
    return len(levels) == len(wanted)


class AccessList:
    """Evaluates rules as Mosquitto does: a user may do what one of its own `topic` lines or one of
    the `pattern` lines (with %u and %c filled in) allows, and nothing a `deny` line names."""

    def __init__(self, rules: Iterable[AclRule]) -> None:
        self._rules = list(rules)

    def _applicable(self, user: str | None, client_id: str) -> list[AclRule]:
        if user is None:
            return [r for r in self._rules if r.user == ""]
        unsafe = any(c in user or c in client_id for c in "+#/")   # Mosquitto refuses such names in patterns
        out = [r for r in self._rules if r.user == user]
        if not unsafe:
            out += [AclRule(r.access, r.topic.replace("%u", user).replace("%c", client_id))
                    for r in self._rules if r.user is None]
        return out

    def _allows(self, user: str | None, client_id: str, access: str, topic: str, within: bool) -> bool:
        allowed = False
        for rule in self._applicable(user, client_id):
            matched = filter_within(topic, rule.topic) if within else topic_matches(rule.topic, topic)
            if rule.access == DENY and matched:
                return False
            if matched and rule.access in (access, READWRITE):
                allowed = True
        return allowed

    def may_publish(self, user: str | None, client_id: str, topic: str) -> bool:
        return self._allows(user, client_id, WRITE, topic, within=False)

    def may_receive(self, user: str | None, client_id: str, topic: str) -> bool:
        return self._allows(user, client_id, READ, topic, within=False)

    def may_subscribe(self, user: str | None, client_id: str, topic_filter: str) -> bool:
        """Stricter than delivery checks alone: the whole filter must lie within readable topics."""
        return self._allows(user, client_id, READ, topic_filter, within=True)
