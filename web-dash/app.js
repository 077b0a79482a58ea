// The atrelay dashboard: a thin client of the /admin/* API (HTTP Basic, user "admin").
"use strict";

const state = { password: sessionStorage.getItem("atrelay-admin") || "" };
const $ = (id) => document.getElementById(id);

function authHeader() {
  return "Basic " + btoa("admin:" + state.password);
}

// Calls an admin route; throws with the relay's error message on a non-2xx answer.
async function admin(method, path, body) {
  // X-Requested-With: the relay refuses state-changing admin calls a cross-site HTML form
  // could send, and a form cannot set this header.
  const init = {
    method,
    headers: { Authorization: authHeader(), "X-Requested-With": "atrelay-dash" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    showLogin("The password was not accepted.");
    throw new Error("not signed in");
  }
  if (!response.ok) {
    throw new Error((data && (data.message || data.error)) || response.statusText);
  }
  return data;
}

function say(message, ok) {
  const el = $("status");
  el.textContent = message;
  el.className = ok ? "ok" : "";
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function button(label, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", () => run(action));
  return b;
}

// Runs an action, reports its outcome, then refreshes every view.
async function run(action) {
  try {
    const done = await action();
    if (done) say(done, true);
  } catch (error) {
    say(error.message, false);
  }
  await refresh();
}

async function loadHosts() {
  const hosts = (await admin("GET", "/admin/pds/list")) || [];
  const rows = $("host-rows");
  rows.replaceChildren();
  for (const host of hosts) {
    const row = document.createElement("tr");
    const q = encodeURIComponent(host.Host);
    cell(row, host.Host);
    cell(row, host.Status);
    cell(row, host.HasActiveConnection ? "yes" : "no");
    cell(row, String(host.Cursor));
    cell(row, `${host.RepoCount} / ${host.RepoLimit}`);
    cell(row, host.EventsUsed ? `${host.EventsUsed.PerSecond} / ${host.PerSecondEventRate.Max}` : "-");
    const actions = cell(row, "");
    if (host.Blocked) {
      actions.appendChild(button("Unblock", async () => {
        await admin("POST", `/admin/pds/unblock?host=${q}`);
        return `${host.Host} unblocked`;
      }));
    } else {
      actions.appendChild(button("Block", async () => {
        await admin("POST", `/admin/pds/block?host=${q}`);
        return `${host.Host} blocked`;
      }));
    }
    if (host.HasActiveConnection) {
      actions.appendChild(button("Disconnect", async () => {
        await admin("POST", `/admin/subs/killUpstream?host=${q}`);
        return `${host.Host} disconnected`;
      }));
    }
    actions.appendChild(button("Set limit", async () => {
      const limit = prompt(`Account limit for ${host.Host}`, String(host.RepoLimit));
      if (limit === null) return "";
      await admin("POST", "/admin/pds/changeLimits", { host: host.Host, repo_limit: Number(limit) });
      return `${host.Host}: limit ${limit}`;
    }));
    rows.appendChild(row);
  }
}

async function loadSettings() {
  const enabled = (await admin("GET", "/admin/subs/getEnabled")).enabled;
  $("enabled").textContent = enabled ? "accepted" : "refused";
  $("toggle-enabled").onclick = () => run(async () => {
    await admin("POST", `/admin/subs/setEnabled?enabled=${!enabled}`);
    return `public requestCrawl ${enabled ? "refused" : "accepted"}`;
  });
  $("per-day").value = (await admin("GET", "/admin/subs/perDayLimit")).limit;
}

async function loadBans() {
  const bans = (await admin("GET", "/admin/subs/listDomainBans")).banned_domains;
  const list = $("ban-list");
  list.replaceChildren();
  for (const domain of bans) {
    const li = document.createElement("li");
    li.textContent = domain + " ";
    li.appendChild(button("Lift", async () => {
      await admin("POST", "/admin/subs/unbanDomain", { Domain: domain });
      return `${domain} unbanned`;
    }));
    list.appendChild(li);
  }
}

async function loadTakedowns() {
  const page = await admin("GET", "/admin/repo/takedowns");
  const list = $("takedown-list");
  list.replaceChildren();
  for (const did of page.dids) {
    const li = document.createElement("li");
    li.textContent = did + " ";
    li.appendChild(button("Reverse", async () => {
      await admin("POST", "/admin/repo/reverseTakedown", { did });
      return `${did} restored`;
    }));
    list.appendChild(li);
  }
}

async function loadConsumers() {
  const consumers = (await admin("GET", "/admin/consumers/list")) || [];
  const rows = $("consumer-rows");
  rows.replaceChildren();
  for (const consumer of consumers) {
    const row = document.createElement("tr");
    cell(row, consumer.remote_addr);
    cell(row, consumer.user_agent);
    cell(row, String(consumer.events_consumed));
    cell(row, consumer.connected_at);
    rows.appendChild(row);
  }
}

async function refresh() {
  if (!state.password) return showLogin("");
  try {
    await Promise.all([loadHosts(), loadSettings(), loadBans(), loadTakedowns(), loadConsumers()]);
    $("login").hidden = true;
    $("app").hidden = false;
    $("who").textContent = "signed in as admin";
  } catch (error) {
    say(error.message, false);
  }
}

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("who").textContent = message;
}

function onSubmit(id, action) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    run(action);
  });
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.password = $("password").value;
  sessionStorage.setItem("atrelay-admin", state.password);
  refresh();
});
onSubmit("crawl-form", async () => {
  const hostname = $("crawl-host").value.trim();
  await admin("POST", "/admin/pds/requestCrawl", { hostname });
  return `following ${hostname}`;
});
onSubmit("limit-form", async () => {
  await admin("POST", `/admin/subs/setPerDayLimit?limit=${encodeURIComponent($("per-day").value)}`);
  return "per-day limit set";
});
onSubmit("ban-form", async () => {
  const domain = $("ban-domain").value.trim();
  await admin("POST", "/admin/subs/banDomain", { Domain: domain });
  return `${domain} banned`;
});
onSubmit("takedown-form", async () => {
  const did = $("takedown-did").value.trim();
  await admin("POST", "/admin/repo/takeDown", { did });
  return `${did} taken down`;
});

refresh();
setInterval(() => { if (!$("app").hidden) refresh(); }, 10000);
