# Shared by bench/compare.sh and bench/soak.sh (sourced, not run). Before sourcing, set KEEP (a
# directory to keep, or empty) and WORK_PREFIX (the temporary directory's name). Sets ROOT, CB, BENCH,
# WORK, PIDS (background processes killed on exit), SERVER_CPU and LOAD_CPU, and defines wait_for.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/sbin"
# The binaries: CERTBOUND_BIN_DIR if set, else a release build of this checkout.
if [ -z "${CERTBOUND_BIN_DIR:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/certbound-target}"
  (cd "$ROOT" && cargo build --release --locked -q -p certbound -p certbound-bench)
  CERTBOUND_BIN_DIR="$CARGO_TARGET_DIR/release"
fi
CB="$CERTBOUND_BIN_DIR/certbound"
BENCH="$CERTBOUND_BIN_DIR/certbound-bench"

WORK="${KEEP:-$(mktemp -d "/tmp/$WORK_PREFIX.XXXXXX")}"
mkdir -p "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$KEEP" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# Servers on core 0, load generators (and the sample API) on core 1 when there is one.
SERVER_CPU=0
LOAD_CPU=$(( $(nproc) > 1 ? 1 : 0 ))

wait_for() { # URL [curl options: the gateway refuses a handshake without a client certificate]
  local url="$1"; shift
  for _ in $(seq 1 300); do curl -sk -o /dev/null "$@" "$url" && return 0; sleep 0.1; done
  echo "not ready: $url" >&2; exit 1
}
