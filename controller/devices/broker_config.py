"""Mosquitto security for an Origami fleet (`origami broker config`).

Writes `mosquitto.conf`, a password file (Mosquitto's own `$7$` PBKDF2-SHA512 format, the same
bytes `mosquitto_passwd` writes), an ACL file (`broker_acl`), `credentials.json` (the passwords,
mode 0600, also the registry of enrolled devices) and `accounts.json` (roles, no secrets).
Passwords are kept and reused when the command runs again, so enrolling a device changes no one
else's password; `revoke` removes an account.

Mosquitto started as root (Debian's service) drops privileges to the `user` the config names
(`mosquitto` by default) *before* it reads the password and ACL files and the TLS key. So the
config names that user, and the files it reads are owned by it when this runs as root; otherwise
`notes` says which command makes them readable. `credentials.json` stays the caller's alone.
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import stat
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path

from controller.devices.accounts import ACCOUNTS_FILE
from controller.devices.accounts import CREDENTIALS_FILE
from controller.devices.accounts import Accounts
from controller.devices.accounts import check_device_id
from controller.devices.accounts import load_accounts
from controller.devices.accounts import load_credentials
from controller.devices.accounts import password_hash
from controller.devices.broker_acl import acl_text
from controller.devices.broker_acl import fleet_rules
from specs.errors import UsageError

# The largest message a device sends is a samples batch or a transfer chunk (1 MiB each, plus
# headers): anything much larger is refused by Mosquitto itself, before any client parses it.
MAX_PACKET_BYTES = 2 * 1024 * 1024
DEFAULT_RUN_AS = "mosquitto"


def listener_config(directory: Path, port: int | None = 1883, host: str = "0.0.0.0", *,
                    tls_cert: str | None = None, tls_key: str | None = None, tls_ca: str | None = None) -> str:
    """The security part of the config; with `port=None` the lines to append after an existing listener."""
    lines = []
    if port is not None:
        lines.append(f"listener {port} {host}")
        if tls_cert and tls_key:
            lines += [f"certfile {tls_cert}", f"keyfile {tls_key}"] + ([f"cafile {tls_ca}"] if tls_ca else [])
    lines += [
        "use_username_as_clientid true",   # nobody takes another account's client id (and kicks it off)
        "allow_anonymous false",
        f"max_packet_size {MAX_PACKET_BYTES}",
        f"password_file {directory / 'passwd'}",
        f"acl_file {directory / 'acl'}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    passwd: Path
    acl: Path
    credentials: Path
    passwords: dict[str, str]       # account -> password (also in `credentials`, mode 0600)
    accounts: Accounts = field(default_factory=Accounts)
    notes: tuple[str, ...] = ()     # what the operator must still do (file ownership, TLS key access)

    def security_config(self) -> str:
        """Lines to append to an existing listener's config (what tests pass to start_mosquitto)."""
        return listener_config(self.config.parent, port=None)


