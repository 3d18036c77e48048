"""The build worker's view of the file system, set up inside its own user and mount namespaces.

Standard library only, and run before anything starts a thread (numpy, TensorFlow): the worker calls
`confine` first thing, inside `unshare --user --map-root-user --mount --pid --net` (see
`controller.reconciler.sandbox`). It mounts an empty tmpfs over each hidden directory (the state
directory with its keys, token hashes, database and broker passwords; /tmp), replaces /dev by the
few character devices a program needs, binds the few paths a build needs back in (the revision
read-only, the artifact store read-write), then enters one more user and mount namespace so that
these mounts are *locked*: the repository's code runs as root of a namespace that does not own
them, and cannot unmount the tmpfs to see what it covers.
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from dataclasses import field
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_PRIVATE = 1024, 2048, 1 << 21, 1 << 18
# statvfs flags that a remount inside a user namespace must keep (the kernel locks them).
KEPT_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC,
              os.ST_NOATIME: MS_NOATIME, os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME}


DEVICES = ("null", "zero", "full", "random", "urandom")


class ConfinementError(Exception):
    """The sandbox could not be set up; the build does not run."""


@dataclass(frozen=True)
class View:
    """What the worker sees: `hidden` directories are empty; `binds` (path -> writable) are put back."""

    hidden: tuple[str, ...]
    binds: dict[str, bool] = field(default_factory=dict[str, Any])
    tmpfs_bytes: int = 64 * 1024 * 1024  # each hidden directory's tmpfs: mount points, scratch files

    def to_dict(self) -> dict[str, Any]:
        return {"hidden": list(self.hidden), "binds": self.binds, "tmpfs_bytes": self.tmpfs_bytes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> View:
        return cls(tuple(data["hidden"]), dict(data["binds"]), int(data["tmpfs_bytes"]))


_libc = None


def _call(name: str, *args: Any) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise ConfinementError(f"{name} failed: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    _call("mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def _kept_flags(path: str) -> int:
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in KEPT_FLAGS.items() if flags & st)


def confine(view: View) -> None:
    """Apply `view` to this process's mount namespace, then lock it (see the module docstring)."""
    # Open what is bound back before the tmpfs covers it; bind through /proc/self/fd afterwards.
    sources = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in view.binds}
    devices = {name: os.open(f"/dev/{name}", os.O_PATH | os.O_CLOEXEC) for name in DEVICES
               if os.path.exists(f"/dev/{name}")}
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates to the host
        _minimal_dev(devices)
        for path in sorted(view.hidden, key=len):
            os.makedirs(path, exist_ok=True)  # inside an already hidden parent: on its tmpfs
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"size={view.tmpfs_bytes},nr_inodes=65536,mode=0700")
        for path, writable in sorted(view.binds.items(), key=lambda item: len(item[0])):
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{sources[path]}", path, None, MS_BIND | MS_REC)
            if not writable:
                _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _kept_flags(path))
    finally:
        for fd in [*sources.values(), *devices.values()]:
            os.close(fd)
    os.chdir("/")  # a working directory inside a hidden one would still reach what the tmpfs covers
    _lock()


def _minimal_dev(devices: dict[str, int]) -> None:
    """A /dev of the harmless character devices only: no disks (a controller run as root would
    otherwise let the build read the state directory off the raw block device), no terminals."""
    _mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=1m,nr_inodes=64,mode=0755")
    for name, fd in devices.items():
        open(f"/dev/{name}", "w").close()  # the mount point of a bound file is a file
        _mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND)
    os.symlink("/proc/self/fd", "/dev/fd")
    for number, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{number}", f"/dev/{name}")


def _lock() -> None:
    """A new user + mount namespace: the mounts above become locked to it (not unmountable)."""
    uid, gid = os.geteuid(), os.getegid()
    _call("unshare", ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNS))
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)

