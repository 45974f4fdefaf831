#!/usr/bin/env bash
# certbound side by side with its peers, in one run on this machine:
#   - the token endpoint (client_credentials + tls_client_auth, bound ES256 JWT) against
#     node-oidc-provider, installed from npm into a temporary directory; also with a fresh DPoP
#     proof per request (DPoP-bound token), and with private_key_jwt (a fresh client assertion per
#     request) instead of the certificate;
#   - the user flows against the same peer, as the quickstart's web client `partner-web` and its
#     user alice (password made here, argon2id on both sides): whole authorization-code flows
#     (PAR + PKCE over mTLS, login and consent pages, token request) with a signed-in browser and
#     with a login each flow, refresh_token grants, /userinfo with a bound token; and
#     introspection of an opaque bound token;
#   - the gateway (bound-token check + reverse proxy) against nginx as a plain mTLS reverse proxy to
#     the same upstream with no token check: the floor cost of mTLS proxying; also with a
#     DPoP-bound token and a fresh proof per request (nginx forwards the same request unchecked).
# Runs alternate A B A B (certbound, peer, certbound, peer ...) so drift on a shared machine hits both
# sides; the servers are pinned to core 0 and the load generator (and the sample API upstream) to
# core 1. Prints every run, then the mean of each side and the ratio certbound/peer.
#
# usage: bench/compare.sh [--duration SECONDS] [--rounds N] [--keep DIR]
#   CERTBOUND_BIN_DIR  where `certbound` and `certbound-bench` are (default: builds them, release)
#   PEER_TOKEN_PARAMS  extra `--token-param name=value` arguments for the peer's token requests
#   PEER_STORE         the peer's storage: `memory` (default, oidc-provider's in-memory adapter) or
#                      `redis` (Redis on REDIS_URL, default redis://127.0.0.1:6379), as certbound keeps
#                      its records in its store
set -euo pipefail

DURATION=5
ROUNDS=2
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

WORK_PREFIX=certbound-compare
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
for tool in node npm nginx taskset curl openssl python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh needs $tool" >&2; exit 1; }
done

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

# Ports: certbound AS 18443 (mTLS alias 18444), peer 18543, API 18300, gateway 18643, nginx 18743,
# admin listeners 18900 (AS) and 18901 (gateway), off the defaults a development certbound uses.
AS=18443; PEER=18543; API=18300; GW=18643; NGX=18743; ADMIN=18900

echo "== setting up in $WORK"
"$CB" quickstart --dir "$WORK/dev" --port $AS --gateway-port $GW --api-port $API --admin-port $ADMIN \
  --no-serve >/dev/null
