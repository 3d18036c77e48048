"""Server-rendered dashboard pages (jinja2, no build step); live parts poll the JSON API."""
from __future__ import annotations

import math
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.responses import RedirectResponse
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import ValidationError

from controller.collect.index import Selection
from controller.web import samples as sampling
from controller.web.actions import ROLLOUT_ACTIONS
from controller.web.actions import label_action
from controller.web.actions import rollout_action
from controller.web.api import fleet_view
from controller.web.api import model_view
from controller.web.applied import applied_specs
from controller.web.auth import CSRF_COOKIE
from controller.web.auth import CSRF_FIELD
from controller.web.auth import SESSION_COOKIE
from controller.web.auth import SESSION_SECONDS
from controller.web.auth import csrf_matches
from controller.web.auth import new_csrf_token
from controller.web.cards import model_cards
from controller.web.context import Dashboard
from controller.web.context import dashboard
from controller.web.context import shared
from controller.web.dataset_page import snapshot_summary
from controller.web.device_list import COLUMNS
from controller.web.device_list import DeviceQuery
from controller.web.device_list import device_page as device_table
from controller.web.hosts import origin_matches
from controller.web.listing import KINDS
from controller.web.listing import declared
from controller.web.listing import object_list
from controller.web.listing import pending_message
from controller.web.model_page import board_assignments
from controller.web.model_page import board_fronts
from controller.web.model_page import confusion_alt
from controller.web.model_page import size_chart
from controller.web.model_page import training_alt
from controller.web.rollout_chart import rollout_chart
from controller.web.rollout_chart import timeline
from controller.web.timefmt import time_tag
from controller.web.views import LabelRequest
from controller.web.views import device_detail
from controller.web.views import device_rows
from controller.web.views import event_views
from controller.web.views import object_view
from controller.web.views import status_view
from specs.errors import UsageError
from wire.text import printable

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(ts: float | None) -> Markup:
    return time_tag(ts, time.time())


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _shown(value):
    """Every `{{ value }}` of a page: strings with their control characters as visible escapes (a
    device's names and messages), then HTML-escaped by autoescape; markup we made is left alone."""
    return printable(value) if isinstance(value, str) and not isinstance(value, Markup) else value


templates.env.filters["when"] = _when
templates.env.filters["bytes"] = _bytes
templates.env.finalize = _shown


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    """A page with the operator's name and a CSRF token (set as a cookie the first time)."""
    board: Dashboard = request.app.state.dashboard
    csrf = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    response = templates.TemplateResponse(request, template, {"operator": board.operator(request), "csrf": csrf,
                                                          **context}, status_code=status_code)
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="strict", path="/")
    return response


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _cross_site(request: Request, form: dict[str, str]) -> str | None:
    if not origin_matches(request.headers.get("origin"), request.headers.get("host")):
        return "the request came from another site (Origin does not match)"
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
        return "the form's CSRF token does not match; reload the page and try again"
    return None


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, board: Dashboard = Depends(dashboard)):
    status = status_view(board.store)
    return render(request, "overview.html", status=status, devices=device_rows(board.store),
                  events=event_views(board.store.events(limit=15)))


TRAIL_FOR_CHART = 2000  # the latest events of a fleet the rollout chart reads (its latest attempt)


def _missing(request: Request, board: Dashboard, kind: str, name: str) -> HTMLResponse:
    """A declared object the loop has not reconciled yet is Pending (200, with what its spec says);
    only an object no applied commit declares is a 404."""
    spec = declared(applied_specs(board.store), kind).get(name)
    if spec is None:
        return render(request, "missing.html", 404, what=f"{kind}/{name}")
    return render(request, "pending.html", kind=kind, name=name, message=pending_message(kind),
                  spec=spec.spec.model_dump(mode="json", exclude_defaults=True))


def _list_page(plural: str, kind: str):
    def page(request: Request, board: Dashboard = Depends(dashboard)):
        return render(request, "objects.html", kind=kind, plural=plural,
                      objects=object_list(board.store, applied_specs(board.store), kind))
    page.__name__ = f"{plural}_page"
    return page


for _plural, _kind in KINDS.items():  # /datasets, /models, /fleets
    router.add_api_route(f"/{_plural}", _list_page(_plural, _kind), methods=["GET"], response_class=HTMLResponse)


