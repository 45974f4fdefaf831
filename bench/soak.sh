#!/usr/bin/env bash
# Soak: certbound's authorization server and gateway under steady load for a long time, checking
# that nothing fails and memory stays flat.
#
# 1. Measures capacity alone (token endpoint keep-alive; gateway keep-alive), 5 s each.
# 2. Runs, at the same time for MINUTES: the token endpoint and the gateway each at FRACTION/2 of
#    their capacity (together FRACTION of what the server core can do), plus a stream of new
#    connections (a full TLS handshake each) to the token endpoint at 50/s, so connection setup and
#    teardown are soaked too; and the user flows of partner-web and alice: complete signed-in
#    authorization-code flows with PAR + PKCE at 20/s, refresh grants at 50/s, /userinfo at
#    50/s, and a fresh sign-in (argon2id) with consent at 2 flows/s.
# 3. Samples both processes' RSS every 10 s. A sign-in holds argon2id's 19 MiB for its duration,
#    so single samples jump by that much and back: the check compares floors, the lowest sample
#    of minutes 2-3 with the lowest of the last two minutes (a leak raises the floor), and prints
#    the peak. Exits non-zero on any failed request or if the floor grew by more than 20% + 5 MB.
#
# usage: bench/soak.sh [--minutes 10] [--fraction 0.8] [--keep DIR]
set -euo pipefail
MINUTES=10
FRACTION=0.8
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --fraction) FRACTION="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
WORK_PREFIX=certbound-soak
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
AS=18443; API=18300; GW=18643

"$CB" quickstart --dir "$WORK/dev" --port $AS --gateway-port $GW --api-port $API --no-serve >/dev/null
PKI="$WORK/dev/pki"
# The user of the flows: alice, with a password made here (its argon2id hash stored by the CLI).
PASSWORD_FILE="$WORK/alice.password"
openssl rand -base64 24 > "$PASSWORD_FILE"
"$CB" users add --config "$WORK/dev/certbound.toml" --username alice --password-stdin \
  < "$PASSWORD_FILE" >/dev/null
REDIRECT_URI=$(python3 -c 'import sys, tomllib; print(next(c for c in tomllib.load(open(sys.argv[1], "rb"))["clients"] if c["client_id"] == "partner-web")["redirect_uris"][0])' "$WORK/dev/certbound.toml")
(cd "$WORK/dev" && exec taskset -c $SERVER_CPU "$CB" serve --config certbound.toml >"$WORK/certbound.log" 2>&1) &
AS_PID=$!; PIDS+=("$AS_PID")
wait_for "https://localhost:$AS/.well-known/oauth-authorization-server"
(cd "$WORK/dev" && exec taskset -c $LOAD_CPU "$CB" sample-api --listen 127.0.0.1:$API \
  --issuer "https://localhost:$AS" --ca pki/ca.pem --gateway-client-id gateway >"$WORK/api.log" 2>&1) &
PIDS+=("$!")
wait_for "http://127.0.0.1:$API/health"
(cd "$WORK/dev" && exec taskset -c $SERVER_CPU "$CB" gateway --config gateway.toml >"$WORK/gateway.log" 2>&1) &
GW_PID=$!; PIDS+=("$GW_PID")
wait_for "https://localhost:$GW/health" --cert "$PKI/partner-a.pem" --key "$PKI/partner-a.key"

COMMON=(--issuer "https://localhost:$AS" --client-id partner-a --cert "$PKI/partner-a.pem"
        --key "$PKI/partner-a.key" --cacert "$PKI/ca.pem" --json)
rps() { python3 -c 'import json,sys; print(json.load(sys.stdin)["requests_per_second"])'; }
echo "== capacity (alone, keep-alive, 5 s each)"
CAP_T=$(taskset -c $LOAD_CPU "$BENCH" token "${COMMON[@]}" --concurrency 32 --duration 5 | rps)
CAP_G=$(taskset -c $LOAD_CPU "$BENCH" gateway "${COMMON[@]}" --concurrency 32 --duration 5 \
  --url "https://localhost:$GW/api/transactions" | rps)
RATE_T=$(python3 -c "print(round($CAP_T * $FRACTION / 2))")
RATE_G=$(python3 -c "print(round($CAP_G * $FRACTION / 2))")
echo "  token ${CAP_T%.*} req/s, gateway ${CAP_G%.*} req/s -> soak at token $RATE_T + gateway $RATE_G req/s + 50 new connections/s for $MINUTES min"

