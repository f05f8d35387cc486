// flowkit canvas: draws the flow from /api/flow, polls /api/status once a second, lists /api/runs.
// Plain DOM and inline SVG, no library, nothing fetched from anywhere but this server.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const BOX_W = 196, BOX_H = 100, GAP_X = 92, GAP_Y = 34, PAD = 20, SERVICE_H = 44;
const CSRF = document.querySelector('meta[name="flowkit-csrf"]').content;
const view = { flow: null, status: null, runs: [], selectedRun: null, selectedComponent: null, lastRunKey: "" };

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(n) { return n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US"); }
function when(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : ""; }
function took(s) { return s === null || s === undefined ? "" : `${Number(s).toFixed(1)}s`; }

async function getJSON(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// ---------------------------------------------------------------------------------------- canvas
function place(p) { return { x: PAD + p.column * (BOX_W + GAP_X), y: PAD + 18 + p.row * (BOX_H + GAP_Y) }; }

function drawCanvas(flow) {
  const canvas = document.getElementById("canvas");
  canvas.replaceChildren();
  document.getElementById("group-name").textContent = flow.name;
  const cols = Math.max(...flow.processors.map((p) => p.column)) + 1;
  const rows = Math.max(...flow.processors.map((p) => p.row)) + 1;
  const width = PAD * 2 + cols * BOX_W + (cols - 1) * GAP_X;
  const groupH = 18 + rows * BOX_H + (rows - 1) * GAP_Y + 44;
  const serviceRows = Math.ceil(flow.services.length / Math.max(1, Math.floor(width / 250)));
  const height = PAD + groupH + 40 + serviceRows * (SERVICE_H + 12) + PAD;
  canvas.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }));
  defs.appendChild(marker);
  canvas.appendChild(defs);
  canvas.appendChild(svg("rect", { class: "group-frame", x: 6, y: 6, width: width - 12, height: groupH, rx: 8 }));
  canvas.appendChild(svg("text", { class: "frame-label", x: 14, y: 20 }, `Process group: ${flow.name}`));
  const byName = Object.fromEntries(flow.processors.map((p) => [p.name, p]));
  const edges = svg("g"), queues = svg("g"), boxes = svg("g");
  const incoming = {};
  flow.connections.forEach((c) => { (incoming[c.destination] = incoming[c.destination] || []).push(c); });
  for (const c of flow.connections) {
    const a = place(byName[c.source]), b = place(byName[c.destination]);
    const siblings = incoming[c.destination];
    const slot = siblings.indexOf(c), count = siblings.length;
    const x1 = a.x + BOX_W, y1 = a.y + BOX_H / 2;
    const x2 = b.x, y2 = b.y + 14 + ((BOX_H - 28) * (slot + 0.5)) / count;
    const span = byName[c.destination].column - byName[c.source].column;
    let d, lx, ly;
    if (span > 1) { // skips a column: go round the top of the group
      const top = PAD + 4;
      d = `M${x1},${y1} C${x1 + 40},${y1} ${x1 + 20},${top} ${x1 + 60},${top} L${x2 - 60},${top} C${x2 - 20},${top} ${x2 - 40},${y2} ${x2},${y2}`;
      lx = (x1 + x2) / 2; ly = top;
    } else {
      const mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
      lx = mx; ly = (y1 + y2) / 2 + (count > 1 ? (slot - (count - 1) / 2) * 4 : 0);
    }
    edges.appendChild(svg("path", { class: "edge", d, "marker-end": "url(#arrow)", "data-edge": c.id }));
    const q = svg("g", { class: "queue", "data-connection": c.id, transform: `translate(${lx - 42},${ly - 15})` });
    q.appendChild(svg("rect", { width: 84, height: 30, rx: 4 }));
    q.appendChild(svg("text", { x: 42, y: 12, "text-anchor": "middle" }, c.relationships.join(", ")));
    q.appendChild(svg("text", { x: 42, y: 25, "text-anchor": "middle", "data-field": "queue" }, `0 / ${fmt(c.back_pressure)}`));
    q.appendChild(svg("title", {}, `${c.source} → ${c.destination} (${c.relationships.join(", ")}): queued / back-pressure threshold`));
    queues.appendChild(q);
  }
  for (const p of flow.processors) {
    const { x, y } = place(p);
    const g = svg("g", { class: "processor", "data-processor": p.name, transform: `translate(${x},${y})`, tabindex: 0 });
    g.appendChild(svg("rect", { class: "box", width: BOX_W, height: BOX_H, rx: 6 }));
    g.appendChild(svg("rect", { class: "head", x: 1, y: 1, width: BOX_W - 2, height: 32, rx: 5 }));
    g.appendChild(svg("text", { class: "name", x: 8, y: 15 }, p.name));
    g.appendChild(svg("text", { class: "type", x: 8, y: 28 }, p.type));
    const lines = [["In", "in"], ["Out", "out"], ["Queued", "queued"], ["Tasks", "tasks"]];
    lines.forEach(([label, field], i) => {
      g.appendChild(svg("text", { x: 8, y: 48 + i * 14 }, label));
      g.appendChild(svg("text", { x: BOX_W - 8, y: 48 + i * 14, "text-anchor": "end", "data-field": field }, "0"));
    });
    g.appendChild(svg("title", {}, `${p.name} (${p.type}) — ${p.schedule}${p.auto_terminated.length ? "; auto-terminated: " + p.auto_terminated.join(", ") : ""}`));
    const badge = svg("g", { class: "badge", "data-bulletins": p.name, transform: `translate(${BOX_W - 34},-9)`, visibility: "hidden" });
    badge.appendChild(svg("rect", { width: 40, height: 18, rx: 9 }));
    badge.appendChild(svg("text", { x: 20, y: 13, "text-anchor": "middle" }, "0"));
    g.appendChild(badge);
    g.addEventListener("click", () => selectComponent(p.name));
    boxes.appendChild(g);
  }
  canvas.append(edges, boxes, queues);
  const top = PAD + groupH + 20;
  canvas.appendChild(svg("text", { class: "frame-label", x: 14, y: top - 4 }, "Controller services"));
  const perRow = Math.max(1, Math.floor(width / 250));
  flow.services.forEach((s, i) => {
    const x = PAD + (i % perRow) * 250, y = top + Math.floor(i / perRow) * (SERVICE_H + 12);
    const g = svg("g", { class: "service", "data-service": s.name, transform: `translate(${x},${y})` });
    g.appendChild(svg("rect", { width: 236, height: SERVICE_H, rx: 12 }));
    g.appendChild(svg("text", { class: "name", x: 10, y: 17 }, s.name));
    g.appendChild(svg("text", { class: "type", x: 10, y: 32 }, s.type));
    g.appendChild(svg("title", {}, `used by: ${s.used_by.join(", ") || "nothing"}`));
    const badge = svg("g", { class: "badge", "data-bulletins": s.name, transform: "translate(198,-9)", visibility: "hidden" });
    badge.appendChild(svg("rect", { width: 40, height: 18, rx: 9 }));
    badge.appendChild(svg("text", { x: 20, y: 13, "text-anchor": "middle" }, "0"));
    g.appendChild(badge);
    g.addEventListener("click", () => selectComponent(s.name));
    canvas.appendChild(g);
  });
}

