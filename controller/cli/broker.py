"""`origami broker config --out DIR --device ID ...`: Mosquitto config, passwords and ACLs."""
from __future__ import annotations

from pathlib import Path

from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("broker", help="broker tools")
    sub = p.add_subparsers(dest="broker_command", metavar="SUBCOMMAND", required=True)
    c = sub.add_parser("config", help="write a Mosquitto config with per-device passwords and ACLs",
                       description="Each device logs in as itself and may publish only on its own topics and "
                                   "read only its own desired state; a gateway does so for the boards it "
                                   "carries; the controller, the collector and each split worker get the least "
                                   "they need. Running it again keeps existing passwords. Run as root so that "
                                   "the files Mosquitto reads belong to the user it drops to (--run-as).")
    c.add_argument("--out", type=Path, required=True,
                   help="directory for mosquitto.conf, passwd, acl, credentials.json, accounts.json, data/")
    c.add_argument("--device", action="append", default=[], help="enroll a device id (repeatable)")
    c.add_argument("--devices-file", type=Path, help="file with one device id per line")
    c.add_argument("--gateway", action="append", default=[], metavar="ID=BOARD,BOARD",
                   help="enroll a serial gateway and the boards it speaks for (repeatable)")
    c.add_argument("--tenants", type=Path, metavar="FILE",
                   help="the controller's tenants file: enroll each tenant's `devices` in that tenant's namespace "
                        "(origami/v1/t/TENANT/...), readable and writable by nobody else (docs/tenancy.md)")
    c.add_argument("--revoke", action="append", default=[], metavar="ID",
                   help="remove a device or gateway (repeatable); Mosquitto needs a reload (SIGHUP)")
    c.add_argument("--controller-user", help="the controller's account (default: controller)")
    c.add_argument("--collector-user", help="the sample collector's account (default: collector)")
    c.add_argument("--worker", action="append", default=None, metavar="NAME",
                   help="a split worker's account, one per running worker (default: worker)")
    c.add_argument("--port", type=int, help="listener port (default 1883, or 8883 with TLS)")
    c.add_argument("--host", default="0.0.0.0")
    c.add_argument("--tls-cert", help="the broker's certificate (PEM): the listener speaks TLS only")
    c.add_argument("--tls-key", help="its private key (PEM)")
    c.add_argument("--tls-ca", help="CA file for client certificates")
    c.add_argument("--run-as", default="mosquitto", help="the user Mosquitto drops to when started as root "
                                                         "(default mosquitto; the config's `user` line)")
    c.set_defaults(func=run_config)


def _gateways(values: list[str]) -> dict[str, list[str]]:
    gateways: dict[str, list[str]] = {}
    for value in values:
        gateway, sep, boards = value.partition("=")
        if not sep or not gateway:
            raise UsageError(f"--gateway {value[:80]}: expected ID=BOARD,BOARD")
        gateways.setdefault(gateway.strip(), []).extend(b.strip() for b in boards.split(",") if b.strip())
    return gateways


def run_config(args) -> int:
    from controller.devices.broker_config import write_broker_config

    devices = list(args.device)
    if args.devices_file:
        if not args.devices_file.is_file():
            raise UsageError(f"--devices-file {args.devices_file} does not exist")
        devices += [line.strip() for line in args.devices_file.read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    tenants, namespaces = None, []
    if args.tenants:
        from controller.tenancy.config import device_tenants
        from controller.tenancy.config import load_tenants

        listed = load_tenants(args.tenants)
        tenants, namespaces = device_tenants(listed), [t.name for t in listed]
    port = args.port or (8883 if args.tls_cert else 1883)
    files = write_broker_config(args.out, devices, gateways=_gateways(args.gateway), revoke=args.revoke,
                                controller_user=args.controller_user, collector_user=args.collector_user,
                                workers=args.worker, port=port, host=args.host, tls_cert=args.tls_cert,
                                tls_key=args.tls_key, tls_ca=args.tls_ca, run_as=args.run_as or None,
                                tenants=tenants, namespaces=namespaces)
    accounts = files.accounts
    devices_total = len(set(files.passwords) - set(accounts.services) - set(accounts.gateways))
    print(f"wrote {files.config}, {files.passwd.name}, {files.acl.name}: {devices_total} device(s), "
          f"{len(accounts.gateways)} gateway(s) with {len(accounts.boards())} board(s), services "
          f"{', '.join(accounts.services)}; passwords in {files.credentials} (mode 600)")
    for note in files.notes:
        print(f"note: {note}")
    print(f"run: mosquitto -c {files.config}   (reload after changes: kill -HUP $(pidof mosquitto))")
    return 0
