#!/usr/bin/env bash
# The dashboard's browser test (web-dash/test/dash.test.mjs), as `make dash-test` and CI run it.
# Installs what it needs when absent: Debian's chromium (apt-get) and the pinned playwright-core
# (npm ci from web-dash/test/package-lock.json). RELAY_BIN and LOADGEN_BIN name the binaries
# (default: the release builds); screenshots go to SCREENSHOTS (target/dash-screenshots).
set -euo pipefail
cd "$(dirname "$0")/.."

export RELAY_BIN="${RELAY_BIN:-target/release/atrelay}"
export LOADGEN_BIN="${LOADGEN_BIN:-target/release/atrelay-loadgen}"
export SCREENSHOTS="${SCREENSHOTS:-target/dash-screenshots}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

for binary in "$RELAY_BIN" "$LOADGEN_BIN"; do
  [ -x "$binary" ] || { echo "dash-test: $binary is missing (make dash-test builds it)" >&2; exit 1; }
done

if [ ! -x "$CHROMIUM" ]; then
  echo "installing Debian's chromium"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# npm ci only when the installed tree is not the locked one.
TEST_DIR=web-dash/test
if ! cmp -s "$TEST_DIR/package-lock.json" "$TEST_DIR/node_modules/.package-lock.json.installed" 2>/dev/null; then
  (cd "$TEST_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$TEST_DIR/package-lock.json" "$TEST_DIR/node_modules/.package-lock.json.installed"
fi

rm -rf "$SCREENSHOTS"
node "$TEST_DIR/dash.test.mjs"