def _write_file(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _merge_accounts(old: Accounts, *, controller_user: str | None, collector_user: str | None,
                    workers: Iterable[str] | None, gateways: Mapping[str, Iterable[str]] | None,
                    revoke: set[str]) -> Accounts:
    boards = {g: set(b) for g, b in old.gateways.items()}
    for gateway, added in (gateways or {}).items():
        boards.setdefault(check_device_id(gateway), set()).update(check_device_id(b) for b in added)
    kept = {g: tuple(sorted(b - revoke)) for g, b in boards.items() if g not in revoke}
    return Accounts(controller_user or old.controller, collector_user or old.collector,
                    tuple(workers) if workers else old.workers, kept,
                    {d: t for d, t in old.tenants.items() if d not in revoke}, old.namespaces)


def _owner_notes(directory: Path, run_as: str | None, readable: list[Path], writable: Path) -> list[str]:
    """Give `run_as` the files it reads (when we can), and say what is left to do otherwise."""
    if run_as is None:
        return []
    try:
        account = pwd.getpwnam(run_as)
    except KeyError:
        return [f"user '{run_as}' does not exist here: on the broker host, `chown {run_as}: passwd acl` and "
                f"`chown -R {run_as}: data` in {directory}, or pass --run-as USER"]
    if os.geteuid() != 0:
        if account.pw_uid == os.geteuid():
            return []
        return [f"not root, so the files are yours: run `sudo chown {run_as}: passwd acl && sudo chown -R "
                f"{run_as}: data` in {directory} before starting Mosquitto as root"]
    for path in [*readable, writable]:
        os.chown(path, account.pw_uid, account.pw_gid)
    notes = []
    for parent in [directory, *directory.parents]:
        mode = parent.stat()
        searchable = (mode.st_mode & stat.S_IXOTH or (mode.st_uid == account.pw_uid and mode.st_mode & stat.S_IXUSR)
                      or (mode.st_gid == account.pw_gid and mode.st_mode & stat.S_IXGRP))
        if not searchable:
            notes.append(f"{parent} is not searchable by user '{run_as}': Mosquitto could not open the files; "
                         "choose another --out (e.g. /etc/mosquitto/origami) or `chmod o+x` it")
            break
    return notes


def _tls_notes(run_as: str | None, files: list[str]) -> list[str]:
    """Mosquitto reads its certificate and key after dropping privileges too."""
    if run_as is None or os.geteuid() != 0:
        return []
    try:
        account = pwd.getpwnam(run_as)
    except KeyError:
        return []
    notes = []
    for name in files:
        info = os.stat(name)
        if not (info.st_mode & stat.S_IROTH or (info.st_uid == account.pw_uid and info.st_mode & stat.S_IRUSR)
                or (info.st_gid == account.pw_gid and info.st_mode & stat.S_IRGRP)):
            notes.append(f"{name} is not readable by user '{run_as}': `chgrp {run_as} {name} && chmod 640 {name}`")
    return notes


def write_broker_config(directory: Path, devices: Iterable[str], *, gateways: Mapping[str, Iterable[str]] | None = None,
                        revoke: Iterable[str] = (), controller_user: str | None = None,
                        collector_user: str | None = None, workers: Iterable[str] | None = None,
                        port: int | None = 1883, host: str = "0.0.0.0", tls_cert: str | None = None,
                        tls_key: str | None = None, tls_ca: str | None = None,
                        run_as: str | None = DEFAULT_RUN_AS,
                        tenants: Mapping[str, str] | None = None, namespaces: Iterable[str] = ()) -> BrokerFiles:
    """Enroll `devices` (each logs in as itself) and `gateways` (gateway id -> the boards it carries),
    drop `revoke`, and write every file of the broker directory. Existing accounts are kept.
    `tenants` (device id -> tenant) puts devices in their tenants' namespaces, each of `namespaces`
    (tenant names) gets its own controller and collector accounts (`broker_acl`)."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if bool(tls_cert) != bool(tls_key):
        raise UsageError("TLS needs both --tls-cert and --tls-key")
    for name in (tls_cert, tls_key, tls_ca):
        if name and not Path(name).is_file():
            raise UsageError(f"{name}: no such file")
    gone = {check_device_id(d) for d in revoke}
    accounts = _merge_accounts(load_accounts(directory), controller_user=controller_user,
                               collector_user=collector_user, workers=workers, gateways=gateways, revoke=gone)
    if tenants or namespaces:
        owned = {**accounts.tenants, **{check_device_id(d): t for d, t in (tenants or {}).items()}}
        spaces = set(accounts.namespaces) | {t for t in [*namespaces, *owned.values()] if t != "default"}
        accounts = replace(accounts, tenants={d: t for d, t in owned.items() if d not in gone and t != "default"},
                           namespaces=tuple(sorted(spaces)))
        devices = [*devices, *(tenants or {})]
    devices = [check_device_id(d) for d in devices]
    clash = set(accounts.services) & (set(devices) | set(accounts.gateways) | accounts.boards())
    if clash:
        raise UsageError(f"device id '{sorted(clash)[0]}' is a service account's name; choose another")
    passwords = {user: pw for user, pw in load_credentials(directory).items() if user not in gone}
    for user in [*accounts.services, *devices, *accounts.gateways]:
        passwords.setdefault(user, secrets.token_urlsafe(24))
    credentials = directory / CREDENTIALS_FILE
    _write_file(credentials, json.dumps(passwords, indent=2, sort_keys=True) + "\n", 0o600)
    _write_file(directory / ACCOUNTS_FILE, accounts.to_json(), 0o644)
    passwd, acl, data = directory / "passwd", directory / "acl", directory / "data"
    _write_file(passwd, "".join(f"{user}:{password_hash(pw)}\n" for user, pw in sorted(passwords.items())), 0o600)
    device_accounts = set(passwords) - set(accounts.services) - set(accounts.gateways)
    _write_file(acl, acl_text(fleet_rules(accounts, device_accounts)), 0o600)
    data.mkdir(mode=0o700, exist_ok=True)
    config = directory / "mosquitto.conf"
    _write_file(config, "# Generated by `origami broker config`: mosquitto -c " + str(config) + "\n"
                + (f"user {run_as}\n" if run_as else "")
                + f"persistence true\npersistence_location {data}/\n"
                + listener_config(directory, port, host, tls_cert=tls_cert, tls_key=tls_key, tls_ca=tls_ca), 0o644)
    notes = _owner_notes(directory, run_as, [passwd, acl], data)
    notes += _tls_notes(run_as, [n for n in (tls_cert, tls_key, tls_ca) if n])
    return BrokerFiles(config, passwd, acl, credentials, passwords, accounts, tuple(notes))