PKI="$WORK/dev/pki"
SUBJECT=$(openssl x509 -in "$PKI/partner-a.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')

# The clients of the DPoP and private_key_jwt scenarios, registered with the CLI as an operator
# would, on both sides: partner-dpop (tls_client_auth with partner-a's certificate, DPoP-bound
# tokens) and partner-jwt (private_key_jwt, ES256 key made here, its public JWK Set registered).
DPOP_CLIENT=partner-dpop; JWT_CLIENT=partner-jwt; JWT_KID=bench-1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/$JWT_CLIENT.key" 2>/dev/null
"$BENCH" jwks --key "$WORK/$JWT_CLIENT.key" --kid $JWT_KID > "$WORK/$JWT_CLIENT.jwks.json"
python3 - "$SUBJECT" "$WORK" "$DPOP_CLIENT" "$JWT_CLIENT" <<'PY'
import json, sys
subject, work, dpop, jwt = sys.argv[1:]
common = {"grant_types": ["client_credentials"], "scope": "transactions read"}
json.dump({"client_id": dpop, "token_endpoint_auth_method": "tls_client_auth",
           "tls_client_auth_subject_dn": subject, "dpop_bound_access_tokens": True, **common},
          open(f"{work}/{dpop}.json", "w"))
json.dump({"client_id": jwt, "token_endpoint_auth_method": "private_key_jwt",
           "token_endpoint_auth_signing_alg": "ES256",
           "jwks": json.load(open(f"{work}/{jwt}.jwks.json")), **common},
          open(f"{work}/{jwt}.json", "w"))
PY
for c in $DPOP_CLIENT $JWT_CLIENT; do
  "$CB" clients add --config "$WORK/dev/certbound.toml" --metadata "$WORK/$c.json" >/dev/null
done
# The gateway's /api/ route accepts both kinds of bound token (certificate for the existing
# scenarios, DPoP for the new one); the certificate-bound path is checked exactly as before.
# (Once: with --keep the directory, and so the edited file, is reused.)
if ! grep -q '^sender_constraint = "any"$' "$WORK/dev/gateway.toml"; then
  sed -i 's/^require_bound_token = true$/&\nsender_constraint = "any"/' "$WORK/dev/gateway.toml"
  grep -q '^sender_constraint = "any"$' "$WORK/dev/gateway.toml" || { echo "gateway.toml: no route to edit" >&2; exit 1; }
fi
# The user of the flow scenarios: alice, with a password made here (on stdin to the CLI, which
# stores its argon2id hash; the peer hashes the same file at start). With --keep, a new one.
USER_NAME=alice; PASSWORD_FILE="$WORK/$USER_NAME.password"
openssl rand -base64 24 > "$PASSWORD_FILE"
if ! "$CB" users add --config "$WORK/dev/certbound.toml" --username $USER_NAME --password-stdin \
  --email alice@example.com --name "Alice Example" < "$PASSWORD_FILE" >/dev/null 2>&1; then
  "$CB" users passwd --config "$WORK/dev/certbound.toml" --username $USER_NAME --password-stdin \
    < "$PASSWORD_FILE" >/dev/null
fi
WEB_CLIENT=partner-web
WEB_REDIRECT_URI=$(python3 - "$WORK/dev/certbound.toml" $WEB_CLIENT <<'PY'
import sys, tomllib
config = tomllib.load(open(sys.argv[1], "rb"))
print(next(c for c in config["clients"] if c["client_id"] == sys.argv[2])["redirect_uris"][0])
PY
)
(cd "$WORK/dev" && exec taskset -c $SERVER_CPU "$CB" serve --config certbound.toml \
  >"$WORK/certbound.log" 2>&1) &
AS_PID=$!; PIDS+=("$AS_PID")
wait_for "https://localhost:$AS/.well-known/oauth-authorization-server"

DPOP_CLIENT_ID=$DPOP_CLIENT PKJWT_CLIENT_ID=$JWT_CLIENT PKJWT_JWKS="$WORK/$JWT_CLIENT.jwks.json" \
  OPAQUE_CLIENT_ID=partner-a-opaque WEB_CLIENT_ID=$WEB_CLIENT WEB_REDIRECT_URI="$WEB_REDIRECT_URI" \
  USER_NAME=$USER_NAME USER_PASSWORD_FILE="$PASSWORD_FILE" USER_EMAIL=alice@example.com \
  USER_FULL_NAME="Alice Example" \
  taskset -c $SERVER_CPU "$ROOT/bench/peer/oidc-provider/start.sh" "$WORK/oidc-provider" $PEER \
  "$PKI/server.pem" "$PKI/server.key" "$PKI/ca.pem" partner-a "$SUBJECT" >"$WORK/oidc-provider.log" 2>&1 &
PEER_PID=$!; PIDS+=("$PEER_PID")
for _ in $(seq 1 1200); do grep -q "listening" "$WORK/oidc-provider.log" 2>/dev/null && break; sleep 0.1; done
wait_for "https://localhost:$PEER/.well-known/openid-configuration"
NODE_VERSION=$(node --version)
PEER_VERSION=$(node -p "require('$WORK/oidc-provider/node_modules/oidc-provider/package.json').version" 2>/dev/null || echo "?")

# The client of a run: partner-a unless the arguments name another with --client-id.
# One bench run: LABEL SIDE PID SCENARIO ARGS...; appends its JSON (with labels) to $RESULTS.
run() {
  local label="$1" side="$2" pid="$3"; shift 3
  local out client=(--client-id partner-a)
  case " $* " in *" --client-id "*) client=() ;; esac
  out=$(taskset -c $LOAD_CPU "$BENCH" "$@" --cert "$PKI/partner-a.pem" --key "$PKI/partner-a.key" \
    --cacert "$PKI/ca.pem" "${client[@]}" --server-pid "$pid" --duration "$DURATION" --json)
  echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); r["label"]=sys.argv[1]; r["side"]=sys.argv[2]; print(json.dumps(r))' \
    "$label" "$side" >> "$RESULTS"
  tail -1 "$RESULTS" | python3 "$ROOT/bench/summarize.py" --line
}

