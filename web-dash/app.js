// The atrelay dashboard's entry: sign-in and sign-out, the periodic refresh, the offline
// banner, and the wiring of each view (overview.js, hosts.js, settings.js, accounts.js, consumers.js).

import { hasPassword, signIn, signOut, ApiError } from "./api.js";
import { $, say } from "./ui.js";
import * as hosts from "./hosts.js";
import * as settings from "./settings.js";
import * as accounts from "./accounts.js";
import * as consumers from "./consumers.js";
import * as overview from "./overview.js";

// Seconds between refreshes; `?refresh=N` overrides it (the browser test uses a short one).
const REFRESH_SECONDS = Math.max(1, Number(new URLSearchParams(location.search).get("refresh")) || 10);

const health = { lastGood: null, failingSince: null };
let refreshing = null;

function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
}

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("sign-out").hidden = true;
  $("offline").hidden = true;
  $("login-error").textContent = message;
  $("password").value = "";
  $("password").focus();
}

function time(date) {
  return date ? date.toLocaleTimeString() : "never";
}

// The stale/offline banner: shown while refreshes fail, with what failed and how old the
// data on screen is.
function markStale(error) {
  health.failingSince = health.failingSince || new Date();
  const what = error.kind === "offline"
    ? "The relay is not answering"
    : `The relay answered with an error (${error.message})`;
  $("offline-text").textContent =
    `${what} since ${time(health.failingSince)}. The figures below are from ${time(health.lastGood)} and may be out of date; retrying every ${REFRESH_SECONDS} s.`;
  $("offline").hidden = false;
  $("app").classList.add("stale");
}

function markFresh() {
  health.lastGood = new Date();
  health.failingSince = null;
  $("offline").hidden = true;
  $("app").classList.remove("stale");
  $("updated").textContent = `updated ${time(health.lastGood)}`;
}

async function refreshOnce() {
  if (!hasPassword()) return showLogin("");
  try {
    await Promise.all([hosts.load(run), settings.load(run), accounts.load(run), consumers.load(run), overview.load()]);
    markFresh();
    showApp();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.kind === "auth") {
      signOut();
      showLogin("The stored password is no longer accepted; sign in again.");
    } else {
      showApp();
      markStale(error);
    }
  }
}

// One refresh at a time; a call during one waits for it.
function refresh() {
  refreshing = refreshing || refreshOnce().finally(() => { refreshing = null; });
  return refreshing;
}

// Runs an operator's action, says how it went, then refreshes every view. An action returns
// the sentence to show, or "" when the operator cancelled it.
async function run(action) {
  try {
    const done = await action();
    if (done) say(done, true);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.kind === "auth") {
      signOut();
      return showLogin("The password is no longer accepted; sign in again.");
    }
    say(error.kind === "input" ? `Refused: ${error.message}` : error.message, false);
    if (error.kind === "offline") markStale(error);
  }
  await refresh();
}

function form(id, action) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    run(action);
  });
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("login-form").querySelector("button");
  button.disabled = true;
  $("login-error").textContent = "";
  try {
    await signIn($("password").value);
    $("password").value = "";
    say("Signed in.", true);
    await refresh();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showLogin(error.kind === "auth" ? "Wrong password: the relay did not accept it." : error.message);
  } finally {
    button.disabled = false;
  }
});

$("sign-out").addEventListener("click", () => {
  signOut();
  say("", true);
  showLogin("Signed out.");
});

hosts.setup(run);
settings.setup(run, form);
accounts.setup(run, form);
refresh();
setInterval(() => {
  if (hasPassword()) refresh();
}, REFRESH_SECONDS * 1000);
