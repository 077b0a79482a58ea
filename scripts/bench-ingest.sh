#!/usr/bin/env bash
# One ingest run for profiling, outside `make bench`: serves a generated load
# (`atrelay-loadgen generate --out LOAD ...`) to a fresh relay, waits until every event is
# accepted, prints events/s, relay CPU per event and memory, optionally idles and prints memory
# again. No consumer is connected. A wrapper command runs the relay, e.g.
#   perf record -F 499 -g -o perf.data        (build with RUSTFLAGS="-C force-frame-pointers=yes")
#   heaptrack -o heap                          (KILLSIG=KILL: the heap left at the end is the idle heap)
#
#   scripts/bench-ingest.sh BIN_DIR LOAD_DIR WORK_DIR [wrapper ...]
#
# BIN_DIR holds `atrelay` and `atrelay-loadgen`. Environment: DB_URL (default SQLite in
# WORK_DIR), IDLE_WAIT (seconds to idle after the run), KILLSIG (default TERM).
set -euo pipefail
BIN=$1 LOAD=$2 WORK=$3
shift 3
rm -rf "$WORK"
mkdir -p "$WORK"
"$BIN/atrelay-loadgen" serve --load "$LOAD" >"$WORK/endpoints" 2>"$WORK/load.log" &
LOAD_PID=$!
trap 'kill $LOAD_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$WORK/endpoints" ] && break; sleep 0.1; done
field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(" ".join(v) if isinstance(v,list) else v)' "$WORK/endpoints" "$1"; }
DIRECTORY=$(field directory)
EVENTS=$(field events)
HOSTS=$(field hosts)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=127.0.0.1:$(free_port)
METRICS=127.0.0.1:$(free_port)
"$@" "$BIN/atrelay" serve --allow-insecure-hosts --trusted-domains 127.0.0.1 \
  --plc-host "$DIRECTORY" --bind "$API" --metrics-listen "$METRICS" \
  --db-url "${DB_URL:-sqlite://$WORK/relay.sqlite}" --persist-dir "$WORK/persist" \
  --trusted-host-events-per-second 100000000 --trusted-host-events-per-hour 100000000000 \
  --trusted-host-events-per-day 100000000000 --admin-password bench --log-level warn \
  >"$WORK/relay.log" 2>&1 &
WRAPPER_PID=$!
for _ in $(seq 600); do curl -sf "http://$API/xrpc/_health" >/dev/null && break; sleep 0.1; done
RELAY_PID=$(pgrep -n -f -- "--bind $API")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$RELAY_PID/stat"; }
memory() { grep -E 'VmRSS|RssAnon' "/proc/$RELAY_PID/status" | tr -s ' \t' ' ' | tr '\n' ' '; }
T0=$(date +%s.%N)
C0=$(cpu_ticks)
for host in $HOSTS; do
  curl -sf -X POST -H 'content-type: application/json' -d "{\"hostname\":\"$host\"}" \
    "http://$API/xrpc/com.atproto.sync.requestCrawl" >/dev/null
done
while true; do
  ACCEPTED=$(curl -sf "http://$METRICS/metrics" | awk '/^atrelay_ingest_accepted_events_total/ {print $2}')
  [ "${ACCEPTED:-0}" -ge "$EVENTS" ] && break
  sleep 0.2
done
T1=$(date +%s.%N)
C1=$(cpu_ticks)
TICKS=$(getconf CLK_TCK)
python3 -c "
t = $T1 - $T0; cpu = ($C1 - $C0) / $TICKS
print(f'{$EVENTS} events in {t:.2f} s = {$EVENTS / t:.0f} events/s; relay CPU {cpu:.2f} s = {cpu * 1000 / $EVENTS:.3f} ms/event, {cpu / t:.2f} cores')"
echo "at the end: $(memory)"
if [ -n "${IDLE_WAIT:-}" ]; then
  sleep "$IDLE_WAIT"
  echo "after ${IDLE_WAIT} s idle: $(memory)"
fi
kill "-${KILLSIG:-TERM}" "$RELAY_PID"
wait "$WRAPPER_PID" || true