@router.get("/fleets/{name}", response_class=HTMLResponse)
def fleet_page(request: Request, name: str, board: Dashboard = Depends(dashboard)):
    view = fleet_view(board, name)
    if view is None:
        return _missing(request, board, "Fleet", name)
    trail = event_views(board.store.events(kind="Fleet", name=name, limit=TRAIL_FOR_CHART))
    running = view.rollout is not None and view.rollout.phase == "progressing"
    moments = timeline(trail, view.progress.updated if running else None, time.time())
    rollout = view.rollout
    version = (rollout.failed_version if rollout.phase == "halted" else rollout.target) if rollout else None
    chart = rollout_chart(name, version, moments, view.progress.members)
    return render(request, "fleet.html", fleet=view, done=request.query_params.get("done"), chart=chart,
                  moments=moments)


@router.post("/fleets/{name}/rollout/{action}", response_class=HTMLResponse)
async def fleet_action(request: Request, name: str, action: str, board: Dashboard = Depends(dashboard)):
    form = await _form(request)
    problem = _cross_site(request, form)
    if problem:
        return render(request, "refused.html", 403, problem=problem, back=f"/fleets/{name}")
    operator = board.actor(request, form.get("token"))
    refused = board.refusal(operator, "pause, resume, undo and retry")
    if refused:
        return render(request, "refused.html", refused[0], back=f"/fleets/{name}", problem=refused[1])
    if action not in ROLLOUT_ACTIONS:
        return render(request, "refused.html", 404, problem=f"unknown action {action!r}", back=f"/fleets/{name}")
    try:
        rollout_action(board.store, name, action, operator, "dashboard")
    except UsageError as err:
        return render(request, "refused.html", 409, problem=str(err), back=f"/fleets/{name}")
    return RedirectResponse(f"/fleets/{name}?done={action}", status_code=303)


@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, board: Dashboard = Depends(dashboard)):
    query = DeviceQuery.parse(request.query_params)
    return render(request, "devices.html", query=query, listing=device_table(device_rows(board.store), query),
                  columns={key: heading for key, (heading, _) in COLUMNS.items()})


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(request: Request, device_id: str, board: Dashboard = Depends(dashboard)):
    detail = device_detail(board.store, device_id)
    if detail is None:
        return render(request, "missing.html", 404, what=f"device {device_id}")
    return render(request, "device.html", device=detail)


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, name: str, board: Dashboard = Depends(dashboard)):
    view = model_view(board, name)
    if view is None:
        return _missing(request, board, "Model", name)
    repo = applied_specs(board.store)
    cards = model_cards(board.artifacts, name, {v.name: v.digest for v in view.variants if v.digest})
    confusions = [v for v in view.variants if "confusion.png" in v.figures]
    wanted = request.query_params.get("confusion")
    preferred = sorted(confusions, key=lambda v: not v.passed)  # a variant that passed its gates first
    shown = next((v for v in confusions if v.name == wanted), preferred[0] if preferred else None)
    card = view.card
    return render(request, "model.html", model=view, chart=size_chart(view, repo),
                  assignments=board_assignments(board.store.objects("Fleet"), repo, name),
                  fronts=board_fronts(cards), confusions=confusions, confusion=shown,
                  confusion_alts={v.name: confusion_alt(name, v.name, v.accuracy, None) for v in confusions},
                  training_alt=training_alt(name, card.history if card else {}, card.epochs_run if card else None))


SAMPLES_PER_PAGE = 25


def _number(value: str | None, default: int, low: int, high: int) -> int:
    return min(max(int(value), low), high) if value and value.isdigit() else default


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(request: Request, name: str, board: Dashboard = Depends(dashboard)):
    obj = board.store.object("Dataset", name)
    if obj is None:
        return _missing(request, board, "Dataset", name)
    query = request.query_params
    context = {"dataset": object_view(obj), "sources": sampling.collected_sources(board.store, name) or [],
               "events": event_views(board.store.events(kind="Dataset", name=name, limit=30)),
               "done": _done(board, name, query.get("done")),
               "summary": snapshot_summary(board.artifacts, obj.dataset.snapshot)}
    if context["sources"]:
        context.update(_samples_context(board, context["sources"], query))
    return render(request, "dataset.html", **context)


def _done(board: Dashboard, dataset: str, seq: str | None) -> str | None:
    """The message of the action event a redirect names (never text from the URL itself)."""
    if not seq or not seq.isdigit() or int(seq) < 1 or int(seq) > 2 ** 62:
        return None
    events = board.store.events(since=int(seq) - 1, kind="Dataset", name=dataset, limit=None)
    return events[0].message if events and events[0].seq == int(seq) else None


