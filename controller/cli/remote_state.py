"""The read side of the state store, over a controller's HTTP API: the same methods and the same
records as `StateStore` (and `SampleIndex` for samples), so each command prints from either source
through one code path (`open_reader`). Nothing is cached: a command that watches (`rollout status
-w`, `events -f`) sees each new state."""
from __future__ import annotations

from dataclasses import dataclass

from controller.cli.controller_api import ControllerClient
from controller.cli.controller_api import add_server_flags
from controller.cli.controller_api import client_from_args
from controller.cli.output import add_state_flag
from controller.collect.index import Rejection
from controller.collect.index import Selection
from controller.state import open_store
from controller.state.records import Condition
from controller.state.records import DesiredRecord
from controller.state.records import DeviceRecord
from controller.state.records import Event
from controller.state.records import InstallRecord
from controller.state.records import ObjectStatus
from controller.state.records import RolloutRecord

MAX_EVENTS = 10_000  # the API's bound on one answer: `events --limit 0 --server` shows the last 10,000
SAMPLE_PAGE = 1000  # the API's largest page of samples


def add_reader_flags(parser) -> None:
    """--state-dir (local) and --server/--token-file (remote): where a read-only command looks."""
    add_state_flag(parser)
    add_server_flags(parser)


def open_reader(args):
    """The state the command reads: the controller's API with `--server`, else the local store."""
    if getattr(args, "server", None):
        return RemoteState(client_from_args(args))
    return open_store(args.state_dir, read_only=True, url=getattr(args, "state", None))


def _object(d: dict) -> ObjectStatus:
    return ObjectStatus(d["kind"], d["name"], d["observed_commit"], d["desired_key"],
                        {k: Condition(**c) for k, c in d["conditions"].items()}, d["last_error"], d["failures"],
                        d["next_attempt"], d["detail"] or None, d["created_at"], d["updated_at"])


class RemoteState:
    """`StateStore`'s reads, answered by GETs to /api/v1."""

    def __init__(self, client: ControllerClient) -> None:
        self.client = client

    def _get(self, path: str, **params):
        return self.client.get(path, params)[0]

    def source_state(self) -> tuple[str | None, str | None]:
        source = self._get("status")["source"]
        return source["observed"], source["lastGood"]

    def objects(self, kind: str | None = None) -> list[ObjectStatus]:
        objs = [_object(o) for o in self._get("status")["objects"]]
        return [o for o in objs if kind is None or o.kind == kind]

    def object(self, kind: str, name: str) -> ObjectStatus | None:
        return next((o for o in self.objects(kind) if o.name == name), None)

    def devices(self) -> list[DeviceRecord]:
        return [DeviceRecord(**d) for d in self._get("records/devices")]

    def device(self, device_id: str) -> DeviceRecord | None:
        return next((d for d in self.devices() if d.device_id == device_id), None)

    def desired(self) -> dict[str, DesiredRecord]:
        return {d["device_id"]: DesiredRecord(**d) for d in self._get("records/desired")}

    def installs(self, device_id: str | None = None) -> list[InstallRecord]:
        return [InstallRecord(**i) for i in self._get("records/installs", device=device_id)]

    def rollouts(self) -> list[RolloutRecord]:
        return [RolloutRecord(**r) for r in self._get("records/rollouts")]

    def rollout(self, fleet: str) -> RolloutRecord | None:
        return next((r for r in self.rollouts() if r.fleet == fleet), None)

    def stages(self) -> list[dict]:
        """The running builds, as the status view lists them (the API keeps finished stages to itself)."""
        return [{"key": b["key"], "target": b["target"], "started_at": b["startedAt"], "status": "running",
                 "result": {k: v for k, v in b.items() if k not in ("key", "target", "startedAt")}}
                for b in self._get("status").get("building", [])]

    def events(self, *, since: int = 0, kind: str | None = None, name: str | None = None,
               limit: int | None = None, not_before: float | None = None) -> list[Event]:
        return [Event(**e) for e in self._get("events", since=since, kind=kind, name=name,
                                              limit=min(limit or MAX_EVENTS, MAX_EVENTS), notBefore=not_before)]

    def close(self) -> None:
        pass


# --- samples --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteSample:
    """A sample as `samples ls` prints it (the API's SampleView; `to_dict` is that JSON)."""

    view: dict

    def __getattr__(self, name: str):
        key = {"device_id": "device", "rate_hz": "rateHz", "label_revision": "labelRevision"}.get(name, name)
        try:
            return self.view[key]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> dict:
        return self.view


def _selection_params(s: Selection) -> dict:
    return {"sensor": s.sensor, "fleet": s.fleet, "device": s.device, "session": s.session, "since": s.since,
            "until": s.until, "label": list(s.labels) if s.labels else None,
            "unlabelled": "true" if s.labelled is False else None}


class RemoteSamples:
    """`SampleIndex`'s reads used by `origami samples ls`, answered by /api/v1/samples."""

    def __init__(self, client: ControllerClient) -> None:
        self.client = client

    def rejections(self, device: str | None = None) -> list[Rejection]:
        return [Rejection(**r) for r in self.client.get("samples/rejected", {"device": device})[0]]

    def counts_by_label(self, selection: Selection) -> dict[str, int]:
        return self.client.get("samples/counts", _selection_params(selection))[0]["labels"]

    def device_counters(self) -> dict[str, dict]:
        return self.client.get("samples/counts")[0]["devices"]

    def count(self, selection: Selection) -> int:
        _, headers = self.client.get("samples", _selection_params(selection) | {"limit": 1})
        return int(headers.get("x-total-count", 0))

    def select(self, selection: Selection) -> list[RemoteSample]:
        out: list[RemoteSample] = []
        while True:
            page, headers = self.client.get("samples", _selection_params(selection) |
                                            {"offset": len(out), "limit": SAMPLE_PAGE})
            out += [RemoteSample(v) for v in page]
            if not page or len(out) >= int(headers.get("x-total-count", 0)):
                return out


def remote_label(client: ControllerClient, request: dict) -> dict:
    """POST /api/v1/samples/label; the LabelResult. NotFoundError when nothing matches."""
    return client.post("samples/label", {k: v for k, v in request.items() if v is not None})
