"""The notification sinks of `origami reconcile --notifications FILE`.

A controller file, not a spec kind: sinks hold credentials (a Slack webhook URL is one, a GitHub
token is one), and whoever may open a pull request on the spec repository must not be able to read
them or point the controller's reports elsewhere. Credentials are named by file (`urlFile`,
`tokenFile`), so the config itself can be shown and versioned.

    notifications:
      - type: webhook           # generic JSON: {"status", "summary", "event"}
        url: https://ops.example.org/hooks/origami
      - type: slack             # {"text": ...}; the webhook URL is a secret
        urlFile: /etc/origami/slack-url
      - type: github            # commit statuses on the spec repository
        repository: acme/specs
        tokenFile: /etc/origami/github-token
        api: https://api.github.com   # default; GitHub Enterprise: https://HOST/api/v3
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError

from specs.errors import UsageError
from wire.secret_files import read_first_line_text

MAX_CONFIG_BYTES = 64 * 1024
REASONS = ("CommitObserved", "CommitInvalid", "RolloutStarted", "RolloutComplete", "RolloutHalted", "BundleFailed")


class SinkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook", "slack", "github"]
    url: str | None = None
    urlFile: str | None = None
    repository: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    tokenFile: str | None = None
    api: str = "https://api.github.com"
    reasons: list[Literal[REASONS]] | None = None  # type: ignore[valid-type]  # default: all


class NotificationsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notifications: list[SinkSpec] = Field(default_factory=list, max_length=32)


@dataclass(frozen=True)
class Sink:
    """A sink ready to send: its secrets read."""

    type: str
    url: str  # where to POST (github: the API's base URL)
    token: str | None = None
    repository: str | None = None
    reasons: tuple[str, ...] = REASONS

    @property
    def name(self) -> str:  # for logs: never the URL (a Slack URL is a secret)
        return f"{self.type}:{self.repository}" if self.repository else self.type


def _secret(path: str, what: str) -> str:
    return read_first_line_text(path, f"notifications: {what}")


def _http_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"notifications: {where}: expected an http(s):// URL")
    return url.rstrip("/")


def load_sinks(path: str | Path) -> list[Sink]:
    """The sinks of a notifications file; UsageError naming the file and the entry, never a secret."""
    path = Path(path)
    try:
        raw = path.read_bytes()[:MAX_CONFIG_BYTES + 1]
    except OSError as err:
        raise UsageError(f"--notifications {path.name}: cannot read it ({err.strerror})") from err
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"--notifications {path.name}: larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        config = NotificationsFile.model_validate(yaml.safe_load(raw) or {})
    except (yaml.YAMLError, ValidationError) as err:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()) \
            if isinstance(err, ValidationError) else "not YAML"
        raise UsageError(f"--notifications {path.name}: {problem}") from None
    sinks = []
    for n, spec in enumerate(config.notifications):
        where = f"notifications[{n}] ({spec.type})"
        reasons = tuple(spec.reasons or REASONS)
        if spec.type == "github":
            if not spec.repository or not spec.tokenFile:
                raise UsageError(f"--notifications {path.name}: {where} needs repository and tokenFile")
            sinks.append(Sink("github", _http_url(spec.api, where), _secret(spec.tokenFile, "tokenFile"),
                              spec.repository, reasons))
            continue
        if (spec.url is None) == (spec.urlFile is None):
            raise UsageError(f"--notifications {path.name}: {where} needs url or urlFile (one of them)")
        url = spec.url if spec.url is not None else _secret(spec.urlFile or "", "urlFile")
        sinks.append(Sink(spec.type, _http_url(url, where), reasons=reasons))
    return sinks