function applyStatus(status) {
  view.status = status;
  const flow = view.flow;
  const state = document.getElementById("run-state");
  const outcome = status.running ? "running" : status.run ? status.run.outcome : "no run yet";
  state.textContent = status.running ? `running${status.pid ? " (pid " + status.pid + ")" : ""}` : outcome;
  state.className = `pill ${status.running ? "running" : outcome}`;
  document.getElementById("phase").textContent = status.phase || "–";
  const g = status.gauges || {};
  const parts = [];
  if (g["boards.total"] !== undefined) parts.push(`boards ${fmt(g["boards.done"])}/${fmt(g["boards.total"])}`);
  if (g["tables.total"] !== undefined) parts.push(`tables ${fmt(g["tables.done"])}/${fmt(g["tables.total"])}`);
  if (status.run) parts.push(`Jira requests ${fmt(status.run.requests)}`, `run #${status.run.run_id} ${took(status.run.duration_s)}`);
  document.getElementById("progress").textContent = parts.join(" · ");
  document.getElementById("state-maps").textContent = `state: ${status.state_maps} map(s)`;
  document.getElementById("run-now").disabled = status.running;
  document.getElementById("stop").disabled = !status.running;
  for (const p of flow.processors) {
    const node = document.querySelector(`[data-processor="${CSS.escape(p.name)}"]`);
    const counts = status.processors[p.name] || { in: 0, out: 0, queued: 0, tasks: 0 };
    for (const field of ["in", "out", "queued", "tasks"]) {
      node.querySelector(`[data-field="${field}"]`).textContent = fmt(counts[field]);
    }
    node.classList.toggle("busy", status.running && counts.tasks > 0);
  }
  for (const c of flow.connections) {
    const q = status.connections[c.id] || { queued: 0, threshold: c.back_pressure };
    const node = document.querySelector(`[data-connection="${CSS.escape(c.id)}"]`);
    node.querySelector('[data-field="queue"]').textContent = `${fmt(q.queued)} / ${fmt(q.threshold)}`;
    node.classList.toggle("busy", q.queued > 0);
    node.classList.toggle("full", q.queued >= q.threshold);
    const edge = document.querySelector(`[data-edge="${CSS.escape(c.id)}"]`);
    edge.classList.toggle("busy", q.queued > 0);
    edge.classList.toggle("full", q.queued >= q.threshold);
  }
  const names = [...flow.processors.map((p) => p.name), ...flow.services.map((s) => s.name)];
  for (const name of names) {
    const list = status.bulletins[name] || [];
    const badge = document.querySelector(`[data-bulletins="${CSS.escape(name)}"]`);
    const errors = list.filter((b) => b.level === "ERROR").length;
    badge.setAttribute("visibility", list.length ? "visible" : "hidden");
    badge.classList.toggle("err", errors > 0);
    badge.querySelector("text").textContent = `⚠ ${list.length}`;
    const box = document.querySelector(`[data-processor="${CSS.escape(name)}"]`);
    if (box) {
      box.classList.toggle("warn", list.length > 0 && errors === 0);
      box.classList.toggle("err", errors > 0);
    }
  }
  if (view.selectedComponent) showComponent(view.selectedComponent);
  const key = status.run ? `${status.run.run_id}:${status.run.outcome}:${status.running}` : "";
  if (key !== view.lastRunKey || status.running) {
    view.lastRunKey = key;
    refreshRuns();
  }
}