# Both sides get the same request: the peer grants a scope only when asked (certbound would grant
# the client's registered scopes), so ask both for one scope and both tokens carry the same claims.
SAME="--token-param scope=transactions"
# A B A B over one request scenario: LABEL SCENARIO ARGS...
# shellcheck disable=SC2086
pair() {
  local label="$1" scenario="$2"; shift 2
  for _ in $(seq 1 "$ROUNDS"); do
    run "$label" certbound "$AS_PID" "$scenario" --issuer "https://localhost:$AS" $SAME "$@"
    run "$label" oidc-provider "$PEER_PID" "$scenario" --issuer "https://localhost:$PEER" $SAME ${PEER_TOKEN_PARAMS:-} "$@"
  done
}
token_pair() { local label="$1"; shift; pair "$label" token "$@"; }

# The user flows: the web client, its user, the same scope on both sides (so both access tokens
# carry the same scopes and the same userinfo claims).
FLOW_ARGS=(--client-id $WEB_CLIENT --username $USER_NAME --password-file "$PASSWORD_FILE"
  --redirect-uri "$WEB_REDIRECT_URI" --scope "openid profile email transactions")
# A B A B over one flow scenario: LABEL SCENARIO ARGS...
flow_pair() {
  local label="$1" scenario="$2"; shift 2
  for _ in $(seq 1 "$ROUNDS"); do
    run "$label" certbound "$AS_PID" "$scenario" --issuer "https://localhost:$AS" "${FLOW_ARGS[@]}" "$@"
    run "$label" oidc-provider "$PEER_PID" "$scenario" --issuer "https://localhost:$PEER" "${FLOW_ARGS[@]}" "$@"
  done
}

DPOP_ARGS=(--client-id $DPOP_CLIENT --dpop)
JWT_ARGS=(--client-id $JWT_CLIENT --private-key-jwt "$WORK/$JWT_CLIENT.key" --kid $JWT_KID)

echo "== token endpoint: certbound vs node-oidc-provider $PEER_VERSION (node $NODE_VERSION, store ${PEER_STORE:-memory}), ${DURATION}s per run"
# Warm-up of each kind of request (JIT for node, caches for both), not recorded.
for args in "--client-id partner-a" "${DPOP_ARGS[*]}" "${JWT_ARGS[*]}"; do
  # shellcheck disable=SC2086
  taskset -c $LOAD_CPU "$BENCH" token --issuer "https://localhost:$AS" $SAME $args --cert "$PKI/partner-a.pem" \
    --key "$PKI/partner-a.key" --cacert "$PKI/ca.pem" --duration 1 --fail-on-error >/dev/null
  # shellcheck disable=SC2086
  taskset -c $LOAD_CPU "$BENCH" token --issuer "https://localhost:$PEER" $SAME ${PEER_TOKEN_PARAMS:-} $args \
    --cert "$PKI/partner-a.pem" --key "$PKI/partner-a.key" --cacert "$PKI/ca.pem" --duration 1 --fail-on-error >/dev/null
done
token_pair "token keep-alive" --concurrency 32
token_pair "token new connection, full handshake" --concurrency 16 --new-connection --no-resumption
token_pair "token new connection, resumption" --concurrency 16 --new-connection
token_pair "token DPoP keep-alive" --concurrency 32 "${DPOP_ARGS[@]}"
token_pair "token private_key_jwt keep-alive" --concurrency 32 "${JWT_ARGS[@]}"

echo "== user flows and introspection: certbound vs node-oidc-provider, as $WEB_CLIENT and $USER_NAME"
# Warm-up of each flow and of introspection on both sides, not recorded.
for issuer in "https://localhost:$AS" "https://localhost:$PEER"; do
  for scenario in "code-flow" "code-flow --login-each-flow" "refresh" "userinfo"; do
    # shellcheck disable=SC2086
    taskset -c $LOAD_CPU "$BENCH" $scenario --issuer "$issuer" "${FLOW_ARGS[@]}" --cert "$PKI/partner-a.pem" \
      --key "$PKI/partner-a.key" --cacert "$PKI/ca.pem" --concurrency 4 --duration 1 --fail-on-error >/dev/null
  done
  # shellcheck disable=SC2086
  taskset -c $LOAD_CPU "$BENCH" introspect --issuer "$issuer" --client-id partner-a-opaque $SAME \
    --cert "$PKI/partner-a.pem" --key "$PKI/partner-a.key" --cacert "$PKI/ca.pem" --duration 1 --fail-on-error >/dev/null
