"""`origami gateway run --ble`: boards on Bluetooth LE (docs/ble.md), beside the serial ones.

`--ble-transport virtual` (the default) is Bumble's in-process virtual air: the gateway's central and
the `--virtual-ble` boards share one LocalLink in this process (no radio, no second process to start).
Any other value is a Bumble HCI transport naming a real adapter (`usb:0`, `serial:/dev/ttyACM0,1000000`,
`hci-socket:0`) or a controller in another process (`tcp-client:127.0.0.1:9000`).
"""
from __future__ import annotations

from pathlib import Path

from specs.errors import UsageError
from wire.text import printable

VIRTUAL = "virtual"


def add_ble_flags(run_p) -> None:
    run_p.add_argument("--ble", action="store_true",
                       help="also attach boards advertising the Origami GATT service over Bluetooth LE")
    run_p.add_argument("--ble-transport", default=VIRTUAL, metavar="SPEC",
                       help="the Bluetooth controller: 'virtual' (in-process virtual air, default) or a Bumble "
                            "HCI transport such as usb:0, serial:/dev/ttyACM0 or hci-socket:0")
    run_p.add_argument("--ble-scan", type=float, default=5.0, metavar="SECONDS",
                       help="how long to scan for boards at start")
    run_p.add_argument("--virtual-ble", action="append", default=[], metavar="PROFILE",
                       help="also run a virtual board of this DeviceProfile on the virtual air (implies --ble)")


class BleBoards:
    """The BLE side of one `gateway run`: the radio, the central, any virtual boards."""

    def __init__(self, args, profiles, key) -> None:
        from device.ble_radio import VirtualAir
        from device.gateway.ble_link import BleCentral
        from device.virtual.ble_board import VirtualBleBoard

        self.air = None
        self.boards: list = []
        self.expected = len(args.virtual_ble) or None
        self.scan_seconds = args.ble_scan
        if args.ble_transport == VIRTUAL:
            self.air = VirtualAir()
            for i, name in enumerate(args.virtual_ble):
                if name not in profiles or profiles[name].spec.family != "mcu" or \
                        "ble" not in profiles[name].spec.transports:
                    raise UsageError(f"--virtual-ble {name}: not a microcontroller DeviceProfile with a "
                                     "'ble' transport")
                self.boards.append(VirtualBleBoard(profiles[name], f"{name}-ble-{i}",
                                                   Path(args.spool) / f"virtual-ble-{i}", key, air=self.air).start())
            self.central = BleCentral.virtual(self.air)
        elif args.virtual_ble:
            raise UsageError("--virtual-ble runs on the virtual air: leave --ble-transport at 'virtual'")
        else:
            self.central = BleCentral.on_adapter(args.ble_transport)

    def attach(self, gateway) -> None:
        from device.gateway import BoardLink

        found = self.central.scan(self.scan_seconds, stop_after=self.expected)
        if not found:
            print(f"no Bluetooth LE boards advertising the Origami service within {self.scan_seconds:g} s",
                  flush=True)
        for board in found:
            stream = self.central.open(board)
            device_id = gateway.attach_link(BoardLink(stream))
            print(f"attached {printable(device_id)} over BLE at {printable(board.label)} "
                  f"(ATT MTU {stream.mtu})", flush=True)

    def close(self) -> None:
        for board in self.boards:
            board.stop()
        self.central.close()
        if self.air is not None:
            self.air.close()
