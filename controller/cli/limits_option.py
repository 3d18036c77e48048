"""`--limits FILE`: a small YAML file of overrides of the controller's limits (docs/security.md).

    maxEpochs: 5000
    maxDatasetBytes: 1GiB
"""
from __future__ import annotations

from pathlib import Path

from controller.limits import DEFAULT_LIMITS
from controller.limits import KEYS
from controller.limits import Limits
from controller.limits import limits_from_mapping
from controller.loading.yaml_positions import read_yaml
from specs.errors import UsageError

MAX_LIMITS_FILE_BYTES = 64 * 1024


def add_limits_option(parser) -> None:
    parser.add_argument("--limits", metavar="FILE", default=None,
                        help="YAML overrides of the controller's limits, e.g. 'maxEpochs: 5000' "
                             f"(keys: {', '.join(KEYS)})")


def limits_from_args(args) -> Limits:
    """The defaults, or the defaults overridden by the file `--limits` names (UsageError if it is wrong)."""
    if not getattr(args, "limits", None):
        return DEFAULT_LIMITS
    shown = args.limits
    try:
        path = Path(shown)
        if path.stat().st_size > MAX_LIMITS_FILE_BYTES:
            raise UsageError(f"{shown}: a limits file holds at most {MAX_LIMITS_FILE_BYTES // 1024} KiB")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{shown}: not UTF-8 text: {err.reason}") from None
    except OSError as err:
        raise UsageError(f"{shown}: cannot read: {err.strerror}") from None
    docs, issues = read_yaml(shown, text)
    if issues:
        raise UsageError(str(issues[0]))
    if len(docs) > 1:
        raise UsageError(f"{shown}: a limits file holds one YAML document")
    if not docs:
        return DEFAULT_LIMITS
    doc = docs[0]

    def where(key) -> str:
        line, col = doc.position((key,), prefer_key=True) if key is not None else doc.start
        return f"{shown}:{line}:{col}: "

    return limits_from_mapping(doc.data, where)


def add_repo_code_option(parser) -> None:
    parser.add_argument("--allow-repo-code", action="store_true",
                        help="let Models with architecture.entryPoint run the spec repository's Python code, "
                             "in the sandboxed build worker (docs/security.md)")
    parser.add_argument("--allow-unsandboxed-repo-code", action="store_true",
                        help="as --allow-repo-code, and also where the host cannot sandbox builds (no user "
                             "namespaces): the code then runs with the controller's rights")


def repo_code_from_args(args) -> bool | str:
    """What `SandboxedBuilder(allow_repo_code=...)` takes: False, True or "unsandboxed"."""
    if getattr(args, "allow_unsandboxed_repo_code", False):
        return "unsandboxed"
    return bool(getattr(args, "allow_repo_code", False))