function selectComponent(name) {
  view.selectedComponent = view.selectedComponent === name ? null : name;
  showComponent(view.selectedComponent);
}

function showComponent(name) {
  const box = document.getElementById("component-detail");
  if (!name) { box.hidden = true; return; }
  box.hidden = false;
  const list = (view.status && view.status.bulletins[name]) || [];
  const processor = view.flow.processors.find((p) => p.name === name);
  const service = view.flow.services.find((s) => s.name === name);
  const parts = [el("h2", {}, `${name} — bulletins of the newest run (${list.length})`)];
  if (processor) parts.push(el("div", {}, `${processor.type}; ${processor.schedule}; services: ${processor.services.join(", ") || "none"}`));
  if (service) parts.push(el("div", {}, `${service.type}; used by: ${service.used_by.join(", ") || "nothing"}`));
  parts.push(bulletinTable(list, false));
  box.replaceChildren(...parts);
}

function bulletinTable(list, withComponent) {
  const table = el("table", { class: "bulletins" });
  const head = el("tr");
  for (const h of ["time", "level", ...(withComponent ? ["component"] : []), "message"]) head.appendChild(el("th", {}, h));
  table.appendChild(head);
  for (const b of list) {
    const tr = el("tr");
    tr.append(el("td", {}, (b.time || "").slice(11, 19)), el("td", { class: `lvl-${b.level}` }, b.level));
    if (withComponent) tr.appendChild(el("td", {}, b.component));
    tr.appendChild(el("td", {}, b.message));
    table.appendChild(tr);
  }
  if (!list.length) table.appendChild(el("tr", {}, "")).appendChild(el("td", { colspan: 4 }, "no bulletins"));
  return table;
}

