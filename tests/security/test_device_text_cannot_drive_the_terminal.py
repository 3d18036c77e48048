"""A device (or a spec) puts terminal escapes in the strings it controls: its board name, health
reason, reported version, event messages. The attack: when an operator runs `origami get`,
`describe`, `events` or `status`, or opens the dashboard, the ESC/CSI/OSC sequences rewrite the
screen (hide a failure, forge a row, set the window title). Every text output must show them as
visible escapes; JSON and YAML must keep the exact string (nothing lost)."""
from __future__ import annotations

import json
import time

import httpx
import yaml

from controller.reconciler.conditions import with_conditions
from controller.state import ObjectStatus
from controller.state import RolloutRecord
from controller.state import StateStore
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from tests.security.attacker import origami
from wire.text import printable

# Clear the screen, recolour, set the window title (OSC ... BEL), a one-byte C1 CSI, a forged
# table row after a newline, a carriage return that overwrites the line, a right-to-left override.
EVIL = "ok\x1b[2J\x1b[32mhealthy\x1b]0;pwned\x07\x9b31m\nrpi-9  in sync\r\u202eexe.txt"
RAW = ("\x1b", "\x07", "\x9b", "\r", "\u202e")
FLEET = "lab"


def _planted(state) -> None:
    store = StateStore(state / "origami-state.db")
    store.observe_device("dev-1", board=EVIL, labels={"site": "lab"}, hello={"deviceId": "dev-1", "firmware": EVIL})
    store.observe_device("dev-1", reported={"modelVersion": EVIL, "reason": EVIL}, reported_version=EVIL,
                         healthy=False)
    store.put_rollout(RolloutRecord(FLEET, target="v2", phase="progressing", failures=["dev-1"]))
    store.put_object(with_conditions(ObjectStatus("Fleet", FLEET, detail={"members": 1, "phase": "halted",
                                                                          "reason": EVIL}),
                                     time.time(), ready=(False, "RolloutHalted", f"dev-1 failed: {EVIL}")))
    store.emit("Fleet", FLEET, "DeviceFailed", f"dev-1 failed v2: {EVIL}", warning=True)
    store.close()


def _assert_shown_not_obeyed(text: str, quoted: bool = True) -> None:
    for char in RAW:
        assert char not in text, (char, text)
    assert "\nrpi-9  in sync" not in text  # no forged line
    assert not quoted or "ok\\x1b[2J\\x1b[32mhealthy" in text


def test_cli_text_output_shows_escapes_instead_of_obeying_them(tmp_path):
    _planted(tmp_path)
    for argv in (["get", "devices"], ["get", "fleets"], ["status"], ["describe", f"fleet/{FLEET}"],
                 ["describe", "device/dev-1"], ["events"]):
        done = origami(*argv, "--state-dir", str(tmp_path))
        assert done.returncode == 0, done.stderr
        _assert_shown_not_obeyed(done.stdout, quoted=argv != ["get", "fleets"])


def test_json_and_yaml_keep_the_exact_string_escaped_by_their_own_rules(tmp_path):
    _planted(tmp_path)
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        done = origami("get", "devices", "-o", fmt, "--state-dir", str(tmp_path))
        assert done.returncode == 0, done.stderr
        for char in RAW:
            assert char not in done.stdout, (fmt, char)
        assert load(done.stdout)[0]["board"] == EVIL  # nothing lost


def test_dashboard_pages_escape_and_the_api_keeps_the_string(tmp_path):
    _planted(tmp_path)
    store = StateStore(tmp_path / "origami-state.db")
    tokens, _ = ensure_operator_token(tmp_path)
    with DashboardServer(create_app(store, tokens=tokens), "127.0.0.1", 0) as server:
        for page in ("/", "/devices", "/devices/dev-1", f"/fleets/{FLEET}", "/events"):
            html = httpx.get(server.url + page).text
            assert "\x1b" not in html and "\x9b" not in html and "\u202e" not in html, page
            assert "\\x1b[2J" in html, page
        api = httpx.get(server.url + "/api/v1/devices/dev-1")
        assert "\x1b" not in api.text and api.json()["board"] == EVIL


def test_printable_covers_every_control_character():
    controls = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                                 *range(0x2066, 0x206A)]))
    shown = printable("a" + controls + "zé")
    assert shown.isprintable() and shown.startswith("a\\x00") and shown.endswith("\\u2069zé")
    assert printable("plain text, naïve, 温度") == "plain text, naïve, 温度"
