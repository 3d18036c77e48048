"""The lists of every kind, and objects declared in the applied specs that the loop has not
reconciled yet (shown as Pending instead of a 404)."""
from __future__ import annotations

from dataclasses import dataclass

from controller.loading import SpecRepository
from controller.reconciler.conditions import summary
from controller.state import StateStore
from controller.state.records import ObjectStatus

KINDS = {"datasets": "Dataset", "models": "Model", "fleets": "Fleet"}
PENDING = "Pending"


@dataclass(frozen=True)
class ListedObject:
    kind: str
    name: str
    status: str          # Ready, Reconciling, Stalled, NotReady, Unknown, or Pending (declared only)
    message: str         # the Ready condition's message, or why it is pending
    updated_at: float | None
    halted: bool = False  # a fleet whose rollout halted: shown red whatever its conditions say


def declared(repo: SpecRepository | None, kind: str) -> dict[str, object]:
    """name -> spec of the objects of `kind` in the applied commit (empty before the first one)."""
    if repo is None:
        return {}
    return {"Dataset": repo.datasets, "Model": repo.models, "Fleet": repo.fleets}[kind]


def pending_message(kind: str) -> str:
    what = {"Dataset": "its first snapshot", "Model": "its first build", "Fleet": "its first release"}[kind]
    return f"declared in the applied commit; the controller has not reconciled it yet (waiting for {what})"


def _listed(o: ObjectStatus, halted: set[str]) -> ListedObject:
    ready = o.conditions.get("Ready")
    message = o.last_error or (ready.message if ready else "")
    return ListedObject(o.kind, o.name, summary(o), message, o.updated_at, o.kind == "Fleet" and o.name in halted)


def object_list(store: StateStore, repo: SpecRepository | None, kind: str) -> list[ListedObject]:
    """Every object of `kind` the state store holds, then the declared ones it does not, by name."""
    halted = {r.fleet for r in store.rollouts() if r.phase == "halted"} if kind == "Fleet" else set()
    rows = {o.name: _listed(o, halted) for o in store.objects(kind)}
    for name in declared(repo, kind):
        rows.setdefault(name, ListedObject(kind, name, PENDING, pending_message(kind), None))
    return [rows[n] for n in sorted(rows)]