// ---------------------------------------------------------------------------------------- history
async function refreshRuns() {
  try {
    view.runs = await getJSON("/api/runs");
  } catch (error) {
    return;
  }
  drawRuns();
  drawChart();
  if (view.selectedRun) showRun(view.selectedRun);
}

function drawRuns() {
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  for (const run of view.runs) {
    const tr = el("tr", { "data-run": run.run_id });
    if (run.run_id === view.selectedRun) tr.classList.add("selected");
    tr.append(
      el("td", { class: "num" }, `#${run.run_id}`),
      el("td", {}, when(run.started_at)),
      el("td", { class: "num" }, took(run.duration_s)),
      el("td", { class: `outcome outcome-${run.outcome}` }, run.outcome),
      el("td", { class: "num" }, fmt(run.requests)),
      el("td", { class: "num" }, `+${fmt(run.rows.inserted)} ~${fmt(run.rows.updated)} −${fmt(run.rows.deleted)}`),
      el("td", { class: "num" }, `${run.warnings}W ${run.errors}E`),
    );
    tr.addEventListener("click", () => showRun(run.run_id));
    body.appendChild(tr);
  }
}

function drawChart() {
  const chart = document.getElementById("chart");
  chart.replaceChildren();
  const runs = [...view.runs].reverse(); // oldest first, left to right
  const W = 520, H = 130, left = 34, right = 34, top = 8, bottom = 18;
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  chart.setAttribute("preserveAspectRatio", "none");
  if (!runs.length) {
    chart.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no runs yet"));
    return;
  }
  const maxRows = Math.max(1, ...runs.map((r) => r.rows.inserted + r.rows.updated + r.rows.deleted));
  const maxReq = Math.max(1, ...runs.map((r) => r.requests));
  const step = (W - left - right) / runs.length, bar = Math.min(36, Math.max(3, step * 0.6));
  const scale = (H - top - bottom) / maxRows, rscale = (H - top - bottom) / maxReq;
  chart.appendChild(svg("line", { class: "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }));
  chart.appendChild(svg("text", { x: left - 4, y: top + 8, "text-anchor": "end" }, fmt(maxRows)));
  chart.appendChild(svg("text", { x: W - right + 4, y: top + 8 }, fmt(maxReq)));
  const points = [];
  runs.forEach((r, i) => {
    const x = left + i * step + (step - bar) / 2;
    let y = H - bottom;
    for (const [kind, cls] of [["inserted", "ins"], ["updated", "upd"], ["deleted", "del"]]) {
      const h = r.rows[kind] * scale;
      if (h > 0) { y -= h; chart.appendChild(svg("rect", { class: cls, x, y, width: bar, height: h })); }
    }
    points.push([x + bar / 2, H - bottom - r.requests * rscale]);
    if (runs.length <= 12 || i % Math.ceil(runs.length / 12) === 0) {
      chart.appendChild(svg("text", { x: x + bar / 2, y: H - 5, "text-anchor": "middle" }, `#${r.run_id}`));
    }
    const hit = svg("rect", { class: "bar-hit", x: left + i * step, y: top, width: step, height: H - top - bottom, "data-chart-run": r.run_id });
    hit.appendChild(svg("title", {}, `run #${r.run_id} ${r.outcome}: +${r.rows.inserted} ~${r.rows.updated} −${r.rows.deleted} rows, ${r.requests} requests, ${took(r.duration_s)}`));
    hit.addEventListener("click", () => showRun(r.run_id));
    chart.appendChild(hit);
  });
  chart.appendChild(svg("polyline", { class: "req", points: points.map((p) => p.join(",")).join(" ") }));
  for (const [x, y] of points) chart.appendChild(svg("circle", { class: "reqdot", cx: x, cy: y, r: 2.5 }));
}

async function showRun(runId) {
  view.selectedRun = runId;
  document.querySelectorAll("#runs tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.run === runId));
  let run;
  try {
    run = await getJSON(`/api/runs/${encodeURIComponent(runId)}`);
  } catch (error) {
    return;
  }
  const box = document.getElementById("run-detail");
  box.hidden = false;
  const parts = [el("h2", {}, `Run #${run.run_id}: ${run.outcome}, ${run.mode}, ${took(run.duration_s)}, ${fmt(run.requests)} Jira requests`)];
  if (run.error) parts.push(el("div", { class: "lvl-ERROR" }, run.error));
  const tables = Object.entries(run.tables);
  const t = el("table", { class: "per-table" });
  const head = el("tr");
  for (const h of ["table", "inserted", "updated", "deleted", "unchanged", "rows now"]) head.appendChild(el("th", { class: h === "table" ? "" : "num" }, h));
  t.appendChild(head);
  for (const [name, c] of tables) {
    const tr = el("tr", { "data-table": name });
    tr.appendChild(el("td", {}, name));
    for (const k of ["inserted", "updated", "deleted", "unchanged"]) tr.appendChild(el("td", { class: "num" }, fmt(c[k])));
    tr.appendChild(el("td", { class: "num" }, fmt(run.row_counts[name])));
    t.appendChild(tr);
  }
  if (!tables.length) t.appendChild(el("tr")).appendChild(el("td", { colspan: 6 }, "no rows merged"));
  parts.push(t, el("h2", {}, `Bulletins (${run.bulletins.length}${run.bulletins_dropped ? ` + ${run.bulletins_dropped} not kept` : ""})`));
  parts.push(bulletinTable(run.bulletins, true));
  box.replaceChildren(...parts);
}

function drawParameters(flow) {
  const body = document.querySelector("#parameters tbody");
  body.replaceChildren();
  for (const p of flow.parameters) {
    const tr = el("tr", { "data-parameter": p.name });
    tr.append(el("td", {}, p.context), el("td", {}, p.name), el("td", { class: p.sensitive ? "masked" : "" }, p.value));
    body.appendChild(tr);
  }
}

// ---------------------------------------------------------------------------------------- actions
async function act(action) {
  const message = document.getElementById("message");
  message.className = "";
  message.textContent = `${action}…`;
  let answer;
  try {
    const response = await fetch(`/api/actions/${action}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Flowkit-CSRF": CSRF },
      body: "{}",
    });
    answer = await response.json();
  } catch (error) {
    answer = { ok: false, message: `${action}: ${error}` };
  }
  message.textContent = answer.message;
  message.className = answer.ok ? "done" : "refused";
  poll();
}

async function poll() {
  try {
    applyStatus(await getJSON("/api/status"));
  } catch (error) {
    const state = document.getElementById("run-state");
    state.textContent = "canvas server unreachable";
    state.className = "pill error";
  }
}

async function main() {
  view.flow = await getJSON("/api/flow");
  drawCanvas(view.flow);
  drawParameters(view.flow);
  document.getElementById("run-now").addEventListener("click", () => act("run"));
  document.getElementById("stop").addEventListener("click", () => act("stop"));
  document.getElementById("clear-state").addEventListener("click", () => act("clear-state"));
  await poll();
  setInterval(poll, 1000);
  document.body.dataset.ready = "true";
}

main();
