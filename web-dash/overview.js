// The overview: the last hour of /admin/overview as inline SVG charts, and the relay's current
// state (replay window, consumers, host links, database pool).

import { admin } from "./api.js";
import { $, el } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function number(value) {
  if (value === null || value === undefined) return "-";
  if (value >= 1e9) return (value / 1e9).toFixed(1) + " G";
  if (value >= 1e6) return (value / 1e6).toFixed(1) + " M";
  if (value >= 1e4) return (value / 1e3).toFixed(1) + " k";
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

// A line chart of `series` ([{label, values, className}]) over the samples' times.
function chart(title, times, series) {
  const width = 320;
  const height = 110;
  const pad = 4;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const start = times.length ? times[0] : 0;
  const span = Math.max(1, (times.length ? times[times.length - 1] : 1) - start);
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" });
  box.append(svg("line", { x1: 0, y1: height - pad, x2: width, y2: height - pad, class: "axis" }));
  for (const s of series) {
    const points = s.values.map((v, i) => {
      const x = times.length > 1 ? ((times[i] - start) / span) * width : width;
      const y = height - pad - (v / max) * (height - 2 * pad);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    if (points.length > 1) box.append(svg("polyline", { points: points.join(" "), class: s.className }));
    if (points.length === 1) {
      const [x, y] = points[0].split(",");
      box.append(svg("circle", { cx: x - 3, cy: y, r: 3, class: `dot ${s.className}` }));
    }
  }
  const latest = series.map((s) => `${s.label} ${number(s.values.length ? s.values[s.values.length - 1] : 0)}/s`).join(", ");
  return el("figure", { className: "chart-box" },
    el("figcaption", {}, el("strong", {}, title), el("span", { className: "muted" }, ` now: ${latest}; peak ${number(max)}/s`)),
    box,
    el("div", { className: "chart-axis muted" }, el("span", {}, times.length ? `${Math.round(span / 60000)} min ago` : "no samples yet (one every 10 s)"), el("span", {}, "now")));
}

function fact(label, value) {
  return [el("dt", {}, label), el("dd", {}, value)];
}

export async function load() {
  const data = await admin("GET", "/admin/overview");
  const samples = data.samples || [];
  const times = samples.map((s) => s.at_ms);
  const pick = (key) => samples.map((s) => s[key] || 0);
  const dropped = samples.map((s) => Object.values(s.dropped_per_sec || {}).reduce((a, b) => a + b, 0));
  $("charts").replaceChildren(
    chart("Events per second", times, [
      { label: "ingested", values: pick("ingest_per_sec"), className: "line-a" },
      { label: "dropped", values: dropped, className: "line-b" },
    ]),
    chart("Consumer frames per second", times, [{ label: "sent", values: pick("frames_per_sec"), className: "line-a" }]),
    chart("Verification failures and identity", times, [
      { label: "failures", values: pick("verification_failures_per_sec"), className: "line-b" },
      { label: "resolutions", values: pick("resolutions_per_sec"), className: "line-a" },
    ]),
  );
  const now = data.now;
  const replay = now.replay;
  const links = Object.entries(now.host_links || {}).map(([k, v]) => `${v} ${k}`).join(", ") || "none";
  const drops = Object.entries(now.dropped_total || {}).map(([k, v]) => `${k}: ${number(v)}`).join(", ") || "none";
  $("overview-facts").replaceChildren(
    ...fact("Replay window", `seq ${replay.oldest_seq ?? "-"} to ${replay.newest_seq} (${number(replay.bytes)}B in ${replay.segments} segments, ${replay.pending} pending)`),
    ...fact("Events accepted", number(now.accepted_total)),
    ...fact("Dropped since start", drops),
    ...fact("Consumers", String(now.consumers)),
    ...fact("Host links", links),
    ...fact("Identity resolutions", `${number(now.resolutions_total)} (${number(now.resolution_errors_total)} failed)`),
    ...fact("Database pool", `${now.database.open} open, ${now.database.idle} idle, max ${now.database.max}; ${now.unwritten_events} events waiting for the database`),
  );
}
