"""The state store's own records under /api/v1/records: what `origami ... --server URL` reads so that
it prints exactly what the same command prints from the local state store (one printing path, two
sources). Read-only, under the same rules as every other read (open on loopback, the token off it).

The rest of what the CLI reads comes from the views that already equal its JSON: objects and the
source from /api/v1/status, events from /api/v1/events, samples from /api/v1/samples.
"""
from __future__ import annotations

from fastapi import APIRouter
from fastapi import Depends
from fastapi import HTTPException
from fastapi import Path
from fastapi import Query
from pydantic import BaseModel

from controller.state.records import DesiredRecord
from controller.state.records import DeviceRecord
from controller.state.records import InstallRecord
from controller.state.records import RolloutRecord
from controller.store.stage_cache import StageCache
from controller.web.context import Dashboard
from controller.web.context import dashboard

router = APIRouter(prefix="/api/v1/records", tags=["records"])


class StageLookup(BaseModel):
    key: str
    cached: bool


@router.get("/devices", response_model=list[DeviceRecord], summary="every device the controller knows, as recorded")
def devices(board: Dashboard = Depends(dashboard)):
    return board.store.devices()


@router.get("/desired", response_model=list[DesiredRecord],
            summary="the desired state recorded for each device (what it was told to run)")
def desired(board: Dashboard = Depends(dashboard)):
    return list(board.store.desired().values())


@router.get("/installs", response_model=list[InstallRecord], summary="install records, oldest first")
def installs(device: str | None = Query(None, min_length=1, max_length=253), board: Dashboard = Depends(dashboard)):
    return board.store.installs(device)


@router.get("/rollouts", response_model=list[RolloutRecord], summary="every fleet's rollout record")
def rollouts(board: Dashboard = Depends(dashboard)):
    return board.store.rollouts()


@router.get("/stages/{key}", response_model=StageLookup,
            summary="whether a stage's outputs are in the artifact store (`origami plan --server`)")
def stage(key: str = Path(pattern=r"^[0-9a-f]{8,128}$"), board: Dashboard = Depends(dashboard)):
    if board.artifacts is None:
        raise HTTPException(404, "this controller serves no artifact store")
    return StageLookup(key=key, cached=StageCache(board.artifacts).is_cached(key))
