"""What fits a board: the one budget rule used by variant selection, splitting, firmware rendering,
the virtual boards and the dashboard, so that they never disagree about a model.

A microcontroller's RAM and flash are counted less what the firmware keeps for itself (the
Model's `split.firmwareReserve` for the controller's choices; the firmware's own serial buffer for a
rendered or virtual board); a Linux board's are counted whole.
"""
from __future__ import annotations

from dataclasses import dataclass

from specs.v1alpha1.device_profile import DeviceProfileSpec


@dataclass(frozen=True)
class Budget:
    """Bytes a model may take on a board: `ram` for the tensor arena, `flash` for the model."""

    ram: int
    flash: int
    reserve: int = 0


def board_budget(spec: DeviceProfileSpec, reserve: int) -> Budget:
    """The board's budget once the firmware took `reserve` bytes of RAM and of flash (MCU only)."""
    if spec.family != "mcu":
        return Budget(ram=spec.ram, flash=spec.flash, reserve=0)
    return Budget(ram=max(0, spec.ram - reserve), flash=max(0, spec.flash - reserve), reserve=reserve)


def misfit(budget: Budget, *, size: int, arena: int, what: str = "the model") -> str:
    """Why `what` (a model of `size` bytes needing an `arena`-byte tensor arena) does not fit
    `budget`; "" when it fits."""
    if size > budget.flash:
        return f"{what} needs {size} B of flash, the board has {budget.flash} B for it"
    if arena > budget.ram:
        return f"{what} needs a {arena} B arena, the board has {budget.ram} B of RAM for it"
    return ""
