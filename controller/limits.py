"""What one spec repository may make the controller do: the budgets of spec files, datasets and builds.

Pure (no I/O): a frozen `Limits` with documented defaults, and `limits_from_mapping` for the small
YAML of overrides that `--limits FILE` reads (keys in camelCase, as in specs).
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields
from dataclasses import replace
from typing import Any

from specs.errors import UsageError
from specs.v1alpha1.common import parse_byte_size

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Defaults fit TinyML on a small controller; an operator raises them with `--limits FILE`."""

    max_epochs: int = 1_000                      # any one training, fine-tuning or QAT run
    max_model_parameters: int = 5_000_000        # a Keras model before squeezing (20 MB of float32)
    max_dataset_bytes: int = 256 * MIB           # on disk: the sum of a Dataset's source files
    max_dataset_values: int = 64 * MIB           # numbers decoded into memory (256 MiB as float32)
    max_samples: int = 1_000_000                 # rows, arrays' first axis, images, WAV clips, generated
    max_build_seconds: int = 3_600               # wall time of one model's build (the build worker)
    # The build worker's RLIMIT_DATA (heap and private mappings, not the address space: TensorFlow
    # maps ~2.9 GiB of address space for a build whose data peaks at ~0.6 GiB; docs/security.md).
    max_build_memory_bytes: int = 4 * 1024 * MIB
    max_yaml_nodes: int = 100_000                # per spec file, after expanding aliases and merges
    max_yaml_depth: int = 64                     # nesting of mappings and lists in a spec file
    max_spec_file_bytes: int = 4 * MIB           # one spec file


DEFAULT_LIMITS = Limits()

# The name of each limit in a limits file and in messages, and whether it is a size in bytes.
KEYS: dict[str, tuple[str, bool]] = {
    "maxEpochs": ("max_epochs", False),
    "maxModelParameters": ("max_model_parameters", False),
    "maxDatasetBytes": ("max_dataset_bytes", True),
    "maxDatasetValues": ("max_dataset_values", False),
    "maxSamples": ("max_samples", False),
    "maxBuildSeconds": ("max_build_seconds", False),
    "maxBuildMemoryBytes": ("max_build_memory_bytes", True),
    "maxYamlNodes": ("max_yaml_nodes", False),
    "maxYamlDepth": ("max_yaml_depth", False),
    "maxSpecFileBytes": ("max_spec_file_bytes", True),
}
KEY_OF = {attribute: key for key, (attribute, _) in KEYS.items()}
assert set(KEY_OF) == {f.name for f in fields(Limits)}, "every limit has a key in limits files"

# Hard ceilings: a limits file may raise a budget, not make it unbounded.
CEILING = 2**50


def key_of(attribute: str) -> str:
    """'max_epochs' -> 'maxEpochs', the name a user writes in a limits file."""
    return KEY_OF[attribute]


def how_to_raise(attribute: str) -> str:
    """The hint every over-budget message ends with."""
    return f"the controller's limit {key_of(attribute)} can be raised with --limits FILE"


def show_bytes(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} B"


def exceeds(limits: Limits, attribute: str, what: str) -> str:
    """'<what>, more than the limit of <value>; <how to raise it>' for the limit `attribute`."""
    value = getattr(limits, attribute)
    shown = show_bytes(value) if KEYS[key_of(attribute)][1] else f"{value:,}"
    return f"{what}, more than the limit of {shown}; {how_to_raise(attribute)}"


def limits_from_mapping(data: Any, where=lambda key: "") -> Limits:
    """Defaults overridden by `data` (camelCase keys); `where(key)` prefixes a message with a location.

    Raises UsageError naming the key and what is wrong; no value is echoed beyond its kind.
    """
    if data is None:
        return DEFAULT_LIMITS
    if not isinstance(data, dict):
        raise UsageError(f"{where(None)}a limits file is a mapping such as 'maxEpochs: 5000'")
    changes: dict[str, int] = {}
    for key, value in data.items():
        if key not in KEYS:
            raise UsageError(f"{where(key)}{key!s:.40}: unknown limit; known: {', '.join(KEYS)}")
        attribute, is_bytes = KEYS[key]
        try:
            number = parse_byte_size(value) if is_bytes else value
        except ValueError as err:
            raise UsageError(f"{where(key)}{key}: {err}") from None
        if isinstance(number, bool) or not isinstance(number, int) or not 0 < number <= CEILING:
            kind = "a size such as 1GiB" if is_bytes else "a whole number"
            raise UsageError(f"{where(key)}{key}: expected {kind} above 0 and at most 2**50")
        changes[attribute] = number
    return replace(DEFAULT_LIMITS, **changes)
