"""The devices page's table: filter (fleet, board, state, text), sort by a column, one page of rows (pure)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import urlencode

from controller.web.views import DeviceRow

PER_PAGE = 50
# column key -> (heading, sort key); the keys are the query's `sort` values
COLUMNS = {
    "id": ("device", lambda d: d.id),
    "board": ("board", lambda d: d.board or ""),
    "fleet": ("fleet", lambda d: d.fleet or ""),
    "current": ("current version", lambda d: d.reported or ""),
    "target": ("target version", lambda d: d.desired or ""),
    "sync": ("sync", lambda d: d.sync),
    "reason": ("why", lambda d: d.reason),
    "online": ("online", lambda d: d.online),
    "health": ("health", lambda d: {True: 2, None: 1, False: 0}[d.healthy]),
    "seen": ("last seen", lambda d: d.lastSeen),
}


@dataclass(frozen=True)
class DeviceQuery:
    fleet: str = ""
    board: str = ""
    state: str = ""
    text: str = ""
    sort: str = "id"
    descending: bool = False
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> DeviceQuery:
        """From the page's query string; unknown sort columns and bad page numbers fall back to defaults."""
        page = query.get("page", "")
        sort = query.get("sort", "id")
        return cls(fleet=query.get("fleet", ""), board=query.get("board", ""), state=query.get("state", ""),
                   text=query.get("q", "").strip(), sort=sort if sort in COLUMNS else "id",
                   descending=query.get("order") == "desc",
                   page=min(int(page), 10 ** 6) if page.isdigit() and int(page) > 0 else 1)

    def link(self, **change) -> str:
        """This query with some parts changed, as a relative URL (empty parts left out)."""
        values = {"fleet": self.fleet, "board": self.board, "state": self.state, "q": self.text, "sort": self.sort,
                  "order": "desc" if self.descending else "", "page": self.page} | change
        if values["sort"] == "id" and not values["order"]:
            values["sort"] = ""  # the default order
        return "?" + urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == 1)})

    def sort_link(self, column: str) -> str:
        """Sorting by `column`: ascending first, the other way when it is already the sort column."""
        flip = column == self.sort and not self.descending
        return self.link(sort=column, order="desc" if flip else "", page=1)


def _matches(d: DeviceRow, q: DeviceQuery) -> bool:
    if q.fleet and (d.fleet or "-") != q.fleet or q.board and (d.board or "-") != q.board \
            or q.state and d.sync != q.state:
        return False
    if q.text:
        haystack = " ".join([d.id, d.board or "", d.fleet or "", d.reported or "", d.desired or "", d.sync,
                             d.reason, *(f"{k}={v}" for k, v in d.labels.items())]).lower()
        return q.text.lower() in haystack
    return True


@dataclass
class DevicePage:
    rows: list[DeviceRow]
    total: int            # rows matching the filters
    known: int            # every device
    page: int
    pages: int
    first: int
    options: dict[str, list[str]] = field(default_factory=dict)  # filter -> the values present


def device_page(rows: list[DeviceRow], q: DeviceQuery, per_page: int = PER_PAGE) -> DevicePage:
    matching = [d for d in rows if _matches(d, q)]
    matching.sort(key=lambda d: (COLUMNS[q.sort][1](d), d.id), reverse=q.descending)
    pages = max(1, math.ceil(len(matching) / per_page))
    page = min(q.page, pages)
    start = (page - 1) * per_page
    options = {"fleet": sorted({d.fleet or "-" for d in rows}), "board": sorted({d.board or "-" for d in rows}),
               "state": sorted({d.sync for d in rows})}
    return DevicePage(matching[start:start + per_page], len(matching), len(rows), page, pages,
                      start + 1 if matching else 0, options)
