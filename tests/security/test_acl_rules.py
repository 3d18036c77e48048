"""The ACL file `origami broker config` writes, read back and evaluated as Mosquitto does (what the
embedded broker enforces): each account gets exactly its share."""
from __future__ import annotations

from controller.devices.accounts import Accounts
from controller.devices.broker_acl import AccessList
from controller.devices.broker_acl import acl_text
from controller.devices.broker_acl import fleet_rules
from controller.devices.broker_acl import parse_acl
from specs.v1alpha1 import protocol as p
from specs.v1alpha1.split import split_reply_topic
from specs.v1alpha1.split import split_request_topic

ACL = AccessList(parse_acl(acl_text(fleet_rules(Accounts(gateways={"gw-1": ("nano-1",)})))))


def test_a_device_writes_only_its_own_reports_and_reads_only_its_own_inbox():
    assert ACL.may_publish("dev-a", "dev-a", p.hello_topic("dev-a"))
    assert ACL.may_publish("dev-a", "dev-a", split_request_topic("0123456789abcdef", "dev-a"))
    assert not ACL.may_publish("dev-a", "dev-a", p.hello_topic("dev-b"))
    assert not ACL.may_publish("dev-a", "dev-a", p.desired_topic("dev-a"))
    assert not ACL.may_publish("dev-a", "dev-a", split_reply_topic("dev-a"))
    assert ACL.may_subscribe("dev-a", "dev-a", p.desired_topic("dev-a"))
    assert ACL.may_receive("dev-a", "dev-a", p.transfer_chunk_topic("dev-a"))
    for topic_filter in [p.desired_topic("dev-b"), p.device_topic("+", "desired"), "origami/v1/#", "#"]:
        assert not ACL.may_subscribe("dev-a", "dev-a", topic_filter), topic_filter
    assert not ACL.may_receive("dev-a", "dev-a", p.desired_topic("dev-b"))


def test_a_gateway_speaks_for_its_boards_only():
    assert ACL.may_publish("gw-1", "gw-1", p.state_topic("nano-1"))
    assert ACL.may_subscribe("gw-1", "gw-1", p.desired_topic("nano-1"))
    assert not ACL.may_publish("gw-1", "gw-1", p.state_topic("nano-2"))
    assert not ACL.may_publish("dev-a", "dev-a", p.state_topic("nano-1"))


def test_services_get_the_least_they_need_and_no_wildcard_names_slip_through_patterns():
    assert ACL.may_subscribe("controller", "c", p.device_topic("+", "hello"))
    assert ACL.may_publish("controller", "c", p.desired_topic("dev-a"))
    assert not ACL.may_subscribe("controller", "c", p.device_topic("+", "desired"))
    assert ACL.may_subscribe("collector", "c", p.device_topic("+", "samples"))
    assert not ACL.may_publish("collector", "c", p.desired_topic("dev-a"))
    assert ACL.may_subscribe("worker", "w", split_request_topic("0123456789abcdef", "+"))
    assert ACL.may_publish("worker", "w", split_reply_topic("dev-a"))
    assert not ACL.may_publish("worker", "w", p.desired_topic("dev-a"))
    assert not ACL.may_subscribe(None, "anonymous", p.device_topic("+", "hello"))
    assert not ACL.may_subscribe("+", "x", p.desired_topic("+"))    # %u must never become a wildcard
