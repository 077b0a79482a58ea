// The admin API client: the page's own credentials (HTTP Basic, user "admin", kept in this
// tab's sessionStorage) and errors turned into sentences.

const STORAGE_KEY = "atrelay-admin";

let password = sessionStorage.getItem(STORAGE_KEY) || "";

/** An admin call that failed: `kind` is "auth", "throttled", "offline", "server" or "input". */
export class ApiError extends Error {
  constructor(kind, message, status) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

export function hasPassword() {
  return password !== "";
}

export function signOut() {
  password = "";
  sessionStorage.removeItem(STORAGE_KEY);
}

// Tries `candidate` with a harmless read; keeps it only when the relay accepts it.
export async function signIn(candidate) {
  const previous = password;
  password = candidate;
  try {
    await admin("GET", "/admin/subs/getEnabled");
  } catch (error) {
    password = previous;
    throw error;
  }
  sessionStorage.setItem(STORAGE_KEY, candidate);
}

// Calls an admin route and returns its JSON. X-Requested-With marks the call as the page's:
// the relay then refuses a wrong password without the challenge that opens the browser's own
// dialog, and accepts state-changing calls (a cross-site HTML form cannot set the header).
export async function admin(method, path, body) {
  const init = {
    method,
    headers: {
      Authorization: "Basic " + btoa("admin:" + password),
      "X-Requested-With": "atrelay-dash",
    },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("offline", "The relay is not answering.", 0);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.ok) return data;
  const said = data && (data.message || data.error);
  if (response.status === 401) {
    throw new ApiError("auth", "The password was not accepted.", 401);
  }
  if (response.status === 429) {
    throw new ApiError("throttled", said || "Too many failed sign-ins; wait a minute.", 429);
  }
  if (response.status >= 500 || !said) {
    // A proxy in front of a stopped relay answers 502/503 with its own page.
    const kind = [502, 503, 504].includes(response.status) ? "offline" : "server";
    throw new ApiError(kind, said ? `The relay failed: ${said}` : `The relay answered ${response.status}.`, response.status);
  }
  throw new ApiError("input", said, response.status);
}
