// The dashboard page: polls GET /api/dashboard/state every POLL_MS and draws it. Charts are
// Chart.js (served from node_modules at /vendor/chart.umd.js); the topology is plain SVG.
"use strict";

const POLL_MS = 2000;
// Points kept per chart line: two minutes at one poll every 2 s.
const HISTORY = 60;
const SVG_NS = "http://www.w3.org/2000/svg";
// Columns of the topology drawing; services not listed go to the last one.
const COLUMN = { gateway: 0, orders: 1, notifications: 1, users: 2, inventory: 2, payments: 2 };
const NODE_WIDTH = 210;
const COLORS = [
  "#58a6ff",
  "#3fb950",
  "#d29922",
  "#f85149",
  "#a371f7",
  "#39c5cf",
  "#ff7b72",
  "#e3b341",
];

const $ = (selector) => document.querySelector(selector);
const edgeName = (e) => `${e.from} → ${e.to}`;
const fixed = (value, digits) =>
  value === null || value === undefined ? "–" : value.toFixed(digits);

/** Appends an element with text and attributes. */
function el(parent, tag, text, attributes = {}) {
  const node =
    parent.namespaceURI === SVG_NS || tag === "svg"
      ? document.createElementNS(SVG_NS, tag)
      : document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  parent.appendChild(node);
  return node;
}

function lineChart(canvas) {
  return new Chart(canvas, {
    type: "line",
    data: { labels: [], datasets: [] },
    options: {
      animation: false,
      responsive: true,
      scales: {
        y: { beginAtZero: true, ticks: { color: "#8a96a3" } },
        x: { ticks: { color: "#8a96a3", maxTicksLimit: 6 } },
      },
      plugins: { legend: { labels: { color: "#d8dee6", boxWidth: 10 } } },
      spanGaps: true,
    },
  });
}

const charts = {
  rate: { chart: lineChart($("#rate-chart")), value: (e) => e.rate },
  latency: { chart: lineChart($("#latency-chart")), value: (e) => e.p99Ms },
  errors: {
    chart: lineChart($("#error-chart")),
    value: (e) => (e.errorRate === null ? null : e.errorRate * 100),
  },
};

/** Adds this poll's point to every edge's line, keeping the last HISTORY points. */
function updateCharts(state) {
  const label = new Date(state.at).toLocaleTimeString();
  for (const { chart, value } of Object.values(charts)) {
    const { labels, datasets } = chart.data;
    labels.push(label);
    for (const edge of state.edges) {
      let dataset = datasets.find((d) => d.label === edgeName(edge));
      if (!dataset) {
        const color = COLORS[datasets.length % COLORS.length];
        dataset = {
          label: edgeName(edge),
          data: labels.slice(1).map(() => null),
          borderColor: color,
          backgroundColor: color,
          pointRadius: 0,
          tension: 0.2,
        };
        datasets.push(dataset);
      }
      dataset.data.push(value(edge));
    }
    for (const dataset of datasets) {
      while (dataset.data.length < labels.length) dataset.data.push(null);
      if (dataset.data.length > HISTORY) dataset.data.splice(0, dataset.data.length - HISTORY);
    }
    if (labels.length > HISTORY) labels.splice(0, labels.length - HISTORY);
    chart.update();
  }
}

