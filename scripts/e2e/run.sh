#!/usr/bin/env bash
# `make e2e`: atrelay against the reference PDS and PLC on 127.0.0.1 (see scripts/e2e/README.md).
#
# Installs the pinned npm packages (npm ci) and the Python venv when their lock files changed,
# builds atrelay (debug), then runs run.js, which starts the network, drives it and checks it.
# Every process started is in a process group recorded in $RUN_DIR/pgids; the EXIT trap kills
# them all, whatever happened. Exit status: 0 when every check passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/scripts/e2e"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
RUN_DIR="$TARGET/e2e-run"
VENV="$TARGET/e2e-venv"
CARGO="${CARGO:-cargo}"
PYTHON3="${PYTHON3:-python3}"

reported=0
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$reported" -eq 0 ]; then
    echo "E2E FAIL: stopped before the checks could report (exit status $rc)"
  fi
  if [ -f "$RUN_DIR/pgids" ]; then
    while read -r pgid; do
      [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$RUN_DIR/pgids"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
t_start=$(date +%s)

for tool in node npm "$PYTHON3" "$CARGO"; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is required" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "e2e: Node 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

# ---- npm packages (pinned by package-lock.json)
# npm's own cache (~/.npm) keeps the tarballs, but better-sqlite3 is compiled on every `npm ci`
# (about a minute). So a finished node_modules is also kept, keyed by the lock file and the Node
# version, under ~/.cache/atrelay-e2e and copied back when it matches (E2E_NO_CACHE=1: never).
step "npm packages"
stamp="$(cat "$HERE/package-lock.json" "$HERE/package.json" | sha256sum | cut -c1-16)-$(node --version)"
CACHE_ROOT="${E2E_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/atrelay-e2e}"
cached="$CACHE_ROOT/node_modules-$stamp"
if [ "$(cat "$HERE/node_modules/.e2e-stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "up to date ($HERE/node_modules)"
elif [ -z "${E2E_NO_CACHE:-}" ] && [ -f "$cached/.e2e-stamp" ]; then
  t0=$(date +%s)
  rm -rf "$HERE/node_modules"
  cp -a "$cached" "$HERE/node_modules"
  echo "restored node_modules from $cached in $(($(date +%s) - t0)) s"
else
  t0=$(date +%s)
  # better-sqlite3 has no prebuilt binary we can download here; npm builds it from source, which
  # needs Node's headers: Debian's nodejs package has them under /usr.
  if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
    export npm_config_nodedir=/usr
  fi
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$stamp" >"$HERE/node_modules/.e2e-stamp"
  echo "npm ci took $(($(date +%s) - t0)) s"
  if [ -z "${E2E_NO_CACHE:-}" ] && mkdir -p "$CACHE_ROOT" 2>/dev/null; then
    rm -rf "$CACHE_ROOT"/node_modules-* 2>/dev/null || true
    cp -a "$HERE/node_modules" "$cached.partial" && mv "$cached.partial" "$cached" || rm -rf "$cached.partial"
  fi
fi

# ---- Python venv (pinned by requirements.txt)
step "Python venv"
pystamp="$(sha256sum "$HERE/requirements.txt" | cut -c1-16)-$("$PYTHON3" --version 2>&1 | tr ' ' '-')"
if [ "$(cat "$VENV/.e2e-stamp" 2>/dev/null)" = "$pystamp" ]; then
  echo "up to date ($VENV)"
else
  t0=$(date +%s)
  rm -rf "$VENV"
  "$PYTHON3" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$HERE/requirements.txt"
  echo "$pystamp" >"$VENV/.e2e-stamp"
  echo "venv took $(($(date +%s) - t0)) s"
fi

# ---- atrelay
step "cargo build -p atrelay"
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" "$CARGO" build -p atrelay)
ATRELAY_BIN="$TARGET/debug/atrelay"

# ---- the run
step "e2e network"
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
t_setup=$(($(date +%s) - t_start))
echo "setup took ${t_setup} s; run directory $RUN_DIR"
status=0
(cd "$HERE" && ATRELAY_BIN="$ATRELAY_BIN" E2E_PYTHON="$VENV/bin/python" E2E_RUN_DIR="$RUN_DIR" \
  node run.js) || status=$?
reported=1
if [ "$status" -gt 1 ]; then
  echo "E2E FAIL: run.js ended with status $status (killed?); logs in $RUN_DIR/logs"
fi
echo "e2e: total wall time $(($(date +%s) - t_start)) s (setup ${t_setup} s)"
exit "$status"
