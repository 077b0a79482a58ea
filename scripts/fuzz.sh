#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer) over the targets in fuzz/ (see fuzz/README.md).
#
#   scripts/fuzz.sh build                 build every target
#   scripts/fuzz.sh seeds                 (re)write the seed corpora from testdata/
#   scripts/fuzz.sh smoke                 build, seed, then run every target briefly
#   scripts/fuzz.sh run <target> <runs>   a campaign: <runs> executions of one target
#   scripts/fuzz.sh list                  the target names
#
# cargo-fuzz is installed (pinned) when missing. It wants a nightly compiler for its
# sanitizer-coverage flags; on the one stable toolchain this project uses, RUSTC_BOOTSTRAP=1
# unlocks them. Targets are built in release mode with debug assertions and overflow checks
# and without a sanitizer (-s none): the decoders are safe Rust, and the throughput matters.
#
# Environment: FUZZ_SMOKE_RUNS (executions per target in a smoke run, default 20000),
# FUZZ_SMOKE_SECONDS (time cap per target, default 20), FUZZ_ARGS (extra libFuzzer flags for `run`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CARGO_FUZZ_VERSION=0.13.2
BUILD_FLAGS=(-O -a -s none)
export RUSTC_BOOTSTRAP=1

# The largest input each target needs: frames and CARs are up to 2 MB on the firehose, but
# a fuzzer gets deep far sooner with small inputs; identifiers are short.
max_len() {
  case "$1" in
    syntax) echo 512 ;;
    relay_bodies) echo 1024 ;;
    signature | signature_mutations) echo 1024 ;;
    did_document) echo 4096 ;;
    dag_cbor) echo 16384 ;;
    car | mst | decode_frame | commit) echo 65536 ;;
    *) echo 4096 ;;
  esac
}

ensure_cargo_fuzz() {
  if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
}

# The two cargo-fuzz packages of the fuzz workspace: the decoders (fuzz/) and the relay's
# request bodies (fuzz/relay, which links the whole relay crate).
FUZZ_DIRS=(. relay)

targets() {
  local dir
  for dir in "${FUZZ_DIRS[@]}"; do
    (cd fuzz && cargo fuzz list --fuzz-dir "$dir")
  done
}

# The fuzz dir (relative to fuzz/) holding a target.
fuzz_dir_of() {
  local dir
  for dir in "${FUZZ_DIRS[@]}"; do
    # The list is read in full before matching: `grep -q` would close the pipe at the first
    # match and, under pipefail, the lister's broken pipe would read as "no such target".
    local listed
    listed=$(cd fuzz && cargo fuzz list --fuzz-dir "$dir")
    if grep -qx "$1" <<<"$listed"; then
      echo "$dir"
      return
    fi
  done
  echo "error: no fuzz target named $1" >&2
  exit 2
}

build() {
  ensure_cargo_fuzz
  local dir
  for dir in "${FUZZ_DIRS[@]}"; do
    (cd fuzz && cargo fuzz build --fuzz-dir "$dir" "${BUILD_FLAGS[@]}")
  done
}

seeds() {
  rm -rf fuzz/seeds
  mkdir -p fuzz/seeds
  cargo run --quiet -p atrelay-testkit --example fuzz_seeds -- "$ROOT/fuzz/seeds"
}

# run <target> <libFuzzer flags...>: fuzzes with the growing corpus in fuzz/corpus/<target>,
# read-only seeds from fuzz/seeds/<target>.
run_target() {
  local target=$1
  shift
  mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target" fuzz/artifacts
  local dir
  dir=$(fuzz_dir_of "$target")
  (cd fuzz && cargo fuzz run --fuzz-dir "$dir" "${BUILD_FLAGS[@]}" "$target" \
    "$PWD/corpus/$target" "$PWD/seeds/$target" -- \
    -max_len="$(max_len "$target")" -print_final_stats=1 "$@")
}

case "${1:-}" in
  build) build ;;
  seeds) seeds ;;
  list) ensure_cargo_fuzz && targets ;;
  smoke)
    start=$(date +%s)
    (cd fuzz && cargo fmt -- --check)
    build
    seeds
    log=$(mktemp)
    for target in $(targets); do
      if ! run_target "$target" -runs="${FUZZ_SMOKE_RUNS:-20000}" \
        -max_total_time="${FUZZ_SMOKE_SECONDS:-20}" >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz smoke: $target FAILED (crash input under fuzz/artifacts/$target or fuzz/relay/artifacts/$target)" >&2
        exit 1
      fi
      runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
      rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
      cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
      echo "fuzz smoke: $target ok: $runs runs, $rate exec/s, $cov"
    done
    rm -f "$log"
    echo "fuzz smoke: every target built and ran clean in $(($(date +%s) - start)) s"
    ;;
  run)
    [ $# -ge 3 ] || { echo "usage: $0 run <target> <runs>" >&2; exit 2; }
    ensure_cargo_fuzz
    [ -d fuzz/seeds ] || seeds
    target=$2 runs=$3
    # shellcheck disable=SC2086
    run_target "$target" -runs="$runs" ${FUZZ_ARGS:-}
    ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
