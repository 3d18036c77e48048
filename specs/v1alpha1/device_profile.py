"""The `DeviceProfile` kind: what a board class is and can do."""
from __future__ import annotations

from typing import Annotated
from typing import Literal

from pydantic import Field

from specs.v1alpha1.common import ByteSize
from specs.v1alpha1.common import Document
from specs.v1alpha1.common import StrictModel

Hex16 = Annotated[int, Field(ge=0, le=0xFFFF)]


class UsbId(StrictModel):
    vid: Hex16
    pid: Hex16


class DeviceProfileSpec(StrictModel):
    board: str = Field(min_length=1, max_length=128, description="Human name of the board.")
    family: Literal["mcu", "linux"]
    cpu: str = Field(min_length=1, max_length=128)
    cores: int = Field(default=1, gt=0, le=1024)
    clockMHz: float = Field(gt=0, le=10_000)
    ram: ByteSize = Field(description="RAM usable by the application (SRAM on microcontrollers).")
    flash: ByteSize = Field(description="Program storage (flash, eMMC or SD card).")
    runtime: Literal["tflm", "litert"]
    macsPerSecond: float = Field(gt=0, description="Effective int8 MAC rate, for the split cost model.")
    accelerators: list[Literal["edgetpu", "cuda", "ethos-u", "esp-nn", "cmsis-nn"]] = Field(default_factory=list)
    transports: list[Literal["usb-serial", "ble", "wifi", "ethernet"]] = Field(min_length=1)
    flasher: str | None = Field(default=None, max_length=1024,
                                description="Command that flashes a built firmware; {port} and {firmware} "
                                            "are filled in.")
    usb: list[UsbId] = Field(default_factory=list)


class DeviceProfile(Document):
    kind: Literal["DeviceProfile"]
    spec: DeviceProfileSpec
