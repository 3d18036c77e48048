"""The versioned JSON API under /api/v1 (documented at /openapi.json)."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Literal
from typing import TypeVar

from fastapi import APIRouter
from fastapi import Depends
from fastapi import HTTPException
from fastapi import Path
from fastapi import Query
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.responses import StreamingResponse

from controller.collect.index import Selection
from controller.tenancy.roles import Principal
from controller.web import samples as sampling
from controller.web.actions import label_action
from controller.web.actions import rollout_action
from controller.web.applied import applied_specs
from controller.web.auth import CSRF_COOKIE
from controller.web.auth import CSRF_HEADER
from controller.web.auth import SESSION_COOKIE
from controller.web.auth import csrf_matches
from controller.web.cards import FIGURES
from controller.web.cards import card_summary
from controller.web.cards import model_cards
from controller.web.context import Dashboard
from controller.web.context import dashboard
from controller.web.hosts import origin_matches
from controller.web.progress import fleet_members
from controller.web.progress import fleet_progress
from controller.web.streams import MAX_SEQ
from controller.web.streams import RETRY_AFTER_SECONDS
from controller.web.streams import last_event_id
from controller.web.views import ActionResult
from controller.web.views import BoardFit
from controller.web.views import CardView
from controller.web.views import DatasetView
from controller.web.views import DeviceDetail
from controller.web.views import DeviceRow
from controller.web.views import EventView
from controller.web.views import FleetView
from controller.web.views import LabelRequest
from controller.web.views import LabelResult
from controller.web.views import ModelView
from controller.web.views import ObjectView
from controller.web.views import Problem
from controller.web.views import RejectionView
from controller.web.views import RolloutView
from controller.web.views import SampleCounts
from controller.web.views import SampleView
from controller.web.views import StatusView
from controller.web.views import VariantView
from controller.web.views import device_detail
from controller.web.views import device_rows
from controller.web.views import event_views
from controller.web.views import object_view
from controller.web.views import status_view
from specs.errors import UsageError
from specs.v1alpha1.budget import board_budget
from specs.v1alpha1.budget import misfit

router = APIRouter(prefix="/api/v1", tags=["v1"])
NOT_FOUND = {404: {"model": Problem, "description": "no such object"}}
def Name():  # a fresh Path() per parameter: FastAPI binds a FieldInfo to its first parameter
    return Path(min_length=1, max_length=253)
EVENTS_SHOWN = 30


T = TypeVar("T")


def _missing(what: str) -> HTTPException:
    return HTTPException(404, f"no {what} in the state store; see `origami status`")


def _found(view: T | None, what: str) -> T:
    """The view, or a 404 that says what is missing."""
    if view is None:
        raise _missing(what)
    return view


@router.get("/status", response_model=StatusView, summary="every object's conditions (`origami status`)")
def get_status(board: Dashboard = Depends(dashboard)) -> StatusView:
    return status_view(board.store)


def _objects(board: Dashboard, kind: str) -> list[ObjectView]:
    return [ObjectView(**object_view(o)) for o in board.store.objects(kind)]


@router.get("/datasets", response_model=list[ObjectView])
def list_datasets(board: Dashboard = Depends(dashboard)):
    return _objects(board, "Dataset")


@router.get("/datasets/{name}", response_model=DatasetView, responses=NOT_FOUND)
def get_dataset(name: str = Name(), board: Dashboard = Depends(dashboard)):
    obj = board.store.object("Dataset", name)
    if obj is None:
        raise _missing(f"Dataset/{name}")
    return DatasetView(**object_view(obj), events=event_views(board.store.events(kind="Dataset", name=name,
                                                                                 limit=EVENTS_SHOWN)))


@router.get("/models", response_model=list[ObjectView])
def list_models(board: Dashboard = Depends(dashboard)):
    return _objects(board, "Model")


def model_view(board: Dashboard, name: str) -> ModelView | None:
    obj = board.store.object("Model", name)
    if obj is None:
        return None
    figures = {v: f.dump() for v, f in obj.model.variants.items()}
    digests = {v: f["digest"] for v, f in figures.items() if f.get("digest")}
    cards = model_cards(board.artifacts, name, digests)
    repo = applied_specs(board.store)
    boards, reserve = [], 0
    if repo is not None:  # the boards of the fleets that run this model
        used = sorted({b for f in repo.fleets.values() if f.spec.model == name for b in f.spec.selector.boards})
        used = used or sorted({d.board for d in board.store.devices() if d.board in repo.profiles})
        boards = [(b, repo.profiles[b].spec) for b in used if b in repo.profiles]
        reserve = repo.models[name].spec.split.firmwareReserve if name in repo.models else 0
    variants = []
    for vname, f in figures.items():
        # the controller's own rule (selection and splitting): RAM and flash less the firmware reserve
        fits = [BoardFit(board=b, ram=p.ram, flash=p.flash, runtime=p.runtime,
                         fits=None if p.runtime != "tflm" or not f.get("tflm") or f.get("arena") is None else
                         not misfit(board_budget(p, reserve), size=f.get("size") or 0, arena=f["arena"]))
                for b, p in boards]
        files = cards.get(vname, {}).get("files", {})
        variants.append(VariantView(
            name=vname, passed=bool(f.get("passed")), quantization=f.get("quantization"), size=f.get("size"),
            accuracy=f.get("accuracy"), mae=f.get("mae"), arena=f.get("arena"), digest=f.get("digest"),
            failures=list(f.get("failures", [])), tflm=f.get("tflm"), boards=fits,
            figures={fig: f"/api/v1/models/{name}/variants/{vname}/figures/{fig}" for fig in FIGURES if fig in files}))
    card = next(iter(cards.values()), None)
    return ModelView(**object_view(obj), variants=variants,
                     card=CardView(**card_summary(card["card"])) if card else None,
                     events=event_views(board.store.events(kind="Model", name=name, limit=EVENTS_SHOWN)))


@router.get("/models/{name}", response_model=ModelView, responses=NOT_FOUND,
            summary="a model with its variants' measured figures and model-card plots")
def get_model(name: str = Name(), board: Dashboard = Depends(dashboard)):
    return _found(model_view(board, name), f"Model/{name}")


@router.get("/models/{name}/variants/{variant}/figures/{figure}", response_class=Response, responses={
    200: {"content": {"image/png": {}}, "description": "a model-card plot"}, **NOT_FOUND})
def get_figure(name: str = Name(), variant: str = Name(),
               figure: Literal["training_curves.png", "confusion.png", "size_vs_accuracy.png"] = Path(),
               board: Dashboard = Depends(dashboard)):
    obj = board.store.object("Model", name)
    figures = {v: f.dump() for v, f in obj.model.variants.items()} if obj else {}
    if variant not in figures:
        raise _missing(f"variant {variant} of Model/{name}")
    digests = {v: f["digest"] for v, f in figures.items() if f.get("digest")}
    files = model_cards(board.artifacts, name, digests).get(variant, {}).get("files", {})
    if figure not in files:
        raise HTTPException(404, f"no {figure} for {name}/{variant} in the artifact store")
    return Response(board.artifacts.read_bytes(files[figure]), media_type="image/png",
                    headers={"Cache-Control": "max-age=86400, immutable"})


@router.get("/fleets", response_model=list[ObjectView])
def list_fleets(board: Dashboard = Depends(dashboard)):
    return _objects(board, "Fleet")


def fleet_view(board: Dashboard, name: str) -> FleetView | None:
    store = board.store
    obj = store.object("Fleet", name)
    if obj is None:
        return None
    rollout = store.rollout(name)
    repo = applied_specs(store)
    desired = store.desired()
    members = fleet_members(name, repo.fleets if repo else None, store.devices(), desired)
    spec = repo.fleets.get(name) if repo else None
    return FleetView(**object_view(obj), model=spec.spec.model if spec else None,
                     events=event_views(store.events(kind="Fleet", name=name, limit=EVENTS_SHOWN)),
                     rollout=RolloutView(**rollout.to_dict()) if rollout else None,
                     progress=fleet_progress(obj, rollout, members))


@router.get("/fleets/{name}", response_model=FleetView, responses=NOT_FOUND,
            summary="a fleet with its rollout: progress by strategy step and by board class, failures")
def get_fleet(name: str = Name(), board: Dashboard = Depends(dashboard)):
    return _found(fleet_view(board, name), f"Fleet/{name}")


def api_principal(request: Request, board: Dashboard = Depends(dashboard)) -> Principal:
    """A bearer token, or a dashboard session whose request carries the CSRF header and our Origin."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        who = board.tokens.principal(header[7:].strip())
        if who is None:
            raise HTTPException(401, "the operator token is not valid")
        return who
    who = board.sessions.holder(request.cookies.get(SESSION_COOKIE))
    if who is None:
        raise HTTPException(401, "operator actions need `Authorization: Bearer <operator token>`")
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)) or \
            not origin_matches(request.headers.get("origin"), request.headers.get("host")):
        raise HTTPException(403, "cross-site request refused: send the X-CSRF-Token header from the dashboard")
    return who


