#!/usr/bin/env bash
# Installs the peer (node-oidc-provider, pinned by package-lock.json) into INSTALL_DIR if it is not
# there yet, then replaces itself with `node server.mjs ...`, so the PID of this script is node's.
#
# usage: bench/peer/oidc-provider/start.sh INSTALL_DIR PORT CERT KEY CA CLIENT_ID SUBJECT_DN
#   environment: ACCESS_TOKEN_TTL (default 300), RESOURCE, SCOPE, DPOP_CLIENT_ID, PKJWT_CLIENT_ID
#   PKJWT_JWKS, PEER_STORE and REDIS_URL (see server.mjs); NODE_ENV defaults to production.
set -euo pipefail

if [ $# -ne 7 ]; then
  echo "usage: $0 INSTALL_DIR PORT CERT KEY CA CLIENT_ID SUBJECT_DN" >&2
  exit 2
fi
INSTALL_DIR="$1"; shift
HERE="$(cd "$(dirname "$0")" && pwd)"
abs() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$(pwd)" "$1" ;; esac; }
PORT="$1"; CERT="$(abs "$2")"; KEY="$(abs "$3")"; CA="$(abs "$4")"; CLIENT_ID="$5"; SUBJECT_DN="$6"
# server.mjs runs in INSTALL_DIR: a relative JWK Set path must be resolved here.
if [ -n "${PKJWT_JWKS:-}" ]; then PKJWT_JWKS="$(abs "$PKJWT_JWKS")"; export PKJWT_JWKS; fi

mkdir -p "$INSTALL_DIR"
cp "$HERE/server.mjs" "$HERE/interactions.mjs" "$HERE/redis_adapter.mjs" "$INSTALL_DIR/"
# (Re)install when the pinned lock file differs from the one installed there.
if [ ! -d "$INSTALL_DIR/node_modules/oidc-provider" ] \
  || ! cmp -s "$HERE/package-lock.json" "$INSTALL_DIR/package-lock.json"; then
  cp "$HERE/package.json" "$HERE/package-lock.json" "$INSTALL_DIR/"
  (cd "$INSTALL_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

cd "$INSTALL_DIR"
export NODE_ENV="${NODE_ENV:-production}"
exec node server.mjs "$PORT" "$CERT" "$KEY" "$CA" "$CLIENT_ID" "$SUBJECT_DN"
