"""Device- and spec-supplied text made safe to show: control characters become visible escapes.

A device chooses its hello fields, health reasons, event messages and firmware names; a spec
chooses its names and descriptions. Printed raw, an ESC or CSI sequence in them would drive the
operator's terminal (move the cursor, rewrite earlier lines, set the window title, hide text), a
newline would forge a table row, and a bidirectional override would show text in another order
than it is. Every text output passes such strings through `printable()`.
"""
from __future__ import annotations

import re

# C0 controls (tab and newline too: in a table cell they forge columns and rows), DEL, C1 controls
# (0x9b is a one-byte CSI), and the Unicode bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: object) -> str:
    """`str(value)` with every control character written as a visible escape (ESC as `\\x1b`)."""
    return _UNSAFE.sub(_visible, value if isinstance(value, str) else str(value))
