"""One rule says what fits a board: variant selection, the split's feasibility, the dashboard's
"fits" column and the virtual boards all read `specs.v1alpha1.budget`, so they cannot disagree
(the dashboard once said a model fit a reduced-RAM Nano while the controller split it)."""
from __future__ import annotations

from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from controller.devices.selection import Candidate
from controller.devices.selection import select_variant
from controller.reconciler.bundles import usable_capabilities
from controller.split.cost import LinkSpeed
from controller.split.cost import cut_cost
from controller.split.profile import CutProfile
from device.virtual.mcu_board import SERIAL_RX_BYTES
from device.virtual.mcu_board import ram_budget
from specs.v1alpha1.budget import board_budget
from specs.v1alpha1.budget import misfit
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.device_profile import DeviceProfile

KIB = 1024


def _profile(ram: int, flash: int) -> DeviceProfile:
    base = BUILTIN_PROFILES["nano33ble"].model_dump(mode="json")
    base["metadata"]["name"] = "test-board"
    base["spec"]["ram"], base["spec"]["flash"] = ram, flash
    return DeviceProfile.model_validate(base)


def _cut(size: int, arena: int) -> CutProfile:
    return CutProfile(layer="x", index=0, edge_only=False, whole=True, head_params=1, tail_params=0,
                      head_weight_bytes=size, tail_weight_bytes=0, head_macs=1, tail_macs=0, crossing_shape=(),
                      crossing_bytes=0, reply_bytes=0, head_flash_bytes=size, head_arena_bytes=arena, measured=True)


@settings(max_examples=200, deadline=None)
@given(ram=st.integers(64 * KIB, 1024 * KIB), flash=st.integers(128 * KIB, 2048 * KIB),
       reserve=st.integers(0, 96 * KIB), size=st.integers(1, 2048 * KIB), arena=st.integers(1, 1024 * KIB))
def test_selection_splitting_and_the_dashboard_agree_on_what_fits(ram, flash, reserve, size, arena):
    profile = _profile(ram, flash)
    budget = board_budget(profile.spec, reserve)
    assume(budget.ram > 0 and budget.flash > 0)     # a reserve that leaves nothing is refused before selection
    fits = not misfit(budget, size=size, arena=arena)
    chosen = select_variant(usable_capabilities(profile, reserve), [Candidate("v", "tflm", "int8", size, arena)])
    assert (chosen.candidate is not None) == fits, chosen.reason
    cost = cut_cost(_cut(size, arena), 1e6, LinkSpeed(1e4, 0.01), 1e9, budget)
    assert cost.feasible == fits


def test_the_reduced_ram_nano_of_the_example_is_told_apart_from_its_full_ram():
    # digits-mixed's nano33ble-lite: 68 KiB for the application, 64 KiB kept by the firmware
    lite = board_budget(_profile(68 * KIB, 1024 * KIB).spec, 64 * KIB)
    assert misfit(lite, size=40 * KIB, arena=6 * KIB).startswith("the model needs a 6144 B arena")
    assert not misfit(board_budget(_profile(256 * KIB, 1024 * KIB).spec, 64 * KIB), size=40 * KIB, arena=6 * KIB)


def test_a_linux_board_keeps_its_whole_memory_and_a_virtual_mcu_its_serial_buffer():
    assert board_budget(BUILTIN_PROFILES["rpi4"].spec, 64 * KIB).ram == BUILTIN_PROFILES["rpi4"].spec.ram
    nano = BUILTIN_PROFILES["nano33ble"]
    assert ram_budget(nano) == nano.spec.ram - SERIAL_RX_BYTES
