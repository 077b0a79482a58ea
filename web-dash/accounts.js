// Accounts: look one up by DID, take it down or reverse it, and the list of takedowns.

import { admin } from "./api.js";
import { $, el, button, ask, formatTime } from "./ui.js";

let shown = null;

function takeDownAction(did) {
  return async () => {
    if (!(await ask(`Take down ${did}? Its events are withheld from consumers until reversed.`, "Take down"))) return "";
    await admin("POST", "/admin/repo/takeDown", { did });
    return `${did} taken down`;
  };
}

function reverseAction(did) {
  return async () => {
    await admin("POST", "/admin/repo/reverseTakedown", { did });
    return `${did} restored`;
  };
}

async function showAccount(did, run) {
  const a = await admin("GET", `/admin/repo/get?did=${encodeURIComponent(did)}`);
  shown = a.did;
  const collections = a.collections
    ? Object.entries(a.collections).map(([nsid, n]) => `${nsid} (${n})`).join(", ") || "none"
    : "not in the collection index";
  const facts = [
    ["Host", a.host || "-"],
    ["Status", `${a.status} (host says ${a.upstream_status}; relay says ${a.local_status}${a.local_reason ? ": " + a.local_reason : ""})`],
    ["Rev", a.rev || "no commit yet"],
    ["Last change", formatTime(a.updated)],
    ["First seen", formatTime(a.first_seen)],
    ["Desynchronized", a.desynchronized ? "yes: the last commit did not chain onto the stored one" : "no"],
    ["Collections", collections],
  ];
  $("account-name").textContent = a.did;
  $("account-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("account-actions").replaceChildren(a.local_status === "takendown"
    ? button("Reverse takedown", () => run(reverseAction(a.did)))
    : button("Take down", () => run(takeDownAction(a.did)), "danger"));
  $("account-detail").hidden = false;
}

export async function load(run) {
  if (shown) await showAccount(shown, run);
  const page = await admin("GET", "/admin/repo/takedowns");
  const dids = page.dids || [];
  $("takedown-list").replaceChildren(...dids.map((did) => el("li", {}, `${did} `, button("Reverse", () => run(reverseAction(did))))));
  $("takedown-empty").hidden = dids.length > 0;
}

export function setup(run, form) {
  form("lookup-form", async () => {
    await showAccount($("lookup-did").value.trim(), run);
    return "";
  });
  form("takedown-form", async () => {
    const did = $("takedown-did").value.trim();
    const done = await takeDownAction(did)();
    if (done) $("takedown-did").value = "";
    return done;
  });
}