done
flow_pair "code flow, signed in" code-flow --concurrency 16
flow_pair "code flow with login" code-flow --login-each-flow --concurrency 8
flow_pair "refresh" refresh --concurrency 16
flow_pair "userinfo" userinfo --concurrency 16
# Opaque tokens on both sides: oidc-provider introspects only the tokens it stores.
pair "introspect" introspect --concurrency 32 --client-id partner-a-opaque
kill "$PEER_PID"; wait "$PEER_PID" 2>/dev/null || true

echo "== gateway vs nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') plain mTLS proxy, same upstream (sample API on core $LOAD_CPU)"
(cd "$WORK/dev" && exec taskset -c $LOAD_CPU "$CB" sample-api --listen 127.0.0.1:$API \
  --issuer "https://localhost:$AS" --ca pki/ca.pem --gateway-client-id gateway >"$WORK/api.log" 2>&1) &
PIDS+=("$!")
(cd "$WORK/dev" && exec taskset -c $SERVER_CPU "$CB" gateway --config gateway.toml >"$WORK/gateway.log" 2>&1) &
GW_PID=$!; PIDS+=("$GW_PID")
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<EOF
# A plain mTLS reverse proxy: requests a client certificate and checks possession of its key
# (optional_no_ca, as the gateway without client_ca), no token check. Like the gateway, it hands
# the upstream the token as "Authorization: Bearer" (a DPoP-scheme token is re-labelled, unchecked;
# the sample API reads only Bearer) and forwards the rest, the DPoP header included.
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream api { server 127.0.0.1:$API; keepalive 64; }
  map \$http_authorization \$upstream_authorization {
    "~^DPoP (?<token>.+)\$" "Bearer \$token";
    default \$http_authorization;
  }
  server {
    listen 127.0.0.1:$NGX ssl;
    ssl_certificate $PKI/server.pem;
    ssl_certificate_key $PKI/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional_no_ca;
    ssl_session_cache shared:SSL:10m;
    keepalive_requests 1000000;
    location / {
      if (\$ssl_client_verify = NONE) { return 401; }
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization \$upstream_authorization;
    }
  }
}
EOF
taskset -c $SERVER_CPU nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
NGX_PID=$!; PIDS+=("$NGX_PID")
wait_for "http://127.0.0.1:$API/health"
wait_for "https://localhost:$NGX/"
for _ in $(seq 1 100); do curl -sk -o /dev/null "https://localhost:$GW/" && break; sleep 0.1; done

gateway_pair() {
  local label="$1"; shift
  for _ in $(seq 1 "$ROUNDS"); do
    run "$label" certbound "$GW_PID" gateway --issuer "https://localhost:$AS" --url "https://localhost:$GW/api/transactions" "$@"
    run "$label" nginx "$NGX_PID" gateway --issuer "https://localhost:$AS" --url "https://localhost:$NGX/api/transactions" "$@"
  done
}
for url in "https://localhost:$GW/api/transactions" "https://localhost:$NGX/api/transactions"; do
  for args in "--client-id partner-a" "${DPOP_ARGS[*]}"; do
    # shellcheck disable=SC2086
    taskset -c $LOAD_CPU "$BENCH" gateway --issuer "https://localhost:$AS" --url "$url" $args \
      --cert "$PKI/partner-a.pem" --key "$PKI/partner-a.key" --cacert "$PKI/ca.pem" --duration 1 --fail-on-error >/dev/null
  done
done
gateway_pair "gateway keep-alive" --concurrency 32
gateway_pair "gateway new connection, resumption" --concurrency 16 --new-connection
gateway_pair "gateway DPoP keep-alive" --concurrency 32 "${DPOP_ARGS[@]}"

echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${ROUNDS} runs per side of ${DURATION}s, mean)"
python3 "$ROOT/bench/summarize.py" "$RESULTS"
[ -z "$KEEP" ] || echo "results kept in $RESULTS"