def _samples_context(board: Dashboard, sources, query) -> dict:
    source = _number(query.get("source"), 0, 0, len(sources) - 1)
    label = query.get("label") or None
    filters = Selection(device=query.get("device") or None, session=query.get("session") or None,
                        labels=(label,) if label and label != "-" else None, labelled=False if label == "-" else None)
    base = sampling.browse_selection(sources[source])
    selection = sampling.narrow(base, filters)
    index = board.sample_index()
    number = _number(query.get("page"), 1, 1, 10 ** 9)
    records, total = sampling.newest_page(index, selection, number, SAMPLES_PER_PAGE)
    pages = max(1, math.ceil(total / SAMPLES_PER_PAGE))

    def link(n: int) -> str:
        keep = {k: v for k, v in query.items() if k not in ("page", "done") and v}
        return "?" + urlencode({**keep, "page": n})
    first = (number - 1) * SAMPLES_PER_PAGE + 1 if records else 0
    return {"source": source, "counts": index.counts_by_label(base), "sessions": sampling.sessions(index, base),
            "records": records, "sparks": sampling.sparklines(board.artifacts, records), "total": total,
            "first": first, "last": first + len(records) - 1 if records else 0, "page": number, "pages": pages,
            "prev_page": link(number - 1) if number > 1 else None,
            "next_page": link(number + 1) if number < pages else None,
            "filters": {"device": filters.device, "session": filters.session, "label": label,
                        "unlabelled": label == "-"}}


@router.post("/datasets/{name}/label", response_class=HTMLResponse)
async def dataset_label(request: Request, name: str, board: Dashboard = Depends(dashboard)):
    """Label the chosen session, or the ticked samples, from the dataset page (token or session + CSRF)."""
    body = parse_qs((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    form = {k: v[0] for k, v in body.items()}
    back = f"/datasets/{name}?" + urlencode({"source": request.query_params.get("source", "0")})
    problem = _cross_site(request, form)
    if problem:
        return render(request, "refused.html", 403, problem=problem, back=back)
    operator = board.actor(request, form.get("token"))
    refused = board.refusal(operator, "labelling")
    if refused:
        return render(request, "refused.html", refused[0], back=back, problem=refused[1])
    how = form.get("how")
    try:
        if how == "session":
            if not form.get("session"):
                raise UsageError("choose a session to label")
            wanted = LabelRequest(label=form.get("label") or None, session=form["session"], dataset=name)
        elif how == "one":
            ids = [int(i) for i in body.get("id", []) if i.isdigit()]
            if not ids:
                raise UsageError("tick the samples to label")
            wanted = LabelRequest(label=form.get("label") or None, ids=ids, dataset=name)
        else:
            raise UsageError("choose Label session or Label selected samples")
    except (UsageError, ValidationError) as err:
        detail = "; ".join(e["msg"] for e in err.errors()) if isinstance(err, ValidationError) else str(err)
        return render(request, "refused.html", 422, problem=detail, back=back)
    try:
        result = label_action(board.store, board.sample_index(), wanted, operator, "dashboard")
    except UsageError as err:
        return render(request, "refused.html", 404, problem=str(err), back=back)
    return RedirectResponse(back + f"&done={result.event}", status_code=303)


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, board: Dashboard = Depends(dashboard)):
    kind = request.query_params.get("kind") or None
    name = request.query_params.get("name") or None
    events = event_views(board.store.events(kind=kind, name=name, limit=200))
    return render(request, "events.html", events=events, kind=kind or "", name=name or "",
                  last=events[-1].seq if events else 0)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return render(request, "login.html", next=request.query_params.get("next", "/"), problem=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, board: Dashboard = Depends(shared)):
    form = await _form(request)
    target = form.get("next", "/")
    target = target if target.startswith("/") and not target.startswith("//") else "/"
    problem = _cross_site(request, form)
    name = None if problem else board.tokens.principal(form.get("token"))
    if name is None:
        return render(request, "login.html", 401, next=target, problem=problem or "that token is not valid")
    response: Response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, board.sessions.open(name), max_age=SESSION_SECONDS, httponly=True,
                        samesite="strict", path="/")
    return response


@router.post("/logout")
async def logout(request: Request, board: Dashboard = Depends(shared)):
    form = await _form(request)
    if _cross_site(request, form) is None:
        board.sessions.close(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
