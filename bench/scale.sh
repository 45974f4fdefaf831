#!/usr/bin/env bash
# Scale on PostgreSQL: one authorization server against two on the same database, for the write
# paths: opaque tokens (one `access_tokens` row per request) and signed-in authorization-code
# flows (PAR request, code, grant, tokens, refresh token per flow). Also SQLite, one instance, under
# the same load. Prints requests (or flows) per second, the server's CPU per operation, the load
# generator's, and PostgreSQL's own CPU per operation (all its processes, from /proc), so the
# machine's CPU budget per operation can be read off: on 2 cores, one instance, the database and
# the load generator share them.
#
# usage: bench/scale.sh [--duration SECONDS] [--keep DIR]
#   CERTBOUND_BENCH_POSTGRES  admin URL of the server (default postgres://postgres@127.0.0.1:5432/postgres);
#                             a database `certbound_scale` is dropped and created there
set -euo pipefail
DURATION=6
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
WORK_PREFIX=certbound-scale
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
command -v psql >/dev/null || { echo "scale.sh needs psql" >&2; exit 1; }
ADMIN_URL="${CERTBOUND_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_URL="${ADMIN_URL%/*}/certbound_scale"
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS certbound_scale" -c "CREATE DATABASE certbound_scale" 2>/dev/null

# Ports: instance A 19443 (+1), instance B 19543 (+1), SQLite instance 19643 (+1).
A=19443; B=19543; S=19643
DEV="$WORK/dev"
"$CB" quickstart --dir "$DEV" --port $A --gateway-port 19843 --api-port 19300 --demo-port 19800 \
  --admin-port 0 --no-serve >/dev/null
cp "$DEV/certbound.toml" "$DEV/sqlite.toml"
sed -i "s#^url = \"sqlite://certbound.db\"#url = \"$DB_URL\"#" "$DEV/certbound.toml"
grep -q "^url = \"$DB_URL\"" "$DEV/certbound.toml" || { echo "certbound.toml: no store URL to edit" >&2; exit 1; }
# Instance B: the same store (keys, clients, users), its own listeners and issuer URL.
sed -e "s/$A/$B/g; s/$((A + 1))/$((B + 1))/g" "$DEV/certbound.toml" > "$DEV/second.toml"
sed -i -e "s/$A/$S/g; s/$((A + 1))/$((S + 1))/g" "$DEV/sqlite.toml"
PASSWORD_FILE="$WORK/alice.password"
openssl rand -base64 24 > "$PASSWORD_FILE"
for config in certbound.toml sqlite.toml; do
  "$CB" users add --config "$DEV/$config" --username alice --password-stdin < "$PASSWORD_FILE" >/dev/null
done
REDIRECT_URI=$(python3 -c 'import sys, tomllib; print(next(c for c in tomllib.load(open(sys.argv[1], "rb"))["clients"] if c["client_id"] == "partner-web")["redirect_uris"][0])' "$DEV/certbound.toml")

serve() { # CONFIG CPU; sets SERVED to its PID
  (cd "$DEV" && exec taskset -c "$2" "$CB" serve --config "$1" >"$WORK/$1.log" 2>&1) &
  SERVED=$!; PIDS+=("$SERVED")
}
serve certbound.toml 0; PA=$SERVED
serve second.toml 1; PB=$SERVED
serve sqlite.toml 0; PS=$SERVED
for port in $A $B $S; do wait_for "https://localhost:$port/.well-known/oauth-authorization-server"; done

TLS=(--cert "$DEV/pki/partner-a.pem" --key "$DEV/pki/partner-a.key" --cacert "$DEV/pki/ca.pem" --json)
op() { # SCENARIO PORT PID
  case "$1" in
    token) "$BENCH" token --issuer "https://localhost:$2" --client-id partner-a-opaque "${TLS[@]}" \
             --server-pid "$3" --concurrency 32 --duration "$DURATION" ;;
    code-flow) "$BENCH" code-flow --issuer "https://localhost:$2" --client-id partner-web "${TLS[@]}" \
             --server-pid "$3" --concurrency 16 --duration "$DURATION" --username alice \
             --password-file "$PASSWORD_FILE" --redirect-uri "$REDIRECT_URI" --scope openid ;;
  esac
}
pg_ticks() { # CPU clock ticks (user + system, with reaped children) of every postgres process
  for p in $(pgrep -x postgres); do awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null; done |
    awk '{s += $1} END {print s + 0}'
}
report() { # LABEL PG_TICKS FILES...
  python3 - "$@" <<'PY'
import json, os, sys
label, ticks, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
runs = [json.load(open(f)) for f in files]
ops = sum(r["requests"] for r in runs)
rate = sum(r["requests_per_second"] for r in runs)
errors = sum(sum(r["errors"].values()) for r in runs)
server = sum(r["server_cpu_us_per_request"] * r["requests"] for r in runs) / ops
load = sum(r["generator_cpu_us_per_request"] * r["requests"] for r in runs) / ops
pg = ticks / os.sysconf("SC_CLK_TCK") * 1e6 / ops if ticks else 0.0
print(f"{label:<44} {rate:9.0f}/s  certbound {server:7.1f} µs/op  postgres {pg:7.1f} µs/op  "
      f"load {load:6.1f} µs/op  errors {errors}")
PY
}
for scenario in token code-flow; do
  echo "== $scenario ($DURATION s each, load generators unpinned)"
  op $scenario $A "$PA" >/dev/null  # warm-up (caches, connection pools, the user's session)
  op $scenario $B "$PB" >/dev/null
  op $scenario $S "$PS" >/dev/null
  t0=$(pg_ticks); op $scenario $A "$PA" > "$WORK/$scenario-one.json"; t1=$(pg_ticks)
  report "PostgreSQL, one instance (core 0)" $((t1 - t0)) "$WORK/$scenario-one.json"
  t0=$(pg_ticks)
  op $scenario $A "$PA" > "$WORK/$scenario-a.json" &
  first=$!
  op $scenario $B "$PB" > "$WORK/$scenario-b.json"
  wait "$first"
  t1=$(pg_ticks)
  report "PostgreSQL, two instances (cores 0 and 1)" $((t1 - t0)) "$WORK/$scenario-a.json" "$WORK/$scenario-b.json"
  op $scenario $S "$PS" > "$WORK/$scenario-sqlite.json"
  report "SQLite, one instance (core 0)" 0 "$WORK/$scenario-sqlite.json"
done
