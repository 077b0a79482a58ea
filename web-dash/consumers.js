// Consumers: who reads the firehose, how far behind each is, and disconnecting one.

import { admin } from "./api.js";
import { $, el, button, ask, formatTime } from "./ui.js";

export async function load(run) {
  const consumers = (await admin("GET", "/admin/consumers/list")) || [];
  $("consumer-rows").replaceChildren(...consumers.map((c) => el("tr", {},
    el("td", {}, c.remote_addr),
    el("td", {}, c.user_agent),
    el("td", { className: "num" }, String(c.events_consumed)),
    el("td", { className: "num" }, c.lag === undefined ? "-" : String(c.lag)),
    el("td", {}, formatTime(c.connected_at)),
    el("td", {}, button("Disconnect", () => run(async () => {
      if (!(await ask(`Disconnect the consumer at ${c.remote_addr}? It may reconnect with its cursor.`, "Disconnect"))) return "";
      await admin("POST", `/admin/consumers/disconnect?id=${c.id}`);
      return `consumer ${c.remote_addr} disconnected`;
    }), "danger")),
  )));
  $("consumer-empty").hidden = consumers.length > 0;
}