/** Services as boxes listing their members, calls as arrows labelled with rate and p99. */
function drawTopology(state) {
  const svg = $("#topology");
  svg.replaceChildren();
  const defs = el(svg, "defs");
  const marker = el(defs, "marker", null, {
    id: "arrow",
    viewBox: "0 0 10 10",
    refX: "10",
    refY: "5",
    markerWidth: "7",
    markerHeight: "7",
    orient: "auto-start-reverse",
  });
  el(marker, "path", null, { d: "M 0 0 L 10 5 L 0 10 z", fill: "#58a6ff" });
  const columns = [[], [], []];
  for (const service of state.services) columns[COLUMN[service.name] ?? 2].push(service);
  // Layout first, so that the arrows can be drawn under the boxes.
  const boxes = new Map();
  columns.forEach((services, column) => {
    let y = 10;
    for (const service of services) {
      const height = 26 + service.members.length * 16;
      boxes.set(service.name, { x: 20 + column * 385, y, height, service });
      y += height + 14;
    }
  });
  svg.setAttribute(
    "viewBox",
    `0 0 1000 ${Math.max(200, ...[...boxes.values()].map((b) => b.y + b.height + 10))}`,
  );
  const labels = [];
  for (const edge of state.edges) {
    const from = boxes.get(edge.from);
    const to = boxes.get(edge.to);
    if (!from || !to) continue;
    const x1 = from.x + NODE_WIDTH;
    const y1 = from.y + from.height / 2;
    const x2 = to.x;
    const y2 = to.y + to.height / 2;
    const failing = (edge.errorRate ?? 0) > 0;
    el(svg, "path", null, {
      d: `M ${x1} ${y1} C ${x1 + 80} ${y1}, ${x2 - 80} ${y2}, ${x2} ${y2}`,
      class: failing ? "edge failing" : "edge",
    });
    const text = `${fixed(edge.rate, 1)}/s · ${edge.errorRate === null ? "–" : fixed(edge.errorRate * 100, 0)}% err · p99 ${fixed(edge.p99Ms, 1)} ms`;
    labels.push({ text, x: x2 - 175, y: y2 - 8 });
  }
  for (const { x, y, height, service } of boxes.values()) {
    const g = el(svg, "g", null, { class: "node", "data-service": service.name });
    el(g, "rect", null, { x, y, width: NODE_WIDTH, height, rx: 6 });
    el(g, "text", service.name, { x: x + 8, y: y + 17, "font-weight": "bold" });
    service.members.forEach((m, i) => {
      const text = el(g, "text", null, { x: x + 14, y: y + 34 + i * 16 });
      el(text, "tspan", "●", { class: m.health });
      el(
        text,
        "tspan",
        ` ${m.member} ${m.health === "SERVING" ? "" : m.health}${m.metrics ? "" : " · no metrics"}`,
      );
    });
  }
  for (const { text, x, y } of labels) el(svg, "text", text, { x, y, class: "edge-label" });
}

function drawEdges(state) {
  const body = $("#edges tbody");
  body.replaceChildren();
  const peers = new Map(state.peers.map((p) => [edgeName(p), p]));
  for (const edge of state.edges) {
    const peer = peers.get(edgeName(edge)) ?? { breaker: null, ejections: 0 };
    const row = el(body, "tr", null, { "data-edge": edgeName(edge) });
    el(row, "td", edgeName(edge));
    el(row, "td", edge.total, { "data-testid": "edge-total" });
    el(row, "td", fixed(edge.rate, 2));
    el(row, "td", edge.errorRate === null ? "–" : `${fixed(edge.errorRate * 100, 1)}%`, {
      class: edge.errorRate > 0 ? "error" : "",
    });
    el(row, "td", edge.p50Ms === null ? "–" : `${fixed(edge.p50Ms, 1)} ms`);
    el(row, "td", edge.p99Ms === null ? "–" : `${fixed(edge.p99Ms, 1)} ms`);
    el(row, "td", peer.breaker ?? "–", { class: peer.breaker ?? "" });
    el(row, "td", peer.ejections);
  }
}

function drawMembers(state) {
  const body = $("#members tbody");
  body.replaceChildren();
  for (const service of state.services) {
    for (const m of service.members) {
      const row = el(body, "tr", null, { "data-member": m.member });
      el(row, "td", m.member);
      el(row, "td", m.address);
      el(row, "td", m.health, { class: m.health });
      el(row, "td", m.metrics ? "yes" : "no metrics");
      const s = m.supervisor;
      el(row, "td", s ? `${s.restarts} (${s.crashes})${s.crashLoop ? " crash loop" : ""}` : "–", {
        class: s?.crashLoop ? "crash-loop" : "",
        "data-testid": "restarts",
      });
    }
  }
}

/** A loud line over the page while the supervisor reports a member crash-looping. */
function drawCrashLoops(state) {
  const alert = $("#crash-loops");
  const looping = state.crashLoops ?? [];
  alert.hidden = looping.length === 0;
  alert.textContent =
    looping.length === 0
      ? ""
      : `Crash loop: ${looping.join(", ")} keep${looping.length === 1 ? "s" : ""} exiting. ` +
        "The supervisor restarts with growing delays and every other member keeps serving; " +
        "start:all's log says why it exits.";
}

