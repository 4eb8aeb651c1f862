// syntony live dashboard: plain JavaScript, no libraries. Receives snapshots from
// /api/events (Server-Sent Events; /api/state polling when EventSource is unavailable)
// and draws them with inline SVG and a canvas.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function fmt(v, digits) {
  return v === null || v === undefined || !isFinite(v) ? "–" : Number(v).toFixed(digits);
}

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

// A small line chart: x from the data, y in [ymin, ymax]; returns the mapping functions.
function frame(svg, width, height, xs, ymin, ymax, ylabel) {
  clear(svg);
  const m = { l: 46, r: 10, t: 10, b: 26 };
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const span = x1 > x0 ? x1 - x0 : 1;
  const fx = (x) => m.l + ((x - x0) / span) * (width - m.l - m.r);
  const fy = (y) => m.t + (1 - (y - ymin) / (ymax - ymin)) * (height - m.t - m.b);
  const axis = el("g", { class: "axis" }, svg);
  for (let k = 0; k <= 4; k++) {
    const y = ymin + (k / 4) * (ymax - ymin);
    el("line", { x1: m.l, x2: width - m.r, y1: fy(y), y2: fy(y), "stroke-width": 0.5 }, axis);
    el("text", { x: m.l - 6, y: fy(y) + 4, "text-anchor": "end" }, axis).textContent =
      y.toFixed(2);
  }
  for (let k = 0; k <= 4; k++) {
    const x = x0 + (k / 4) * span;
    el("text", { x: fx(x), y: height - 6, "text-anchor": "middle" }, axis).textContent =
      x.toFixed(0) + " s";
  }
  el("text", { x: m.l + 6, y: m.t + 12, "text-anchor": "start" }, axis).textContent = ylabel;
  return { fx, fy };
}

function path(points) {
  let d = "";
  let pen = false;
  for (const [x, y] of points) {
    if (y === null || y === undefined || !isFinite(y)) { pen = false; continue; }
    d += (pen ? "L" : "M") + x.toFixed(1) + "," + y.toFixed(1);
    pen = true;
  }
  return d;
}

function bandPath(rows, fx, fy, lo, hi) {
  const ok = rows.filter((r) => r[lo] !== null && r[hi] !== null);
  if (!ok.length) return "";
  const top = ok.map((r) => [fx(r.time), fy(r[hi])]);
  const bottom = ok.slice().reverse().map((r) => [fx(r.time), fy(r[lo])]);
  return path(top) + "L" + bottom.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join("L") + "Z";
}

function drawTimeline(state) {
  const svg = $("timeline");
  const wins = state.windows || [];
  const xs = wins.map((w) => w.time);
  const vals = [];
  for (const w of wins) { if (w.group !== null) vals.push(w.group); if (w.kuramoto !== null) vals.push(w.kuramoto); }
  for (const b of state.bands || []) { vals.push(b.q025, b.q975); }
  const ymin = Math.min(0, ...vals.filter((v) => v !== null));
  const ymax = Math.max(1, ...vals.filter((v) => v !== null));
  const { fx, fy } = frame(svg, 900, 260, xs.concat((state.bands || []).map((b) => b.time)), ymin, ymax, "r");
  // The band is shown as a step: each band holds until the next one.
  const bands = state.bands || [];
  if (bands.length) {
    const steps = [];
    for (let k = 0; k < bands.length; k++) {
      const next = k + 1 < bands.length ? bands[k + 1].time : (xs.length ? Math.max(...xs) : bands[k].time);
      steps.push({ time: bands[k].time, q025: bands[k].q025, q975: bands[k].q975 });
      steps.push({ time: next, q025: bands[k].q025, q975: bands[k].q975 });
    }
    el("path", { d: bandPath(steps, fx, fy, "q025", "q975"), fill: "rgba(120,130,150,0.3)", stroke: "none" }, svg);
  }
  el("path", { d: path(wins.map((w) => [fx(w.time), w.kuramoto === null ? null : fy(w.kuramoto)])),
    fill: "none", stroke: "#c0582b", "stroke-width": 1.2, "stroke-dasharray": "4 3" }, svg);
  el("path", { d: path(wins.map((w) => [fx(w.time), w.group === null ? null : fy(w.group)])),
    fill: "none", stroke: "#1f5fbf", "stroke-width": 1.8 }, svg);
}

function drawCoupling(state) {
  const svg = $("coupling");
  const fits = state.fits || [];
  const known = state.session ? state.session.known_c : null;
  const vals = [];
  for (const f of fits) vals.push(f.c, f.c_ci_low, f.c_ci_high);
  if (known !== null && known !== undefined) vals.push(known);
  const ok = vals.filter((v) => v !== null && isFinite(v));
  let ymin = ok.length ? Math.min(0, ...ok) : 0;
  let ymax = ok.length ? Math.max(...ok) : 1;
  if (ymax - ymin < 1e-6) ymax = ymin + 1;
  const { fx, fy } = frame(svg, 420, 260, fits.map((f) => f.time), ymin, ymax, "c");
  el("path", { d: bandPath(fits, fx, fy, "c_ci_low", "c_ci_high"), fill: "rgba(120,130,150,0.3)", stroke: "none" }, svg);
  el("path", { d: path(fits.map((f) => [fx(f.time), f.c === null ? null : fy(f.c)])), fill: "none",
    stroke: "#1f5fbf", "stroke-width": 1.8 }, svg);
  for (const f of fits) {
    if (f.c !== null) el("circle", { cx: fx(f.time), cy: fy(f.c), r: 2.5, fill: "#1f5fbf" }, svg);
  }
  if (known !== null && known !== undefined) {
    el("line", { x1: 46, x2: 410, y1: fy(known), y2: fy(known), stroke: "#2e8b57",
      "stroke-width": 1.5, "stroke-dasharray": "2 3" }, svg);
  }
}

