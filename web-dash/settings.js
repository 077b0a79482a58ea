// Crawling and domains: follow a host, the public requestCrawl switch and its daily limit,
// domain bans.

import { admin } from "./api.js";
import { $, el, button, ask, fill, markEdits } from "./ui.js";

let enabled = null;

export async function load(run) {
  enabled = (await admin("GET", "/admin/subs/getEnabled")).enabled;
  $("enabled").textContent = enabled ? "accepted" : "refused";
  $("toggle-enabled").textContent = enabled ? "Refuse public crawl requests" : "Accept public crawl requests";
  fill($("per-day"), String((await admin("GET", "/admin/subs/perDayLimit")).limit));

  const bans = (await admin("GET", "/admin/subs/listDomainBans")).banned_domains || [];
  $("ban-list").replaceChildren(...bans.map((domain) => el("li", {}, `${domain} `,
    button("Lift ban", () => run(async () => {
      await admin("POST", "/admin/subs/unbanDomain", { Domain: domain });
      return `${domain} no longer banned; its hosts stay unfollowed until reconnected (Hosts: Reconnect)`;
    })))));
  $("ban-empty").hidden = bans.length > 0;
}

// `form(id, action)` runs `action` on submit; see app.js.
export function setup(run, form) {
  markEdits($("per-day"));
  $("toggle-enabled").addEventListener("click", () => run(async () => {
    await admin("POST", `/admin/subs/setEnabled?enabled=${!enabled}`);
    return `public requestCrawl ${enabled ? "refused" : "accepted"}`;
  }));
  form("crawl-form", async () => {
    const hostname = $("crawl-host").value.trim();
    await admin("POST", "/admin/pds/requestCrawl", { hostname });
    $("crawl-host").value = "";
    return `following ${hostname}`;
  });
  form("limit-form", async () => {
    const input = $("per-day");
    await admin("POST", `/admin/subs/setPerDayLimit?limit=${encodeURIComponent(input.value)}`);
    delete input.dataset.edited;
    return `new hosts per day: ${input.value}`;
  });
  form("ban-form", async () => {
    const domain = $("ban-domain").value.trim();
    if (!(await ask(`Ban ${domain} and all its subdomains? Their hosts are disconnected and refused.`, "Ban"))) return "";
    await admin("POST", "/admin/subs/banDomain", { Domain: domain });
    $("ban-domain").value = "";
    return `${domain} banned`;
  });
}
