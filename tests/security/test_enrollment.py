"""The registry of enrolled devices and the files `origami broker config` leaves for Mosquitto."""
from __future__ import annotations

import os
import pwd
import shutil

import pytest

from controller.devices.accounts import verify_password
from controller.devices.broker_config import write_broker_config
from controller.devices.enrollment import Enrollment
from controller.devices.enrollment import RejectionLimiter
from specs.errors import UsageError
from tests.security.secured_mosquitto import searchable_directory


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_enrolling_and_revoking_take_effect_without_a_restart(tmp_path):
    clock = Clock()
    write_broker_config(tmp_path, ["dev-a"], gateways={"gw-1": ["nano-1"]}, port=None, run_as=None)
    enrollment = Enrollment(tmp_path, clock=clock)
    assert enrollment.ids() == {"dev-a", "gw-1", "nano-1"}     # services are not devices
    write_broker_config(tmp_path, ["dev-b"], revoke=["dev-a", "nano-1"], port=None, run_as=None)
    assert enrollment("dev-a")                                # re-read at most once a second
    clock.now = 1.5
    assert enrollment.ids() == {"dev-b", "gw-1"}


def test_a_damaged_registry_keeps_the_last_good_set_never_opens_the_gate(tmp_path):
    clock = Clock()
    write_broker_config(tmp_path, ["dev-a"], port=None, run_as=None)
    enrollment = Enrollment(tmp_path, clock=clock)
    (tmp_path / "credentials.json").write_text('{"dev-a": "pw", "dev-b"')   # a half-written file
    clock.now = 2
    assert enrollment.ids() == {"dev-a"}
    with pytest.raises(UsageError, match="no credentials.json"):
        Enrollment(tmp_path / "elsewhere")


def test_rejections_are_reported_once_per_id_per_interval_and_bounded_in_all():
    clock = Clock()
    limiter = RejectionLimiter(interval_s=60, max_ids=100, clock=clock)
    admitted = [limiter.admit(f"fake-{i:05d}") for i in range(10_000)]
    assert sum(admitted) == 100 and all(admitted[:100]) and limiter.suppressed == 9_900
    assert not limiter.admit("fake-00000")
    clock.now = 61
    assert limiter.admit("fake-00000") and not limiter.admit("fake-00000")


def test_the_files_mosquitto_reads_belong_to_the_user_it_drops_to(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can give files to user mosquitto; the config then says what to run")
    root = searchable_directory()
    try:
        files = write_broker_config(root / "broker", ["dev-a"], port=None)
        mosquitto = pwd.getpwnam("mosquitto").pw_uid
        assert files.notes == ()
        for name, owner, mode in [("passwd", mosquitto, 0o600), ("acl", mosquitto, 0o600), ("data", mosquitto, 0o700),
                                  ("credentials.json", 0, 0o600)]:
            info = (root / "broker" / name).stat()
            assert (info.st_uid, info.st_mode & 0o777) == (owner, mode), name
        assert "user mosquitto" in files.config.read_text()
        line = files.passwd.read_text().splitlines()[0]
        user, hashed = line.split(":", 1)
        assert verify_password(files.passwords[user], hashed) and not verify_password("guess", hashed)
    finally:
        shutil.rmtree(root)
    hidden = write_broker_config(tmp_path / "broker", ["dev-a"], port=None)    # pytest's tree is private to root
    assert any("not searchable by user 'mosquitto'" in note for note in hidden.notes)


def test_service_account_names_are_not_device_ids(tmp_path):
    with pytest.raises(UsageError, match="service account"):
        write_broker_config(tmp_path, ["collector"], port=None, run_as=None)
    with pytest.raises(UsageError, match="service account"):
        write_broker_config(tmp_path, [], gateways={"gw-1": ["worker"]}, port=None, run_as=None)
