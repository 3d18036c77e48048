"""The kinds operators name on the command line, kubectl-style: plural, singular or short, any case
(`get fleets`, `get fleet`, `get fl`, `describe Fleet/x`, `events --for fleet/x`)."""
from __future__ import annotations

from specs.errors import UsageError

ALIASES = {
    "Dataset": ("datasets", "dataset", "ds"),
    "Model": ("models", "model", "mo"),
    "Fleet": ("fleets", "fleet", "fl"),
    "Device": ("devices", "device", "dev"),
    "Source": ("sources", "source", "src"),
    "Board": ("boards", "board", "bo"),  # the built-in DeviceProfile catalogue (get boards)
}
_BY_WORD = {word: kind for kind, words in ALIASES.items() for word in (*words, kind.lower())}


def kind_of(word: str) -> str:
    """The kind a word names; a UsageError listing the kinds otherwise."""
    kind = _BY_WORD.get(word.lower())
    if kind is None:
        raise UsageError(f"unknown kind '{word}'; kinds: " + ", ".join(f"{k} ({'|'.join(w)})"
                                                                      for k, w in ALIASES.items()))
    return kind


def parse_ref(ref: str) -> tuple[str, str]:
    """KIND/NAME with any spelling of the kind; (Kind, name)."""
    word, _, name = ref.partition("/")
    if not name:
        raise UsageError(f"'{ref}' is not KIND/NAME (e.g. fleet/digits-mcu)")
    return kind_of(word), name