/** Each trace as a waterfall: one bar per span, placed and sized by its time in the trace. */
function drawTraces(state) {
  const box = $("#traces");
  box.replaceChildren();
  for (const trace of state.traces.slice(0, 8)) {
    const div = el(box, "div", null, { class: "trace", "data-trace": trace.traceId });
    el(
      div,
      "div",
      `${trace.name} · ${fixed(trace.durationMs, 1)} ms · ${trace.status} · ${trace.traceId}`,
      { class: `trace-title ${trace.status === "OK" ? "" : "error"}` },
    );
    const depth = new Map();
    for (const span of trace.spans)
      depth.set(span.spanId, (depth.get(span.parentSpanId) ?? -1) + 1);
    const total = Math.max(trace.durationMs, 0.001);
    for (const span of trace.spans) {
      const row = el(div, "div", null, { class: "span-row" });
      const indent = "\u00a0\u00a0".repeat(depth.get(span.spanId) ?? 0);
      el(row, "div", `${indent}${span.member} ${span.name} (${fixed(span.durationMs, 1)} ms)`, {
        class: "span-name",
        title: JSON.stringify(span.attributes),
      });
      const track = el(row, "div", null, { class: "span-track" });
      const left = ((span.startMs - trace.startMs) / total) * 100;
      el(track, "div", null, {
        class: `span-bar ${span.kind} ${span.status === "OK" ? "" : "error"}`,
        style: `left:${left.toFixed(2)}%;width:${Math.max((span.durationMs / total) * 100, 0.3).toFixed(2)}%`,
      });
    }
  }
  if (state.traces.length === 0)
    el(box, "div", "no traces yet: place an order", { class: "muted" });
}

// The operator's secret (plaintext mode): start:all prints the page's URL with it in the
// fragment, which no server sees; it is kept for this tab and taken out of the address bar.
const SECRET_KEY = "operator-secret";
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("secret")) {
  sessionStorage.setItem(SECRET_KEY, fragment.get("secret"));
  history.replaceState(null, "", location.pathname);
}

/** Calls the admin API as the operator: the secret as a bearer token, JSON bodies only. */
async function json(path, options = {}) {
  const secret = sessionStorage.getItem(SECRET_KEY);
  const headers = { ...options.headers };
  if (secret) headers.authorization = `Bearer ${secret}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  const body = await response.json();
  if (!response.ok)
    throw new Error(
      body.error ? `${body.error.status}: ${body.error.message}` : response.statusText,
    );
  return body;
}

let serviceOptionsFilled = false;

async function refresh() {
  try {
    const state = await json("/api/dashboard/state");
    drawTopology(state);
    drawEdges(state);
    drawMembers(state);
    drawCrashLoops(state);
    drawTraces(state);
    updateCharts(state);
    if (!serviceOptionsFilled) {
      const select = $("#fault-form select[name=service]");
      for (const s of state.services)
        if (s.name !== "gateway") el(select, "option", s.name, { value: s.name });
      serviceOptionsFilled = true;
    }
    $("#updated").textContent = `updated ${new Date(state.at).toLocaleTimeString()}`;
  } catch (err) {
    $("#updated").textContent = `gateway unreachable: ${err.message}`;
  }
}

/**
 * Places one order through the public API as an end user would (the admin listener logs the
 * demo user in, picks a product in stock and orders one).
 */
async function placeDemoOrder() {
  const result = $("#demo-result");
  try {
    const order = await json("/api/demo-order", { method: "POST", body: "{}" });
    result.textContent = `${order.orderId} ${order.status.replace("ORDER_STATUS_", "")}`;
  } catch (err) {
    result.textContent = `order failed: ${err.message}`;
  }
  await refresh();
}

async function refreshFaults() {
  const list = $("#faults");
  list.replaceChildren();
  const { overrides, topology } = await json("/api/faults");
  overrides.forEach((fault, index) => {
    const item = el(list, "li", `${JSON.stringify(fault)} `);
    const remove = el(item, "button", "remove", { type: "button", class: "small" });
    remove.addEventListener("click", async () => {
      await json(`/api/faults/${index}`, { method: "DELETE" });
      await refreshFaults();
    });
  });
  for (const fault of topology)
    el(list, "li", `${JSON.stringify(fault)} (mesh.yaml)`, { class: "muted" });
}

async function addFault(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const percentage = Number(form.get("percentage"));
  const fault = { service: form.get("service") };
  if (form.get("method")) fault.method = form.get("method");
  if (form.get("kind") === "abort") fault.abort = { percentage, code: form.get("code") };
  else fault.delay = { percentage, duration: form.get("duration") };
  try {
    await json("/api/faults", { method: "POST", body: JSON.stringify(fault) });
    $("#fault-result").textContent = "added; services apply it within a second";
  } catch (err) {
    $("#fault-result").textContent = err.message;
  }
  await refreshFaults();
}

$("#demo-order").addEventListener("click", () => void placeDemoOrder());
$("#fault-form").addEventListener("submit", (event) => void addFault(event));
void refresh();
void refreshFaults();
setInterval(() => void refresh(), POLL_MS);
