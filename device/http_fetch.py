"""Artifact download over HTTP(S) with Range requests, resumable, the device's side.

The URL comes from a signed desired state; the server is not trusted for content. Bytes go to the
same `<digest>.part` file the MQTT chunk transfer uses (`device.download.ChunkReceiver`), so a
download cut on one path resumes on either; never more than the signed size is written, and the
receiver checks the whole sha256 before the part becomes `<digest>.bin` (a tampered file raises
`TransferCorrupt` and is discarded). No retry policy here: the agent decides when to ask again.
"""
from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request
from pathlib import Path

from specs.errors import DeviceError
from wire import __version__

BLOCK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class HttpFetchError(DeviceError):
    """The HTTP download stopped before the end (network, server status): resume later from what is on
    disk. `received`: the bytes that did arrive (kept in the part file)."""

    def __init__(self, message: str, received: int = 0) -> None:
        super().__init__(message)
        self.received = received


def fetch_range(url: str, part: Path, size: int, *, timeout: float = 30.0) -> int:
    """Append to `part` the bytes from its current length up to `size`; returns the bytes received.

    Asks `Range: bytes=N-` when the part holds N bytes. A 206 must start at N; a 200 (a server that
    ignores Range) starts again from zero; a 416 means the part is longer than the server's file,
    which is restarted. Raises HttpFetchError when the transfer stops early; what arrived stays."""
    part = Path(part)
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:
        part.unlink()
        offset = 0
    if offset == size:
        return 0
    request = urllib.request.Request(url, headers={"User-Agent": f"origami-agent/{__version__}",
                                                   "Range": f"bytes={offset}-"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # http(s) only: the schema says so
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416:  # what we hold is longer than what the server has: not that file
            part.unlink(missing_ok=True)
        raise HttpFetchError(f"artifact server answered HTTP {err.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise HttpFetchError(f"artifact server unreachable: {_reason(err)}") from None
    with response:
        if response.status == 206:
            start = _range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                raise HttpFetchError(f"artifact server sent a range from {start}, asked from {offset}")
            mode = "ab"
        elif response.status == 200:
            offset, mode = 0, "wb"
        else:
            raise HttpFetchError(f"artifact server answered HTTP {response.status}")
        return _copy(response, part, mode, size - offset)


def _copy(response, part: Path, mode: str, wanted: int) -> int:
    """At most `wanted` bytes of the body appended to `part`; an early end raises HttpFetchError."""
    received = 0
    with open(part, mode) as handle:
        try:
            while received < wanted:
                block = response.read(min(BLOCK, wanted - received))
                if not block:
                    break
                handle.write(block)
                received += len(block)
        except (OSError, http.client.HTTPException) as err:
            handle.flush()
            raise HttpFetchError(f"download cut after {received} bytes: {_reason(err)}", received) from None
    if received < wanted:
        raise HttpFetchError(f"download cut after {received} bytes, {wanted - received} missing", received)
    return received


def _range_start(header: str) -> int | None:
    match = _CONTENT_RANGE.match(header.strip())
    return int(match.group(1)) if match else None


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    return type(reason).__name__ if not str(reason) else str(reason)[:200]
