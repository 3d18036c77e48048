"""Topic names (re-exported from the protocol) plus the filters and parsing the controller needs."""
from __future__ import annotations

import re
from dataclasses import dataclass

from specs.v1alpha1.protocol import DEVICE_PUBLISHES
from specs.v1alpha1.protocol import DEVICE_READS
from specs.v1alpha1.protocol import TOPIC_ROOT
from specs.v1alpha1.protocol import desired_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import device_topic
from specs.v1alpha1.protocol import events_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import hello_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import keys_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import presence_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import samples_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import state_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import transfer_ack_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import transfer_chunk_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import transfer_offer_topic  # noqa: F401  (re-exported: one place to import topics from)
from specs.v1alpha1.protocol import transfer_request_topic  # noqa: F401  (re-exported: one place to import topics from)

_DEVICE_TOPIC = re.compile(rf"^{re.escape(TOPIC_ROOT)}/devices/([a-z0-9][a-z0-9-]*)/(.+)$")


@dataclass(frozen=True)
class TopicRef:
    device_id: str
    channel: str  # "hello", "state", "transfer/request", ...


def parse(topic: str) -> TopicRef | None:
    """Split a device topic into device id and channel; None for anything else."""
    match = _DEVICE_TOPIC.match(topic)
    return TopicRef(match.group(1), match.group(2)) if match else None


def all_devices(channel: str) -> str:
    """Subscription filter for one channel of every device, e.g. all hellos."""
    return f"{TOPIC_ROOT}/devices/+/{channel}"


def controller_subscriptions() -> list[str]:
    """What the controller listens to: everything devices publish."""
    return [all_devices(channel) for channel in DEVICE_PUBLISHES]


def device_subscriptions(device_id: str) -> list[str]:
    """What a device listens to: its own desired state and transfer replies."""
    return [device_topic(device_id, channel) for channel in DEVICE_READS]


# --- tenants: each tenant's devices live under their own root --------------------------------
DEFAULT_TENANT = "default"
TENANT_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"  # one topic level, a file name, a user-name part


def is_tenant_name(tenant: str) -> bool:
    return isinstance(tenant, str) and re.fullmatch(TENANT_PATTERN, tenant) is not None


def tenant_root(tenant: str | None) -> str:
    """`origami/v1` for the default tenant (today's topics), `origami/v1/t/{tenant}` for the others."""
    return TOPIC_ROOT if tenant in (None, "", DEFAULT_TENANT) else f"{TOPIC_ROOT}/t/{tenant}"


def into_namespace(topic: str, tenant: str | None) -> str:
    """A protocol topic (or filter) as it is on the broker for `tenant`'s clients."""
    root = tenant_root(tenant)
    if root == TOPIC_ROOT or not (topic == TOPIC_ROOT or topic.startswith(TOPIC_ROOT + "/")):
        return topic
    return root + topic[len(TOPIC_ROOT):]


def out_of_namespace(topic: str, tenant: str | None) -> str:
    """A broker topic of `tenant`'s namespace as the protocol names it (inverse of `into_namespace`)."""
    root = tenant_root(tenant)
    if root != TOPIC_ROOT and (topic == root or topic.startswith(root + "/")):
        return TOPIC_ROOT + topic[len(root):]
    return topic
