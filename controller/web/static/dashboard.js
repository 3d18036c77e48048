// Live parts of the dashboard, no build step: the fleet page polls its JSON, the event trail
// follows the server-sent-events stream.
"use strict";

function text(id, value) {
  const el = document.getElementById(id);
  if (el && el.textContent !== String(value)) el.textContent = value;
}

function cell(row, value) {
  const td = document.createElement("td");
  td.textContent = value;
  row.appendChild(td);
}

// The pages' one time format (controller/web/timefmt.py): relative, the RFC 3339 time as title.
function rfc3339(ts) {
  return new Date(Math.floor(ts) * 1000).toISOString().replace(".000Z", "Z");
}

function relative(ts) {
  const delta = Date.now() / 1000 - ts;
  const seconds = Math.abs(delta);
  if (seconds < 1) return "just now";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return delta > 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
    }
  }
  return "just now";
}

function timeCell(row, ts) {
  const td = document.createElement("td");
  const time = document.createElement("time");
  time.dateTime = time.title = rfc3339(ts);
  time.textContent = relative(ts);
  td.appendChild(time);
  row.appendChild(td);
}

function eventRow(e) {
  const tr = document.createElement("tr");
  tr.className = e.type.toLowerCase();
  tr.dataset.seq = e.seq;
  cell(tr, e.seq);
  timeCell(tr, e.ts);
  [e.type, e.kind + "/" + e.name, e.reason, e.message].forEach((v) => cell(tr, v));
  return tr;
}

function renderFleet(f) {
  const r = f.rollout || {};
  const p = f.progress;
  text("target", r.target || "-");
  text("phase", r.phase || "idle");
  text("step", r.step || 0);
  text("paused", r.paused ? "yes" : "no");
  ["updated", "members", "pending", "failed", "waiting"].forEach((k) => text(k, p[k]));
  const bar = document.getElementById("progress-bar");
  bar.style.width = p.percent + "%";
  bar.className = r.phase === "halted" ? "halted" : "";
  const meter = document.getElementById("progress");
  meter.setAttribute("aria-valuenow", p.percent);
  meter.setAttribute("aria-valuetext", `${p.updated} of ${p.members} updated` + (r.phase === "halted" ? ", halted" : ""));
  const status = document.querySelector("#fleet-status .badge");
  if (status) { status.textContent = f.status; status.className = "badge " + f.status.toLowerCase(); }
  const steps = document.getElementById("steps");
  steps.replaceChildren(...p.steps.map((s) => {
    const li = document.createElement("li");
    li.className = s.state;
    li.textContent = `step ${s.step}: up to ${s.quota} member(s) · ${s.state}`;
    return li;
  }));
  const body = document.querySelector("#boards tbody");
  body.replaceChildren(...p.boards.map((b) => {
    const tr = document.createElement("tr");
    [b.board, b.members, b.updated, b.pending, b.failed, b.waiting].forEach((v) => cell(tr, v));
    return tr;
  }));
  const table = document.getElementById("fleet-events");
  const last = Math.max(0, ...[...table.querySelectorAll("tr[data-seq]")].map((tr) => +tr.dataset.seq));
  f.events.filter((e) => e.seq > last).forEach((e) => table.appendChild(eventRow(e)));
}

function followFleet(section) {
  const tick = async () => {
    try {
      const response = await fetch(section.dataset.api, {headers: {Accept: "application/json"}});
      if (response.ok) renderFleet(await response.json());
    } catch (err) { /* the controller restarting: try again on the next tick */ }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}

function followEvents(table) {
  const query = new URLSearchParams({since: table.dataset.since});
  if (table.dataset.kind) query.set("kind", table.dataset.kind);
  if (table.dataset.name) query.set("name", table.dataset.name);
  const source = new EventSource("/api/v1/events/stream?" + query);
  source.addEventListener("origami", (msg) => table.appendChild(eventRow(JSON.parse(msg.data))));
  source.onerror = () => text("live", "reconnecting");
  source.onopen = () => text("live", "live");
}

// One confusion matrix, the variant chosen from a list (the form reloads the page without JS).
function confusionSelector(select) {
  const button = document.getElementById("confusion-show");
  if (button) button.hidden = true;
  select.addEventListener("change", () => {
    const option = select.selectedOptions[0];
    const img = document.getElementById("confusion");
    img.src = option.dataset.src;
    img.alt = option.dataset.alt;
    text("confusion-name", option.value);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const confusion = document.getElementById("confusion-variant");
  if (confusion) confusionSelector(confusion);
  const fleet = document.getElementById("fleet");
  if (fleet) followFleet(fleet);
  const events = document.getElementById("events");
  if (events) followEvents(events);
});
