// Consumers: who reads the firehose.

import { admin } from "./api.js";
import { $, el, formatTime } from "./ui.js";

export async function load() {
  const consumers = (await admin("GET", "/admin/consumers/list")) || [];
  $("consumer-rows").replaceChildren(...consumers.map((c) => el("tr", {},
    el("td", {}, c.remote_addr),
    el("td", {}, c.user_agent),
    el("td", { className: "num" }, String(c.events_consumed)),
    el("td", {}, formatTime(c.connected_at)),
  )));
  $("consumer-empty").hidden = consumers.length > 0;
}
