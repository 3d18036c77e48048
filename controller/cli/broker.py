"""`origami broker config --out DIR --device ID ...`: Mosquitto config, passwords and ACLs."""
from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("broker", help="broker tools")
    sub = p.add_subparsers(dest="broker_command", metavar="SUBCOMMAND", required=True)
    c = sub.add_parser("config", help="write a Mosquitto config with per-device passwords and ACLs",
                       description="Each device may publish only on its own topics and read only its own "
                                   "desired state; the controller account reads and writes everything. "
                                   "Running it again keeps existing passwords.")
    c.add_argument("--out", type=Path, required=True,
                   help="directory for mosquitto.conf, passwd, acl, credentials.json")
    c.add_argument("--device", action="append", default=[], help="device id, repeatable")
    c.add_argument("--devices-file", type=Path, help="file with one device id per line")
    c.add_argument("--controller-user", default="controller")
    c.add_argument("--port", type=int, default=1883)
    c.add_argument("--host", default="0.0.0.0")
    c.add_argument("--tls-cert")
    c.add_argument("--tls-key")
    c.add_argument("--tls-ca")
    c.set_defaults(func=run_config)


def run_config(args) -> int:
    from controller.devices.broker_config import write_broker_config
    from specs.errors import UsageError

    devices = list(args.device)
    if args.devices_file:
        if not args.devices_file.is_file():
            raise UsageError(f"--devices-file {args.devices_file} does not exist")
        devices += [line.strip() for line in args.devices_file.read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    files = write_broker_config(args.out, devices, controller_user=args.controller_user, port=args.port,
                                host=args.host, tls_cert=args.tls_cert, tls_key=args.tls_key, tls_ca=args.tls_ca)
    print(f"wrote {files.config}, {files.passwd.name}, {files.acl.name} for {len(devices)} device(s) "
          f"and user '{args.controller_user}'; passwords in {files.credentials} (mode 600)")
    print(f"run: mosquitto -c {files.config}")
    return 0