def api_operator(who: Principal = Depends(api_principal)) -> Principal:
    """The caller, when its role may act (rollouts, labels, reconcile now): 403 with the reason otherwise."""
    if not who.may("operator"):
        raise HTTPException(403, who.refusal("operator", "this action"))
    return who


@router.post("/fleets/{name}/rollout/{action}", response_model=ActionResult, responses={
    401: {"model": Problem, "description": "no valid operator token"},
    403: {"model": Problem, "description": "cross-site request refused"}, **NOT_FOUND},
    summary="pause, resume, undo or retry a fleet's rollout (operator token required)")
def post_rollout_action(action: Literal["pause", "resume", "undo", "retry"], name: str = Name(),
                        operator: Principal = Depends(api_operator), board: Dashboard = Depends(dashboard)):
    try:
        return rollout_action(board.store, name, action, operator, "api")
    except UsageError as err:
        raise HTTPException(404, str(err)) from err


@router.get("/devices", response_model=list[DeviceRow])
def list_devices(board: Dashboard = Depends(dashboard)):
    return device_rows(board.store)


@router.get("/devices/{device_id}", response_model=DeviceDetail, responses=NOT_FOUND,
            summary="a device: capabilities, reported version and health, last seen, installs")
def get_device(device_id: str = Name(), board: Dashboard = Depends(dashboard)):
    return _found(device_detail(board.store, device_id), f"device {device_id}")


