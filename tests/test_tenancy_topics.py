"""Tenant namespaces on the wire: topics moved in and out of `origami/v1/t/TENANT`, and the ACLs
`origami broker config --tenants` generates, evaluated with Mosquitto's semantics."""
from __future__ import annotations

import pytest

from controller.devices.accounts import Accounts
from controller.devices.broker_acl import AccessList
from controller.devices.broker_acl import acl_text
from controller.devices.broker_acl import fleet_rules
from controller.devices.broker_acl import parse_acl
from specs.errors import UsageError
from wire.mqtt import BrokerConnection
from wire.topics import into_namespace
from wire.topics import out_of_namespace


def test_topics_move_into_a_tenants_namespace_and_back():
    assert into_namespace("origami/v1/devices/d/hello", "acme") == "origami/v1/t/acme/devices/d/hello"
    assert into_namespace("origami/v1/devices/+/hello", "acme") == "origami/v1/t/acme/devices/+/hello"
    assert into_namespace("origami/v1/#", "acme") == "origami/v1/t/acme/#"
    assert into_namespace("origami/v1/devices/d/hello", "default") == "origami/v1/devices/d/hello"
    assert into_namespace("origami/v1/devices/d/hello", None) == "origami/v1/devices/d/hello"
    assert out_of_namespace("origami/v1/t/acme/devices/d/desired", "acme") == "origami/v1/devices/d/desired"
    assert out_of_namespace("origami/v1/t/globex/devices/d/desired", "acme") == "origami/v1/t/globex/devices/d/desired"


def test_a_bad_tenant_name_in_the_environment_is_refused():
    assert BrokerConnection.resolve(environ={"ORIGAMI_TENANT": "acme"}).tenant == "acme"
    with pytest.raises(UsageError, match="ORIGAMI_TENANT"):
        BrokerConnection.resolve(environ={"ORIGAMI_TENANT": "acme/#"})


ACCOUNTS = Accounts(tenants={"a-1": "acme", "g-1": "globex"}, namespaces=("acme", "globex"))
ACL = AccessList(parse_acl(acl_text(fleet_rules(ACCOUNTS, ["a-1", "g-1", "d-1"]))))


def test_a_tenants_device_has_its_own_topics_in_its_own_namespace_only():
    assert ACL.may_publish("a-1", "a-1", "origami/v1/t/acme/devices/a-1/hello")
    assert ACL.may_subscribe("a-1", "a-1", "origami/v1/t/acme/devices/a-1/desired")
    assert ACL.may_receive("a-1", "a-1", "origami/v1/t/acme/keys")
    for topic in ("origami/v1/devices/a-1/hello", "origami/v1/t/globex/devices/a-1/hello",
                  "origami/v1/t/globex/devices/g-1/hello", "origami/v1/t/acme/devices/a-2/hello"):
        assert not ACL.may_publish("a-1", "a-1", topic), topic
    for topic in ("origami/v1/t/globex/devices/g-1/desired", "origami/v1/t/globex/keys", "origami/v1/keys",
                  "origami/v1/devices/a-1/desired"):
        assert not ACL.may_receive("a-1", "a-1", topic), topic
    assert ACL.may_publish("d-1", "d-1", "origami/v1/devices/d-1/hello")  # a default device: today's topics
    assert not ACL.may_publish("d-1", "d-1", "origami/v1/t/acme/devices/d-1/hello")


def test_each_tenant_has_its_own_controller_and_collector_accounts():
    assert ACCOUNTS.controller_of("acme") == "controller-acme" and "collector-globex" in ACCOUNTS.services
    assert ACL.may_receive("controller-acme", "c", "origami/v1/t/acme/devices/a-1/hello")
    assert ACL.may_publish("controller-acme", "c", "origami/v1/t/acme/devices/a-1/desired")
    assert not ACL.may_publish("controller-acme", "c", "origami/v1/t/globex/devices/g-1/desired")
    assert not ACL.may_receive("controller-acme", "c", "origami/v1/devices/d-1/hello")
    assert not ACL.may_receive("collector-acme", "c", "origami/v1/t/globex/devices/g-1/samples")


def test_without_tenants_the_acl_is_what_it_was():
    text = acl_text(fleet_rules(Accounts(), ["d-1"]))
    assert "pattern write origami/v1/devices/%u/hello" in text and "/t/" not in text
    assert Accounts().to_json() == Accounts.from_json(Accounts().to_json()).to_json()
    assert "tenants" not in Accounts().to_json()