function colour(v) {
  if (v === null || v === undefined || !isFinite(v)) return "#d9dce3";
  const t = Math.max(-1, Math.min(1, v));
  const a = Math.abs(t);
  const [r, g, b] = t >= 0 ? [192, 57, 43] : [43, 95, 180];
  const mix = (c) => Math.round(255 + (c - 255) * a);
  return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
}

function drawMatrix(state) {
  const m = state.matrix;
  const canvas = $("matrix");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!m) return;
  const n = m.values.length;
  const cell = canvas.width / Math.max(1, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      ctx.fillStyle = colour(m.values[i][j]);
      ctx.fillRect(j * cell, i * cell, Math.ceil(cell), Math.ceil(cell));
    }
  }
  $("matrix-window").textContent = `window ${m.window}`;
  canvas.setAttribute("data-window", m.window);
  canvas.title = n <= 60 ? m.labels.join(", ") : "";
  $("matrix-note").textContent = m.labels.length && m.labels[0].includes("–")
    ? `${n} blocks of persons (block mean)` : `${n} persons`;
}

function drawQuality(state) {
  const q = state.quality;
  if (!q) return;
  const grid = $("quality-grid");
  clear(grid);
  let live = 0;
  let dropped = 0;
  const body = $("quality").querySelector("tbody");
  clear(body);
  const limit = 300;
  for (let k = 0; k < q.person.length; k++) {
    const status = q.status[k];
    if (status === "dropped") dropped++; else live++;
    const warn = q.flat[k] || q.reason[k] || q.received[k] < 0.9;
    const dot = document.createElement("span");
    dot.className = status === "dropped" ? "dropped" : warn ? "warn" : "live";
    dot.title = `${q.person[k]}: ${status}, ${(100 * q.received[k]).toFixed(0)}% received`;
    grid.appendChild(dot);
    if (k < limit) {
      const tr = document.createElement("tr");
      tr.setAttribute("data-person", q.person[k]);
      tr.setAttribute("data-status", status);
      tr.setAttribute("data-received", q.received[k]);
      const cells = [q.person[k], status, (100 * q.received[k]).toFixed(0) + "%",
        q.flat[k] ? "flat" : "", String(q.late[k]), q.reason[k] || "ok"];
      cells.forEach((text, c) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (c === 1) td.className = status;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
  }
  $("quality-note").textContent = q.person.length > limit
    ? `first ${limit} of ${q.person.length} persons listed; every person is a square above` : "";
  const pv = $("persons-value");
  pv.textContent = `${live} live`;
  pv.setAttribute("data-live", live);
  pv.setAttribute("data-dropped", dropped);
  $("persons-note").textContent = `${dropped} dropped out`;
}

function render(state) {
  const s = state.session || {};
  const latest = state.latest;
  const status = $("status");
  status.textContent = `${s.status || ""}${latest ? ` · ${latest.time.toFixed(1)} s · window ${latest.window}` : ""}`;
  status.setAttribute("data-value", state.version);
  if (latest) {
    const g = $("group-value");
    g.textContent = fmt(latest.group, 3);
    g.setAttribute("data-value", latest.group === null ? "" : String(latest.group));
    g.setAttribute("data-window", String(latest.window));
    $("group-window").textContent = `window ${latest.window}, centre ${latest.time.toFixed(2)} s, ${latest.n_pairs} pairs`;
    const k = $("kuramoto-value");
    k.textContent = fmt(latest.kuramoto, 3);
    k.setAttribute("data-value", latest.kuramoto === null ? "" : String(latest.kuramoto));
  }
  const bands = state.bands || [];
  if (bands.length) {
    const b = bands[bands.length - 1];
    const bv = $("band-value");
    bv.textContent = `${fmt(b.q025, 3)} – ${fmt(b.q975, 3)}`;
    bv.setAttribute("data-low", String(b.q025));
    bv.setAttribute("data-high", String(b.q975));
    bv.setAttribute("data-window", String(b.window));
    $("band-note").textContent = `at window ${b.window}`;
  }
  const fits = state.fits || [];
  if (fits.length) {
    const f = fits[fits.length - 1];
    const cv = $("coupling-value");
    cv.textContent = `${fmt(f.c, 3)} [${fmt(f.c_ci_low, 3)}, ${fmt(f.c_ci_high, 3)}]`;
    cv.setAttribute("data-value", f.c === null ? "" : String(f.c));
    cv.setAttribute("data-window", String(f.window));
    $("coupling-note").textContent = `${f.n_persons} persons, LRT p = ${fmt(f.lrt_pvalue, 3)}`
      + (s.known_c !== null && s.known_c !== undefined ? `, known c = ${fmt(s.known_c, 3)}` : "");
  }
  drawTimeline(state);
  drawMatrix(state);
  drawCoupling(state);
  drawQuality(state);
}

function start() {
  if (window.EventSource) {
    const source = new EventSource("/api/events");
    source.onmessage = (event) => render(JSON.parse(event.data));
    source.onerror = () => { $("status").textContent = "reconnecting…"; };
  } else {
    const poll = () => fetch("/api/state").then((r) => r.json()).then(render)
      .finally(() => setTimeout(poll, 1000));
    poll();
  }
}

start();