SECONDS_TOTAL=$(( MINUTES * 60 ))
taskset -c $LOAD_CPU "$BENCH" token "${COMMON[@]}" --concurrency 16 --rate "$RATE_T" \
  --duration $SECONDS_TOTAL --server-pid "$AS_PID" > "$WORK/soak-token.json" &
B1=$!
taskset -c $LOAD_CPU "$BENCH" gateway "${COMMON[@]}" --concurrency 16 --rate "$RATE_G" \
  --duration $SECONDS_TOTAL --server-pid "$GW_PID" --url "https://localhost:$GW/api/transactions" > "$WORK/soak-gateway.json" &
B2=$!
taskset -c $LOAD_CPU "$BENCH" token "${COMMON[@]}" --concurrency 4 --rate 50 --new-connection --no-resumption \
  --duration $SECONDS_TOTAL --server-pid "$AS_PID" > "$WORK/soak-handshakes.json" &
B3=$!
FLOW=(--issuer "https://localhost:$AS" --client-id partner-web --cert "$PKI/partner-a.pem"
      --key "$PKI/partner-a.key" --cacert "$PKI/ca.pem" --json --username alice
      --password-file "$PASSWORD_FILE" --redirect-uri "$REDIRECT_URI" --scope "openid profile email transactions"
      --duration $SECONDS_TOTAL --server-pid "$AS_PID")
taskset -c $LOAD_CPU "$BENCH" code-flow "${FLOW[@]}" --concurrency 4 --rate 20 > "$WORK/soak-code-flow.json" &
B4=$!
taskset -c $LOAD_CPU "$BENCH" refresh "${FLOW[@]}" --concurrency 4 --rate 50 > "$WORK/soak-refresh.json" &
B5=$!
taskset -c $LOAD_CPU "$BENCH" userinfo "${FLOW[@]}" --concurrency 4 --rate 50 > "$WORK/soak-userinfo.json" &
B6=$!
taskset -c $LOAD_CPU "$BENCH" code-flow "${FLOW[@]}" --concurrency 2 --rate 2 --login-each-flow > "$WORK/soak-login.json" &
B7=$!
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
: > "$WORK/rss.tsv"
for ((t = 10; t <= SECONDS_TOTAL; t += 10)); do
  sleep 10
  printf "%d\t%s\t%s\n" "$t" "$(rss "$AS_PID")" "$(rss "$GW_PID")" | tee -a "$WORK/rss.tsv"
done
wait $B1 $B2 $B3 $B4 $B5 $B6 $B7

python3 - "$WORK" "$RATE_T" "$RATE_G" <<'EOF'
import json, sys
work, rate_t, rate_g = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
ok = True
for name, target in [("token", rate_t), ("gateway", rate_g), ("handshakes", 50.0),
                     ("code-flow", 20.0), ("refresh", 50.0), ("userinfo", 50.0), ("login", 2.0)]:
    r = json.load(open(f"{work}/soak-{name}.json"))
    errors = sum(r["errors"].values())
    l = r["latency_ms"]
    print(f"{name:<11} {r['requests']:>9} requests  {r['requests_per_second']:8.0f} req/s (target {target:.0f})  "
          f"p50 {l['p50']:.2f}  p99 {l['p99']:.2f}  max {l['max']:.1f} ms  errors {errors} {r['errors'] or ''}")
    ok &= errors == 0
rows = [list(map(int, l.split())) for l in open(f"{work}/rss.tsv") if l.strip()]
last = rows[-1][0]
# Floors: minutes 2-3 (caches and pools are warm) against the last two minutes.
early = [r for r in rows if 60 < r[0] <= 180] or rows
late = [r for r in rows if r[0] > last - 120] or rows
for i, name in [(1, "authorization server"), (2, "gateway")]:
    s, e = min(r[i] for r in early) / 1024, min(r[i] for r in late) / 1024
    peak = max(r[i] for r in rows) / 1024
    flat = e <= s * 1.2 + 5
    print(f"{name:<21} RSS floor {s:.1f} MB (minutes 2-3), {e:.1f} MB (last 2 minutes), "
          f"peak {peak:.1f} MB  {'flat' if flat else 'GREW'}")
    ok &= flat
sys.exit(0 if ok else 1)
EOF
