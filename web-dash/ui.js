// Small DOM helpers: elements, the confirmation and value dialogs, the status line.

export const $ = (id) => document.getElementById(id);

// Makes an element: el("td", {className: "num"}, "text", child...).
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function button(label, onclick, className = "") {
  return el("button", { type: "button", className, onclick }, label);
}

// Shows the outcome of an action in words: ok (green) or an error (red, role=alert).
export function say(message, ok) {
  const status = $("status");
  status.textContent = message;
  status.className = ok ? "ok" : "error";
  status.setAttribute("role", ok ? "status" : "alert");
}

// Asks the operator to confirm; resolves true when confirmed. `value` (optional) adds an input
// with that starting value, and the promise resolves to its text instead (null when cancelled).
export function ask(question, confirmLabel, value) {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  $("confirm-ok").textContent = confirmLabel;
  const input = $("confirm-input");
  input.hidden = value === undefined;
  input.value = value === undefined ? "" : String(value);
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const confirmed = dialog.returnValue === "ok";
        if (value === undefined) resolve(confirmed);
        else resolve(confirmed ? input.value : null);
      },
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
    (value === undefined ? $("confirm-ok") : input).focus();
  });
}

// Sets an input's value from a refresh unless the operator is editing it (focused or changed
// since it was last filled).
export function fill(input, value) {
  if (document.activeElement === input || input.dataset.edited === "yes") return;
  input.value = value;
}

export function markEdits(input) {
  input.addEventListener("input", () => {
    input.dataset.edited = "yes";
  });
}

export function formatTime(iso) {
  if (!iso) return "-";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
