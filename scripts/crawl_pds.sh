#!/usr/bin/env bash
# Bootstrap: ask atrelay (through its admin API) to follow one or more PDS hosts.
#
#   RELAY_ADMIN_PASSWORD=... scripts/crawl_pds.sh pds1.example.com pds2.example.com
#   cat hosts.txt | RELAY_ADMIN_PASSWORD=... scripts/crawl_pds.sh
#
# Environment:
#   RELAY_HOST            the relay's base URL (default http://127.0.0.1:2470; a bare host
#                         name means https://<name>)
#   RELAY_ADMIN_PASSWORD  the admin password (RELAY_ADMIN_KEY is read too, for old scripts)
#   REPO_LIMIT            optional: also set each host's account limit (admin changeLimits)
#
# Each host gets POST /admin/pds/requestCrawl (past the public switch and daily limit; the
# relay still checks bans, addresses and describeServer). The relay starts the host's
# collection backfill itself. Exits non-zero if any host was refused.
set -uo pipefail

relay="${RELAY_HOST:-http://127.0.0.1:2470}"
case "$relay" in
  http://* | https://*) ;;
  *) relay="https://$relay" ;;
esac
relay="${relay%/}"
password="${RELAY_ADMIN_PASSWORD:-${RELAY_ADMIN_KEY:-}}"
if [ -z "$password" ]; then
  echo "crawl_pds.sh: set RELAY_ADMIN_PASSWORD (the relay logs a generated one at start-up if none is configured)" >&2
  exit 2
fi
if [ -n "${REPO_LIMIT:-}" ] && ! [[ "$REPO_LIMIT" =~ ^[0-9]+$ ]]; then
  echo "crawl_pds.sh: REPO_LIMIT must be a non-negative integer" >&2
  exit 2
fi

# POSTs JSON to an admin route; prints the relay's answer; fails on a non-2xx status.
admin_post() {
  local path="$1" body="$2" output status
  output="$(curl --silent --show-error --max-time 30 \
    --user "admin:${password}" \
    --header 'Content-Type: application/json' \
    --data "$body" \
    --write-out '\n%{http_code}' \
    "${relay}${path}")" || return 1
  status="${output##*$'\n'}"
  printf '%s' "${output%$'\n'*}"
  [ "${status:0:1}" = "2" ]
}

# JSON string escaping for host names (which should never need it; a hostile one must not
# break the request).
json_string() {
  local s="${1//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

crawl() {
  local host="$1" answer
  if answer="$(admin_post /admin/pds/requestCrawl "{\"hostname\": $(json_string "$host")}")"; then
    echo "ok      $host"
  else
    echo "refused $host: $answer" >&2
    return 1
  fi
  if [ -n "${REPO_LIMIT:-}" ]; then
    if ! answer="$(admin_post /admin/pds/changeLimits \
      "{\"host\": $(json_string "$host"), \"repo_limit\": ${REPO_LIMIT}}")"; then
      echo "limit   $host: $answer" >&2
      return 1
    fi
  fi
}

failures=0
if [ "$#" -gt 0 ]; then
  for host in "$@"; do
    crawl "$host" || failures=$((failures + 1))
  done
else
  while IFS= read -r host; do
    host="${host%%#*}"
    host="$(echo "$host" | tr -d '[:space:]')"
    [ -z "$host" ] && continue
    crawl "$host" || failures=$((failures + 1))
  done
fi
if [ "$failures" -gt 0 ]; then
  echo "crawl_pds.sh: $failures host(s) refused" >&2
  exit 1
fi
