"""`origami gateway`: bridge microcontrollers on USB serial to MQTT; list ports; flash a firmware."""
from __future__ import annotations

import signal
import threading
from pathlib import Path

from controller.cli.broker_flags import add_broker_flags
from controller.cli.broker_flags import connection_from_args
from controller.cli.gateway_ble import BleBoards
from controller.cli.gateway_ble import add_ble_flags
from specs.errors import UsageError
from wire.text import printable


def register(subparsers) -> None:
    p = subparsers.add_parser("gateway", help="bridge microcontrollers on USB serial or Bluetooth LE to MQTT")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    run_p = verbs.add_parser("run", help="attach boards and bridge them until interrupted")
    run_p.add_argument("--id", default="gateway", help="this gateway's id (a DNS label)")
    run_p.add_argument("--port", action="append", default=[], help="serial port to attach (repeatable); "
                       "default: every USB serial port whose VID:PID is in the catalogue")
    run_p.add_argument("--baud", type=int, default=115200)
    run_p.add_argument("--spool", default=".origami/gateway", help="where artifacts are downloaded (resumable)")
    add_broker_flags(run_p, username_help="default: the gateway id")
    run_p.add_argument("--virtual", action="append", default=[], metavar="PROFILE",
                       help="also attach a virtual board of this DeviceProfile behind a pseudo-terminal (demos)")
    run_p.add_argument("--qemu", action="append", default=[], metavar="BOARD[:IMAGE]",
                       help="also attach an emulated board: QEMU running the device-core firmware (IMAGE, or one "
                            "built for the --public-key) with its UART on a pseudo-terminal: nano33ble, pico or "
                            "coralmicro")
    run_p.add_argument("--public-key", required=True,
                       help="the controller's public key (PEM): the gateway checks every desired state against "
                            "it (and the keys it endorses) on the boards' behalf; virtual boards trust it too")
    add_ble_flags(run_p)
    run_p.set_defaults(func=run)

    ports_p = verbs.add_parser("ports", help="list USB serial ports and the DeviceProfile each matches")
    ports_p.set_defaults(func=ports)

    flash_p = verbs.add_parser("flash", help="flash a full firmware with the board's flasher command")
    flash_p.add_argument("--port", required=True)
    flash_p.add_argument("--profile", required=True, help="DeviceProfile name, e.g. nano33ble")
    flash_p.add_argument("firmware", help="built firmware image or build directory")
    flash_p.set_defaults(func=flash)


def _profiles():
    from specs.v1alpha1.catalogue import BUILTIN_PROFILES

    return BUILTIN_PROFILES


def ports(args) -> int:
    from device.gateway import detect_ports

    found = detect_ports(_profiles())
    if not found:
        print("no USB serial ports")
    for port in found:
        # USB descriptors are the device's own words
        print("\t".join(printable(v) for v in (port.device, port.usb, port.profile or "(unknown board)",
                                                 port.description)))
    return 0


def flash(args) -> int:
    from device.gateway import flash_firmware

    profiles = _profiles()
    if args.profile not in profiles:
        raise UsageError(f"unknown DeviceProfile {args.profile!r}; known: {', '.join(sorted(profiles))}")
    print(flash_firmware(profiles[args.profile], args.port, args.firmware))
    return 0


def run(args) -> int:
    from device.gateway import Gateway
    from device.gateway import detect_ports

    profiles = _profiles()
    connection = connection_from_args(args, default_username=args.id)
    attach = [(port, None) for port in args.port]
    ble = args.ble or bool(args.virtual_ble)
    if not attach and not args.virtual and not ble and not args.qemu:
        attach = [(p.device, p.usb) for p in detect_ports(profiles) if p.profile]
    from wire.manifests import load_public_key

    key = load_public_key(Path(args.public_key))
    virtual = []
    if args.virtual:
        from device.virtual.mcu_board import VirtualMCU

        for i, name in enumerate(args.virtual):
            if name not in profiles or profiles[name].spec.family != "mcu":
                raise UsageError(f"--virtual {name}: not a microcontroller DeviceProfile")
            board = VirtualMCU(profiles[name], f"{name}-virtual-{i}", Path(args.spool) / f"virtual-{i}", key).start()
            virtual.append(board)
            attach.append((board.port, None))
    emulated = [_start_emulated(spec, i, Path(args.spool), key) for i, spec in enumerate(args.qemu)]
    attach += [(board.port, None) for board in emulated]
    if not attach and not ble:
        raise UsageError("no boards: pass --port, plug in a board from the catalogue, use --virtual PROFILE "
                         "or --qemu BOARD, or --ble")
    ble_boards = BleBoards(args, profiles, key) if ble else None
    gateway = Gateway(args.id, connection, profiles, spool=args.spool, public_key=key)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for port, usb in attach:
            device_id = gateway.attach(port, usb=usb, baudrate=args.baud)
            print(f"attached {printable(device_id)} on {printable(port)}", flush=True)
        if ble_boards:
            ble_boards.attach(gateway)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.close()
        for board in virtual:
            board.stop()
        for board in emulated:
            board.stop()
        if ble_boards:
            ble_boards.close()
    return 0


def _start_emulated(spec: str, index: int, spool: Path, key):
    """`--qemu BOARD[:IMAGE]`: boot QEMU on IMAGE, or on a device-core image built for `key` (cached)."""
    from controller.firmware.qemu import emulated_board
    from device.gateway.emulated import QemuBoard
    from specs.errors import StageError

    name, _, image = spec.partition(":")
    try:
        board = emulated_board(name)
    except StageError as err:
        raise UsageError(f"--qemu {name}: {err}") from None
    folder = spool / f"qemu-{index}"
    elf = Path(image) if image else _build_emulated_image(name, folder, spool, key)
    emulated = QemuBoard(board.machine, elf, folder, f"{name}-qemu-{index}")
    emulated.start()
    return emulated


def _build_emulated_image(name: str, folder: Path, spool: Path, key) -> Path:
    import shutil

    from controller.firmware.device_image import build_device_image

    work = folder / "image"
    shutil.rmtree(work, ignore_errors=True)
    print(f"building the {name} device-core image (the TFLM library is cached under {spool / 'firmware-cache'})",
          flush=True)
    return build_device_image(name, key, cache_dir=spool / "firmware-cache", work_dir=work).elf
