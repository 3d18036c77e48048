"""Who a request or a command acts as: a `Principal` (operator name, tenant, role), and what each
role may do. Roles are ordered: an admin may do what an operator may, an operator what a viewer may.

- viewer: read the tenant's status, objects, events, samples and metrics;
- operator: also rollout actions, labelling and `reconcile now`;
- admin: also the tenant's tokens (create, list).

Tokens stored before roles existed (no `tenant`/`role` fields) are `default`/`operator`: exactly the
powers they had (every action there was), no more; admin is granted explicitly, never inherited.
"""
from __future__ import annotations

from dataclasses import dataclass

from specs.errors import AuthError
from wire.topics import TENANT_PATTERN  # noqa: F401  (re-exported: the tenants file checks names with it)
from wire.topics import is_tenant_name

DEFAULT_TENANT = "default"
ROLES = ("viewer", "operator", "admin")
LEGACY_ROLE = "operator"


def check_tenant_name(tenant: str) -> str:
    if not is_tenant_name(tenant):
        raise AuthError(f"tenant name {str(tenant)[:40]!r}: use 1-32 lower-case letters, digits and '-'")
    return tenant


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"role {str(role)[:20]!r}: one of {', '.join(ROLES)}")
    return role


def allows(role: str, needed: str) -> bool:
    """Whether `role` includes the powers of `needed`."""
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Principal:
    name: str
    tenant: str = DEFAULT_TENANT
    role: str = LEGACY_ROLE

    def may(self, needed: str) -> bool:
        return allows(self.role, needed)

    def refusal(self, needed: str, what: str) -> str:
        """Why this principal may not do `what` (a 403's detail)."""
        return (f"{what} needs the {needed} role; {self.name} is {self.role} of tenant {self.tenant} "
                f"(an admin of the tenant can give a token with `origami operator-token --tenant {self.tenant} "
                f"--role {needed}`)")

    def signature(self, channel: str) -> str:
        """How an action is recorded: `operator alice (api)`, `admin bob (dashboard, tenant a)`: the
        role, the name, the channel and, beyond the default tenant, the tenant."""
        where = channel if self.tenant == DEFAULT_TENANT else f"{channel}, tenant {self.tenant}"
        return f"{self.role} {self.name} ({where})"