def _events(board: Dashboard, since: int, kind: str | None, name: str | None, type_: str | None,
            limit: int | None, not_before: float | None = None) -> list[EventView]:
    events = board.store.events(since=since, kind=kind, name=name, limit=None if type_ else limit,
                                not_before=not_before)
    if type_:
        events = [e for e in events if e.type == type_][-limit:] if limit else [e for e in events if e.type == type_]
    return event_views(events)


@router.get("/events", response_model=list[EventView], summary="the event trail, oldest first (filterable)")
def list_events(since: int = Query(0, ge=0, le=MAX_SEQ, description="only events after this sequence number"),
                kind: str | None = Query(None, max_length=64), name: str | None = Query(None, max_length=253),
                type: Literal["Normal", "Warning"] | None = None,
                limit: int = Query(100, ge=1, le=10_000, description="the last N matching events"),
                notBefore: float | None = Query(None, ge=0, le=1e12, description="only events at or after this "
                                                "Unix time (`origami events --since 1h`)"),
                board: Dashboard = Depends(dashboard)):
    return _events(board, since, kind, name, type, limit, notBefore)


@router.get("/events/stream", include_in_schema=False)
async def stream_events(request: Request, since: int = Query(0, ge=0, le=MAX_SEQ),
                        kind: str | None = Query(None, max_length=64), name: str | None = Query(None, max_length=253),
                        board: Dashboard = Depends(dashboard)):
    """Server-sent events: one `event: origami` per trail entry, `id:` its sequence number (a
    reconnecting browser resumes from Last-Event-ID). At most `board.streams.limit` at once (503 and
    Retry-After beyond); a stream without a new event for `board.stream_idle` seconds ends."""
    try:
        resume = last_event_id(request.headers.get("last-event-id"))
    except UsageError as err:
        raise HTTPException(400, str(err)) from err
    slot = board.streams.take()
    if slot is None:
        raise HTTPException(503, f"{board.streams.limit} event streams are open, the most this server allows; "
                                 "retry later", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    async def feed():
        try:
            seq = since if resume is None else resume
            quiet_since = time.monotonic()
            yield "retry: 1000\n\n"
            while not await request.is_disconnected():
                events = await run_in_threadpool(board.store.events, since=seq, kind=kind, name=name)
                for e in events:
                    seq = e.seq
                    yield f"id: {e.seq}\nevent: origami\ndata: {json.dumps(e.to_dict())}\n\n"
                if events:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > board.stream_idle:
                    return  # idle: the client reconnects from its Last-Event-ID when it still wants to
                else:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(board.stream_poll)
        finally:
            slot.release()
    return StreamingResponse(feed(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


# --- collected samples and labels -------------------------------------------------------------
TOTAL_HEADER = {"X-Total-Count": {"description": "samples matching the filters (all pages)",
                                  "schema": {"type": "integer"}}}
Time = dict(ge=-1e12, le=1e12)


def window_filters(device: str | None = Query(None, min_length=1, max_length=253),
                   session: str | None = Query(None, min_length=1, max_length=253),
                   label: list[str] | None = Query(None, description="only samples with one of these labels"),
                   unlabelled: bool = Query(False, description="only samples without a label"),
                   since: float | None = Query(None, description="window start at or after (Unix s)", **Time),
                   until: float | None = Query(None, description="window start before (Unix s)", **Time)) -> Selection:
    """The filters of `origami samples ls` that also narrow a dataset's samples."""
    return Selection(device=device, session=session, since=since, until=until,
                     labels=tuple(label) if label else None, labelled=False if unlabelled else None)


def sample_filters(window: Selection = Depends(window_filters),
                   sensor: str | None = Query(None, min_length=1, max_length=253),
                   fleet: str | None = Query(None, min_length=1, max_length=253)) -> Selection:
    return sampling.narrow(window, Selection(sensor=sensor, fleet=fleet))


def _sample_page(board: Dashboard, selection: Selection, offset: int, limit: int, response: Response):
    records, total = sampling.page(board.sample_index(), selection, offset, limit)
    response.headers["X-Total-Count"] = str(total)
    return [SampleView(**r.to_dict()) for r in records]


def Offset():  # a fresh Query() per parameter, as Name()
    return Query(0, ge=0, le=MAX_SEQ, description="skip this many samples (oldest first)")


def Limit():
    return Query(50, ge=1, le=1000, description="at most this many samples")


@router.get("/samples", response_model=list[SampleView], responses={200: {"headers": TOTAL_HEADER}},
            summary="collected samples, oldest first, paged (`origami samples ls -o json`)")
def list_samples(response: Response, selection: Selection = Depends(sample_filters), offset: int = Offset(),
                 limit: int = Limit(), board: Dashboard = Depends(dashboard)):
    return _sample_page(board, selection, offset, limit, response)


@router.get("/samples/counts", response_model=SampleCounts,
            summary="samples per label and collector counters per device (`origami samples ls --counts`)")
def sample_counts(selection: Selection = Depends(sample_filters), board: Dashboard = Depends(dashboard)):
    index = board.sample_index()
    return SampleCounts(labels=index.counts_by_label(selection), devices=index.device_counters())


@router.get("/samples/rejected", response_model=list[RejectionView],
            summary="messages the collector rejected, with the reason (`origami samples ls --rejected`)")
def rejected_samples(device: str | None = Query(None, min_length=1, max_length=253),
                     board: Dashboard = Depends(dashboard)):
    return board.sample_index().rejections(device)


@router.post("/samples/label", response_model=LabelResult, responses={
    401: {"model": Problem, "description": "no valid operator token"},
    403: {"model": Problem, "description": "cross-site request refused"},
    404: {"model": Problem, "description": "no sample matches, or no such dataset"}},
    summary="label samples by session, time range or id; null unlabels (operator token required)")
def post_label(request: LabelRequest, operator: Principal = Depends(api_operator),
               board: Dashboard = Depends(dashboard)):
    try:
        return label_action(board.store, board.sample_index(), request, operator, "api")
    except UsageError as err:
        raise HTTPException(404, str(err)) from err


@router.get("/datasets/{name}/samples", response_model=list[SampleView], responses={
    200: {"headers": TOTAL_HEADER}, 404: {"model": Problem, "description": "no such dataset or collected source"}},
    summary="the samples a dataset's collected source can take, labelled or not, oldest first, paged")
def dataset_samples(response: Response, name: str = Name(), source: int = Query(
                        0, ge=0, le=1000, description="which of the dataset's collected sources"),
                    selection: Selection = Depends(window_filters), offset: int = Offset(), limit: int = Limit(),
                    board: Dashboard = Depends(dashboard)):
    sources = sampling.collected_sources(board.store, name)
    if sources is None:
        raise _missing(f"Dataset/{name} in the applied specs")
    if source >= len(sources):
        raise HTTPException(404, f"Dataset/{name} has {len(sources)} collected source(s); "
                                 f"`source` counts from 0")
    return _sample_page(board, sampling.narrow(sampling.browse_selection(sources[source]), selection), offset,
                        limit, response)
