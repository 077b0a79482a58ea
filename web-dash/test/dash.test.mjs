// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real
// relay fed live events by `atrelay-loadgen serve` (fake PDS hosts and a PLC directory).
// Every action is taken in the page and its effect checked through the admin API; each form
// gets a bad input whose error must be shown in words; the relay is then killed and the
// offline banner must appear. Screenshots go to $SCREENSHOTS; any unexpected console error
// fails the run.
//
// Environment: RELAY_BIN, LOADGEN_BIN (the two binaries), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOTS (default target/dash-screenshots), WORK_DIR (scratch, default a temp dir).

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const PASSWORD = "dash-test-password";
const RELAY_BIN = resolve(process.env.RELAY_BIN || "target/release/atrelay");
const LOADGEN_BIN = resolve(process.env.LOADGEN_BIN || "target/release/atrelay-loadgen");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOTS = resolve(process.env.SCREENSHOTS || "target/dash-screenshots");
const WORK = process.env.WORK_DIR ? resolve(process.env.WORK_DIR) : mkdtempSync(join(tmpdir(), "atrelay-dash-"));
// How long any one wait may take before the run fails (a hang guard, not a measurement).
const WAIT = 30_000;

const children = [];
const started = Date.now();

function log(message) {
  console.log(`[dash-test ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
    server.on("error", fail);
  });
}

function start(binary, args, logName) {
  const out = openSync(join(WORK, logName), "w");
  const child = spawn(binary, args, { stdio: ["ignore", logName === "loadgen.log" ? "pipe" : out, out] });
  child.on("error", (error) => {
    console.error(`${binary}: ${error.message}`);
    process.exit(1);
  });
  children.push(child);
  return child;
}

function run(binary, args) {
  return new Promise((done, fail) => {
    const child = spawn(binary, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", fail);
    child.on("exit", (code) => (code === 0 ? done() : fail(new Error(`${binary} exited ${code}`))));
  });
}

async function until(what, check) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The relay's admin API as a script calls it (Bearer), to check what the page did.
let base = "";
async function api(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${PASSWORD}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function main() {
  mkdirSync(SCREENSHOTS, { recursive: true });
  log(`scratch ${WORK}, screenshots ${SCREENSHOTS}`);

  // A small load: 3 hosts, 30 accounts, served at 20 events/s so events keep arriving.
  const load = join(WORK, "load");
  await run(LOADGEN_BIN, ["generate", "--out", load, "--hosts", "3", "--accounts", "30", "--commits-per-account", "60"]);
  const loadgen = start(LOADGEN_BIN, ["serve", "--load", load, "--rate", "20"], "loadgen.log");
  const endpoints = JSON.parse(await new Promise((done) => {
    createInterface({ input: loadgen.stdout }).once("line", done);
  }));
  log(`load: ${endpoints.hosts.length} hosts, ${endpoints.events} events`);

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const relay = start(RELAY_BIN, [
    "serve", "--allow-insecure-hosts", "--trusted-domains", "127.0.0.1",
    "--plc-host", endpoints.directory,
    "--bind", `127.0.0.1:${port}`, "--metrics-listen", `127.0.0.1:${await freePort()}`,
    "--db-url", `sqlite://${join(WORK, "relay.sqlite")}`, "--persist-dir", join(WORK, "persist"),
    "--admin-password", PASSWORD, "--log-level", "warn",
  ], "relay.log");
  await until("relay healthy", async () => (await fetch(`${base}/xrpc/_health`).catch(() => null))?.ok);
  for (const hostname of endpoints.hosts) {
    await api("POST", "/admin/pds/requestCrawl", { hostname });
  }
  log("relay up, following the load's hosts");

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const consoleErrors = [];
  // Console errors a step provokes on purpose (a refused call, the stopped relay).
  let expected = [];
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = `${message.text()} (${message.location().url || "?"})`;
    if (!expected.some((pattern) => pattern.test(text))) consoleErrors.push(text);
  });
  page.on("pageerror", (error) => consoleErrors.push(`uncaught: ${error.message}`));
  const challenges = [];
  page.on("response", (response) => {
    if (response.headers()["www-authenticate"]) challenges.push(response.url());
  });
  const shot = (name) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const status = () => page.locator("#status").textContent();
  const refused = (status) => new RegExp(`status of ${status}`);
  const statusSays = async (pattern) => {
    await until(`status line says ${pattern}`, async () => pattern.test(await status()));
  };
  const confirm = async (accept) => {
    await page.locator("#confirm[open]").waitFor({ timeout: WAIT });
    await page.locator(accept ? "#confirm-ok" : "#confirm button[value=cancel]").click();
  };

  try {
    // Sign-in: a wrong password is refused in words, with no browser dialog (no challenge).
    await page.goto(`${base}/dash/?refresh=1`);
    await page.locator("#login").waitFor({ timeout: WAIT });
    expected = [refused(401)];
    await page.fill("#password", "wrong password");
    await page.click("#login-form button");
    await until("wrong password message", async () => /Wrong password/.test(await page.locator("#login-error").textContent()));
    assert.equal(await page.locator("#app").isHidden(), true);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("atrelay-admin")), null);
    assert.deepEqual(challenges, [], "a 401 to the page carried WWW-Authenticate");
    await shot("01-wrong-password");
    expected = [];
    await page.fill("#password", PASSWORD);
    await page.click("#login-form button");
    await page.locator("#app").waitFor({ timeout: WAIT });
    log("signed in");

    // Live hosts: every host connected, events arriving.
    await until("3 hosts listed, connected", async () => (await page.locator("#host-rows tr", { hasText: "connected" }).count()) === 3);
    const firstHost = endpoints.hosts[0];
    const secondHost = endpoints.hosts[1];
    await until("events ingested", async () => (await api("GET", "/admin/pds/list")).some((h) => h.Cursor > 0));
    await until("overview charts", async () => (await page.locator("#charts figure").count()) === 3);
    assert.match(await page.locator("#overview-facts").textContent(), /Replay window/);
    await shot("02-hosts-1400");

    // A refresh must not overwrite what the operator is typing.
    const updated = () => page.locator("#updated").textContent();
    await page.fill("#per-day", "77");
    const before = await updated();
    await until("two refreshes", async () => (await updated()) !== before);
    const after = await updated();
    await until("another refresh", async () => (await updated()) !== after);
    assert.equal(await page.inputValue("#per-day"), "77");

    // Per-day limit: bad inputs shown as errors and nothing changes, then a good one.
    expected = [refused(400)];
    const limitBefore = (await api("GET", "/admin/subs/perDayLimit")).limit;
    for (const bad of ["abc", "-3", "1.5"]) {
      await page.fill("#per-day", bad);
      await page.click("#limit-form button");
      await statusSays(/Refused: limit must be a whole number/);
    }
    assert.equal((await api("GET", "/admin/subs/perDayLimit")).limit, limitBefore);
    await page.fill("#per-day", "12");
    await page.click("#limit-form button");
    await statusSays(/new hosts per day: 12/);
    assert.equal((await api("GET", "/admin/subs/perDayLimit")).limit, 12);
    await shot("03-per-day-limit");

    // The public requestCrawl switch, both ways.
    await page.click("#toggle-enabled");
    await until("requestCrawl refused", async () => (await api("GET", "/admin/subs/getEnabled")).enabled === false);
    await until("page shows refused", async () => (await page.locator("#enabled").textContent()) === "refused");
    await page.click("#toggle-enabled");
    await until("requestCrawl accepted", async () => (await api("GET", "/admin/subs/getEnabled")).enabled === true);

    // Follow a host: a bad hostname is refused in words.
    await page.fill("#crawl-host", "not a host");
    await page.click("#crawl-form button");
    await statusSays(/Refused: .*hostname/i);

    // Domain bans: a bad domain, a cancelled ban, a ban and its lifting.
    await page.fill("#ban-domain", "not a domain");
    await page.click("#ban-form button");
    await confirm(true);
    await statusSays(/Refused: .*is not a domain name/);
    await page.fill("#ban-domain", "example.com");
    await page.click("#ban-form button");
    await confirm(false);
    assert.deepEqual((await api("GET", "/admin/subs/listDomainBans")).banned_domains, []);
    await page.click("#ban-form button");
    await confirm(true);
    await statusSays(/example.com banned/);
    assert.deepEqual((await api("GET", "/admin/subs/listDomainBans")).banned_domains, ["example.com"]);
    await shot("04-domain-ban");
    await page.locator("#ban-list li", { hasText: "example.com" }).getByRole("button", { name: "Lift ban", exact: true }).click();
    await until("ban lifted", async () => (await api("GET", "/admin/subs/listDomainBans")).banned_domains.length === 0);

    // Takedowns: a bad DID, then an account of the load taken down and restored.
    const repos = await (await fetch(`${base}/xrpc/com.atproto.sync.listRepos?limit=5`)).json();
    const did = repos.repos[0].did;
    await page.fill("#takedown-did", "alice.example.com");
    await page.click("#takedown-form button");
    await confirm(true);
    await statusSays(/Refused: .*is not a DID/);
    await page.fill("#takedown-did", did);
    await page.click("#takedown-form button");
    await confirm(true);
    await statusSays(/taken down/);
    assert.deepEqual((await api("GET", "/admin/repo/takedowns")).dids, [did]);
    await page.locator("#takedown-list li", { hasText: did }).getByRole("button", { name: "Reverse", exact: true }).click();
    await until("takedown reversed", async () => (await api("GET", "/admin/repo/takedowns")).dids.length === 0);

    // Account lookup: a bad DID, then the account, taken down and restored from its detail.
    await page.fill("#lookup-did", "alice");
    await page.click("#lookup-form button");
    await statusSays(/Refused: .*is not a DID/);
    await page.fill("#lookup-did", did);
    await page.click("#lookup-form button");
    await page.locator("#account-detail").waitFor({ timeout: WAIT });
    assert.match(await page.locator("#account-facts").textContent(), /127\.0\.0\.1:\d+/);
    await page.locator("#account-actions").getByRole("button", { name: "Take down", exact: true }).click();
    await confirm(true);
    await until("taken down from the lookup", async () => (await api("GET", `/admin/repo/get?did=${did}`)).local_status === "takendown");
    await page.locator("#account-actions").getByRole("button", { name: "Reverse takedown", exact: true }).click();
    await until("restored from the lookup", async () => (await api("GET", `/admin/repo/get?did=${did}`)).local_status === "active");
    await shot("05-account");
    log("forms checked");

    // Hosts: search, sort, detail.
    const row = (host) => page.locator("#host-rows tr").filter({ has: page.getByRole("button", { name: host, exact: true }) });
    await page.fill("#host-search", secondHost.split(":")[1]);
    await until("search narrows to one host", async () => (await page.locator("#host-rows tr").count()) === 1);
    await page.fill("#host-search", "");
    await page.click("#hosts th[data-sort=host]");
    await until("sorted descending", async () => (await page.locator("#hosts th[data-sort=host]").getAttribute("aria-sort")) === "descending");
    await row(firstHost).getByRole("button", { name: firstHost, exact: true }).click();
    await page.locator("#host-detail").waitFor({ timeout: WAIT });
    assert.match(await page.locator("#host-facts").textContent(), /Events per second/);
    await shot("06-host-detail");

    // Account limit: a bad value shown as an error, then a good one.
    await row(firstHost).getByRole("button", { name: "Set limit", exact: true }).click();
    await page.locator("#confirm[open]").waitFor({ timeout: WAIT });
    await page.fill("#confirm-input", "abc");
    await page.click("#confirm-ok");
    await statusSays(/Refused: repo_limit must be a whole number/);
    await row(firstHost).getByRole("button", { name: "Set limit", exact: true }).click();
    await page.locator("#confirm[open]").waitFor({ timeout: WAIT });
    await page.fill("#confirm-input", "5000");
    await page.click("#confirm-ok");
    await statusSays(/account limit 5000/);
    const hostNamed = async (host) => (await api("GET", "/admin/pds/list")).find((h) => h.Host === host);
    assert.equal((await hostNamed(firstHost)).RepoLimit, 5000);

    // Disconnect (cancelled, then confirmed) and reconnect.
    await row(firstHost).getByRole("button", { name: "Disconnect", exact: true }).click();
    await confirm(false);
    assert.ok((await api("GET", "/admin/subs/getUpstreamConns")).includes(firstHost));
    await row(firstHost).getByRole("button", { name: "Disconnect", exact: true }).click();
    await confirm(true);
    await until("host disconnected", async () => !(await api("GET", "/admin/subs/getUpstreamConns")).includes(firstHost));
    await row(firstHost).getByRole("button", { name: "Reconnect", exact: true }).click();
    await until("host reconnected", async () => (await api("GET", "/admin/subs/getUpstreamConns")).includes(firstHost));

    // Block and unblock.
    await row(secondHost).getByRole("button", { name: "Block", exact: true }).click();
    await confirm(true);
    await until("host blocked", async () => (await hostNamed(secondHost)).Blocked);
    await until("page shows Unblock", async () => (await row(secondHost).getByRole("button", { name: "Unblock", exact: true }).count()) === 1);
    await shot("07-host-blocked");
    await row(secondHost).getByRole("button", { name: "Unblock", exact: true }).click();
    await until("host unblocked and followed", async () => (await api("GET", "/admin/subs/getUpstreamConns")).includes(secondHost));
    log("host actions checked");

    // A firehose consumer appears in the consumers table.
    await page.evaluate((url) => { window.testConsumer = new WebSocket(url); }, `${base.replace("http", "ws")}/xrpc/com.atproto.sync.subscribeRepos`);
    await until("consumer listed", async () => (await page.locator("#consumer-rows tr").count()) === 1);
    await page.locator("#consumer-rows").getByRole("button", { name: "Disconnect", exact: true }).click();
    await confirm(true);
    await until("consumer disconnected", async () => (await api("GET", "/admin/consumers/list")).length === 0);
    await page.evaluate((url) => { window.testConsumer = new WebSocket(url); }, `${base.replace("http", "ws")}/xrpc/com.atproto.sync.subscribeRepos`);
    await until("consumer listed again", async () => (await page.locator("#consumer-rows tr").count()) === 1);

    // 390 px: nothing wider than the screen; tables scroll inside their box.
    await page.setViewportSize({ width: 390, height: 844 });
    await until("layout at 390 px", async () => page.evaluate(() => document.documentElement.scrollWidth <= 390));
    await shot("08-narrow-390");
    await page.setViewportSize({ width: 1400, height: 900 });

    // Sign out forgets the password.
    await page.click("#sign-out");
    await page.locator("#login").waitFor({ timeout: WAIT });
    assert.equal(await page.evaluate(() => sessionStorage.getItem("atrelay-admin")), null);
    await page.fill("#password", PASSWORD);
    await page.click("#login-form button");
    await page.locator("#app").waitFor({ timeout: WAIT });

    // The relay stops: the page says its data is stale.
    expected = [/ERR_CONNECTION_REFUSED|Failed to fetch|WebSocket/];
    relay.kill("SIGKILL");
    await page.locator("#offline").waitFor({ timeout: WAIT });
    assert.match(await page.locator("#offline-text").textContent(), /not answering/);
    await shot("09-offline");
    await page.setViewportSize({ width: 390, height: 844 });
    await shot("10-offline-390");
    log("offline banner shown");

    assert.deepEqual(consoleErrors, [], "console errors");
  } catch (error) {
    await shot("failure").catch(() => {});
    throw error;
  } finally {
    await browser.close();
  }
}

try {
  await main();
  log("passed");
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  for (const child of children) child.kill("SIGKILL");
  if (!process.env.WORK_DIR && process.exitCode !== 1) rmSync(WORK, { recursive: true, force: true });
}
