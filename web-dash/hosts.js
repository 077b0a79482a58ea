// The hosts view: a searchable, sortable, paged table of /admin/pds/list and a detail panel
// for one host, with block/unblock, disconnect, reconnect and the account limit.

import { admin } from "./api.js";
import { $, el, button, ask, formatTime } from "./ui.js";

const PAGE_SIZE = 50;

const view = { hosts: [], search: "", sort: "host", descending: false, page: 0, selected: null };

// Sort keys of the table's columns.
const COLUMNS = {
  host: (h) => h.Host,
  status: (h) => h.Status,
  link: (h) => linkState(h),
  events: (h) => (h.EventsUsed ? h.EventsUsed.PerSecond : -1),
  accounts: (h) => h.RepoCount,
  error: (h) => h.LastError || "",
};

// A host without a task was disconnected (by an operator or a domain ban) or never followed:
// say so, since nothing reconnects it but Reconnect.
function linkState(host) {
  if (host.Ingest) return host.Ingest.State;
  return host.Blocked ? "banned" : "not followed (use Reconnect)";
}

function eventsText(host) {
  if (!host.EventsUsed) return "-";
  const used = `${host.EventsUsed.PerSecond} / ${host.PerSecondEventRate.Max}`;
  return host.EventsUsed.Paused ? `${used} (throttled: events wait)` : used;
}

function accountsText(host) {
  return `${host.RepoCount} / ${host.RepoLimit}`;
}

// The actions of one host; `run` reports the outcome and refreshes.
function actions(host, run) {
  const q = encodeURIComponent(host.Host);
  const out = [];
  if (host.Blocked) {
    out.push(button("Unblock", () => run(async () => {
      await admin("POST", `/admin/pds/unblock?host=${q}`);
      return `${host.Host} unblocked and followed again`;
    })));
  } else {
    out.push(button("Block", () => run(async () => {
      if (!(await ask(`Block ${host.Host}? Its connection ends and it is refused until unblocked.`, "Block"))) return "";
      await admin("POST", `/admin/pds/block?host=${q}`);
      return `${host.Host} blocked`;
    }), "danger"));
  }
  if (host.HasActiveConnection) {
    out.push(button("Disconnect", () => run(async () => {
      if (!(await ask(`Disconnect ${host.Host}? It stays known but is not followed until reconnected.`, "Disconnect"))) return "";
      await admin("POST", `/admin/subs/killUpstream?host=${q}`);
      return `${host.Host} disconnected`;
    }), "danger"));
  } else if (!host.Blocked) {
    out.push(button("Reconnect", () => run(async () => {
      await admin("POST", "/admin/pds/requestCrawl", { hostname: host.Host });
      return `${host.Host} followed again`;
    })));
  }
  out.push(button("Set limit", () => run(async () => {
    const raw = await ask(`Account limit for ${host.Host} (accounts past it are throttled):`, "Set limit", host.RepoLimit);
    if (raw === null) return "";
    // Whole numbers go as numbers; anything else as typed, so the relay says what is wrong.
    const limit = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
    await admin("POST", "/admin/pds/changeLimits", { host: host.Host, repo_limit: limit });
    return `${host.Host}: account limit ${limit}`;
  })));
  return out;
}

function matching() {
  const needle = view.search.trim().toLowerCase();
  const key = COLUMNS[view.sort];
  const hosts = view.hosts.filter((h) =>
    !needle || h.Host.toLowerCase().includes(needle) || h.Status.includes(needle) || linkState(h).includes(needle));
  hosts.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return view.descending ? -order : order;
  });
  return hosts;
}

function render(run) {
  const hosts = matching();
  const pages = Math.max(1, Math.ceil(hosts.length / PAGE_SIZE));
  view.page = Math.min(view.page, pages - 1);
  const shown = hosts.slice(view.page * PAGE_SIZE, (view.page + 1) * PAGE_SIZE);
  $("host-rows").replaceChildren(...shown.map((host) => el("tr", {},
    el("td", {}, button(host.Host, () => select(host.Host, run), "link")),
    el("td", {}, host.Status),
    el("td", { title: host.Ingest && host.Ingest.Detail ? host.Ingest.Detail : "" }, linkState(host)),
    el("td", { className: host.EventsUsed && host.EventsUsed.Paused ? "warn" : "" }, eventsText(host)),
    el("td", {}, accountsText(host)),
    el("td", { className: "error-text" }, host.LastError || ""),
    el("td", { className: "actions" }, ...actions(host, run)),
  )));
  $("host-count").textContent = `${hosts.length} of ${view.hosts.length} hosts`;
  $("host-page").textContent = `page ${view.page + 1} of ${pages}`;
  $("host-prev").disabled = view.page === 0;
  $("host-next").disabled = view.page >= pages - 1;
  for (const th of document.querySelectorAll("#hosts th[data-sort]")) {
    const active = th.dataset.sort === view.sort;
    th.setAttribute("aria-sort", active ? (view.descending ? "descending" : "ascending") : "none");
  }
  renderDetail(run);
}

function select(hostname, run) {
  view.selected = hostname;
  renderDetail(run);
  $("host-detail").scrollIntoView({ block: "nearest" });
}

function renderDetail(run) {
  const panel = $("host-detail");
  const host = view.hosts.find((h) => h.Host === view.selected);
  if (!host) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  const rate = (r, used) => (r.Max < 0 ? "-" : `${used ?? "?"} / ${r.Max} per ${r.Window} s`);
  const used = host.EventsUsed || {};
  const facts = [
    ["Status", host.Status],
    ["Link", host.Ingest ? `${host.Ingest.State} since ${formatTime(host.Ingest.Since)}${host.Ingest.Detail ? ": " + host.Ingest.Detail : ""}` : linkState(host)],
    ["Last error", host.LastError || "none"],
    ["Cursor", String(host.Cursor)],
    ["Accounts / limit", accountsText(host)],
    ["Events per second", rate(host.PerSecondEventRate, used.PerSecond)],
    ["Events per hour", rate(host.PerHourEventRate, used.PerHour)],
    ["Events per day", rate(host.PerDayEventRate, used.PerDay)],
    ["Reading paused (throttled)", host.EventsUsed ? `${used.Paused ? "yes" : "no"}, ${used.Pauses} times since followed` : "-"],
    ["Trusted", host.Trusted ? "yes" : "no"],
    ["TLS", host.SSL ? "yes" : "no"],
    ["Added", formatTime(host.CreatedAt)],
  ];
  $("host-detail-name").textContent = host.Host;
  $("host-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("host-detail-actions").replaceChildren(...actions(host, run), button("Close", () => {
    view.selected = null;
    renderDetail(run);
  }));
}

export async function load(run) {
  view.hosts = (await admin("GET", "/admin/pds/list")) || [];
  render(run);
}

// Wires the search box, the sortable headers and the pager once.
export function setup(run) {
  $("host-search").addEventListener("input", (event) => {
    view.search = event.target.value;
    view.page = 0;
    render(run);
  });
  for (const th of document.querySelectorAll("#hosts th[data-sort]")) {
    th.tabIndex = 0;
    const sort = () => {
      view.descending = view.sort === th.dataset.sort ? !view.descending : false;
      view.sort = th.dataset.sort;
      render(run);
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (event) => { if (event.key === "Enter") sort(); });
  }
  $("host-prev").addEventListener("click", () => { view.page -= 1; render(run); });
  $("host-next").addEventListener("click", () => { view.page += 1; render(run); });
}
