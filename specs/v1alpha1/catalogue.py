"""Built-in DeviceProfiles. A user's DeviceProfile with the same name overrides one.

Figures are from the vendors' datasheets and product briefs (cited per board).
`macsPerSecond` is an *effective* int8 rate for the split cost model, not a peak:
clock × an assumed MACs/cycle for TFLM's optimised kernels on that core.
"""
from __future__ import annotations

from specs.v1alpha1.common import ObjectMeta
from specs.v1alpha1.device_profile import DeviceProfile
from specs.v1alpha1.device_profile import DeviceProfileSpec
from specs.v1alpha1.device_profile import UsbId

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


def _profile(name: str, **spec: object) -> DeviceProfile:
    return DeviceProfile(
        apiVersion="origami/v1alpha1",
        kind="DeviceProfile",
        metadata=ObjectMeta(name=name, labels={"origami.dev/builtin": "true"}),
        spec=DeviceProfileSpec(**spec),  # type: ignore[arg-type]  # the catalogue below is the typed input
    )


BUILTIN_PROFILES: dict[str, DeviceProfile] = {
    p.metadata.name: p
    for p in [
        # Nordic nRF52840 product specification v1.7: Cortex-M4F at 64 MHz, 1 MB flash, 256 KB RAM.
        # USB IDs from Arduino's mbed_nano boards.txt (0x805a application, 0x005a bootloader).
        _profile(
            "nano33ble",
            board="Arduino Nano 33 BLE Sense", family="mcu", cpu="Cortex-M4F (nRF52840)",
            clockMHz=64, ram=256 * KiB, flash=1 * MiB, runtime="tflm",
            macsPerSecond=64e6 * 0.5, accelerators=["cmsis-nn"], transports=["usb-serial", "ble"],
            flasher="arduino-cli upload -p {port} --fqbn arduino:mbed_nano:nano33ble --input-file {firmware}",
            usb=[UsbId(vid=0x2341, pid=0x805A), UsbId(vid=0x2341, pid=0x005A)],
        ),
        # RP2040 datasheet: dual Cortex-M0+ up to 133 MHz, 264 KB SRAM; Pico datasheet: 2 MB QSPI flash.
        # USB IDs: 2e8a:000a (pico-sdk stdio USB), 2e8a:0003 (BOOTSEL mass storage).
        _profile(
            "pico",
            board="Raspberry Pi Pico", family="mcu", cpu="Cortex-M0+ (RP2040)", cores=2,
            clockMHz=133, ram=264 * KiB, flash=2 * MiB, runtime="tflm",
            macsPerSecond=133e6 * 0.1, transports=["usb-serial"],
            flasher="picotool load -x {firmware} -f",
            usb=[UsbId(vid=0x2E8A, pid=0x000A), UsbId(vid=0x2E8A, pid=0x0003)],
        ),
        # Coral Dev Board Micro datasheet: NXP i.MX RT1176 (Cortex-M7 1 GHz + Cortex-M4 400 MHz),
        # 64 MB SDRAM, 128 MB flash, Coral Edge TPU (4 TOPS int8). USB 18d1:9308 app, 18d1:9307 boot.
        _profile(
            "coral-micro",
            board="Coral Dev Board Micro", family="mcu", cpu="Cortex-M7 (i.MX RT1176)", cores=2,
            clockMHz=1000, ram=64 * MiB, flash=128 * MiB, runtime="tflm",
            macsPerSecond=1000e6 * 0.5, accelerators=["edgetpu", "cmsis-nn"], transports=["usb-serial", "wifi", "ble"],
            flasher="python3 coralmicro/scripts/flashtool.py --build_dir {firmware}",
            usb=[UsbId(vid=0x18D1, pid=0x9308), UsbId(vid=0x18D1, pid=0x9307)],
        ),
        # ESP32-S3 datasheet v1.9: dual Xtensa LX7 up to 240 MHz, 512 KB SRAM; flash is external
        # (ESP32-S3-DevKitC-1-N8: 8 MB). USB Serial/JTAG controller enumerates as 303a:1001.
        _profile(
            "esp32s3",
            board="ESP32-S3-DevKitC-1", family="mcu", cpu="Xtensa LX7 (ESP32-S3)", cores=2,
            clockMHz=240, ram=512 * KiB, flash=8 * MiB, runtime="tflm",
            macsPerSecond=240e6 * 0.5, accelerators=["esp-nn"], transports=["usb-serial", "wifi", "ble"],
            flasher="esptool.py --chip esp32s3 --port {port} write_flash 0x0 {firmware}",
            usb=[UsbId(vid=0x303A, pid=0x1001)],
        ),
        # Raspberry Pi 4 Model B product brief: BCM2711, 4x Cortex-A72 at 1.5 GHz, 1/2/4/8 GB LPDDR4
        # (the 4 GB model here), storage on microSD (32 GB assumed).
        _profile(
            "rpi4",
            board="Raspberry Pi 4 Model B", family="linux", cpu="Cortex-A72 (BCM2711)", cores=4,
            clockMHz=1500, ram=4 * GiB, flash=32 * GiB, runtime="litert",
            macsPerSecond=4 * 1500e6 * 1.0, transports=["wifi", "ethernet", "ble"],
        ),
        # NVIDIA Jetson Nano module datasheet: 4x Cortex-A57 at 1.43 GHz, 4 GB LPDDR4,
        # 16 GB eMMC, 128-core Maxwell GPU.
        _profile(
            "jetson-nano",
            board="NVIDIA Jetson Nano", family="linux", cpu="Cortex-A57", cores=4,
            clockMHz=1430, ram=4 * GiB, flash=16 * GiB, runtime="litert",
            macsPerSecond=4 * 1430e6 * 0.8, accelerators=["cuda"], transports=["wifi", "ethernet"],
        ),
    ]
}
