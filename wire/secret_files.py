"""Small files an operator names for a secret (a password, a token, a passphrase, a webhook secret).

Each is read up to a bound and only its first line is used, so a wrong path (a log, a disk image) costs
no memory and a trailing newline or comment never becomes part of the secret. Errors name the option and
the file's name, never its content or its directory.
"""
from __future__ import annotations

from pathlib import Path

from specs.errors import UsageError

MAX_SECRET_FILE_BYTES = 4096


def read_bounded(path: str | Path, what: str, max_bytes: int) -> bytes:
    """The file's bytes; UsageError when it cannot be read or holds more than `max_bytes`."""
    name = Path(path).name
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise UsageError(f"{what} {name}: cannot read it ({err.strerror})") from None
    if len(data) > max_bytes:
        raise UsageError(f"{what} {name}: larger than {max_bytes} bytes; it should hold one line")
    return data


def read_first_line(path: str | Path, what: str, *, hint: str = "", max_bytes: int = MAX_SECRET_FILE_BYTES) -> bytes:
    """The first line without its line ending (inner and edge spaces kept: a passphrase may have them);
    UsageError, with `hint` appended, when it is blank."""
    lines = read_bounded(path, what, max_bytes).splitlines()
    line = lines[0] if lines else b""
    if not line.strip():
        raise UsageError(f"{what} {Path(path).name}: the first line is empty" + (f"; {hint}" if hint else ""))
    return line


def read_first_line_text(path: str | Path, what: str, *, hint: str = "") -> str:
    """`read_first_line` as UTF-8 text, stripped of edge spaces (tokens, passwords, URLs)."""
    line = read_first_line(path, what, hint=hint)
    try:
        return line.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UsageError(f"{what} {Path(path).name}: the first line is not UTF-8 text") from None
