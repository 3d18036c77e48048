"""The controller's tenants (`--tenants FILE`): a file of the controller's own, never of a spec
repository, since it says what each team may reach and use.

    tenants:
      - name: acme                        # 1-32 of a-z, 0-9, '-': a topic level, a directory, a label
        source: {git: https://git.example.org/acme/specs.git, branch: main, path: fleets}
        devices: [acme-001, acme-002]     # enrolled by `origami broker config --tenants FILE`
        limits: {parallelBuilds: 1, devices: 500, storage: 20GiB}
      - name: globex
        source: {path: /srv/globex-specs}   # a local directory, watched

Each tenant gets, derived from its name so that no two can share them: its device namespace
(`origami/v1/t/NAME/...` on the broker; `default` keeps `origami/v1/...`), its state, signing keys
and artifact store under `STATE/tenants/NAME/` (`default`: STATE itself, so a single-team controller
moves to a tenants file without losing anything), and its own build queue of `parallelBuilds` workers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import model_validator

from controller.tenancy.roles import DEFAULT_TENANT
from controller.tenancy.roles import TENANT_PATTERN
from specs.errors import UsageError
from specs.v1alpha1.common import parse_byte_size
from specs.v1alpha1.protocol import DEVICE_ID_PATTERN
from wire.secret_files import read_bounded
from wire.topics import tenant_root

MAX_FILE_BYTES = 256 * 1024
MAX_TENANTS = 256


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    git: str | None = Field(default=None, max_length=2048)
    branch: str = Field(default="main", max_length=255)
    path: str = Field(default="", max_length=1024)  # with git: the directory inside it; else a local directory

    @model_validator(mode="after")
    def _somewhere(self) -> SourceSpec:
        if not self.git and not self.path:
            raise ValueError("a source needs `git: URL` (and optionally `path:` inside it) or a local `path:`")
        return self


class LimitsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parallelBuilds: int = Field(default=1, ge=1, le=64)
    devices: int = Field(default=10_000, ge=0, le=10_000_000)
    storage: str | int = "10GiB"  # the tenant's artifact store, before `origami gc` must make room

    @property
    def storage_bytes(self) -> int:
        return self.storage if isinstance(self.storage, int) else parse_byte_size(self.storage)


class TenantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TENANT_PATTERN)
    source: SourceSpec
    devices: list[str] = Field(default_factory=list, max_length=100_000)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)


class TenantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenants: list[TenantSpec] = Field(min_length=1, max_length=MAX_TENANTS)


@dataclass(frozen=True)
class Tenant:
    """One tenant and everything derived from its name."""

    spec: TenantSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def topic_root(self) -> str:
        return tenant_root(self.name)

    def state_dir(self, root: str | Path) -> Path:
        """Its state, signing keys and artifacts (`.origami/artifacts`, the artifact namespace)."""
        return Path(root) if self.name == DEFAULT_TENANT else Path(root) / "tenants" / self.name


def load_tenants(path: str | Path) -> list[Tenant]:
    """The tenants of a file; UsageError naming the file and the field (never echoing its content)."""
    path = Path(path)
    raw = read_bounded(path, "--tenants", MAX_FILE_BYTES)
    try:
        parsed = TenantsFile.model_validate(yaml.safe_load(raw.decode("utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UsageError(f"--tenants {path.name}: not YAML ({type(err).__name__})") from None
    except ValidationError as err:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:5])
        raise UsageError(f"--tenants {path.name}: {where}") from None
    return check_tenants([Tenant(spec) for spec in parsed.tenants])


def check_tenants(tenants: list[Tenant]) -> list[Tenant]:
    """Names once each; a device id in one tenant only (it is a broker account and a topic level)."""
    import re

    seen: dict[str, str] = {}
    names = [t.name for t in tenants]
    if len(set(names)) != len(names):
        raise UsageError(f"tenant {sorted(n for n in names if names.count(n) > 1)[0]} is named twice")
    for tenant in tenants:
        for device in tenant.spec.devices:
            if not re.match(DEVICE_ID_PATTERN, device):
                raise UsageError(f"tenant {tenant.name}: device id {device[:70]!r} must be lower-case letters, "
                                 "digits and '-'")
            if seen.setdefault(device, tenant.name) != tenant.name:
                raise UsageError(f"device {device} is in tenants {seen[device]} and {tenant.name}; a device "
                                 "belongs to one tenant")
    return tenants


def device_tenants(tenants: list[Tenant]) -> dict[str, str]:
    """device id -> its tenant, for the devices the file lists."""
    return {device: t.name for t in tenants for device in t.spec.devices}
