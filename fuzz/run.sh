#!/usr/bin/env bash
# Runs fuzz targets for a budget of CPU time (not wall time), so a run shares a busy machine fairly
# and its figure means the same everywhere: each target runs in-process (one libFuzzer worker) on
# its committed corpus until the fuzzer process has used CPU_SECONDS of user + system time, then
# gets SIGINT (libFuzzer prints its final statistics and exits). New inputs land in
# fuzz/corpus/TARGET/, crashes in fuzz/artifacts/TARGET/. One summary line per target is appended
# to fuzz/results.tsv (git-ignored): date, target, CPU s, executions, edges, features, crashes.
#
# usage: fuzz/run.sh CPU_SECONDS TARGET...     (build first: cargo fuzz build, see docs/fuzzing.md)
#   FUZZ_TARGET_DIR  cargo-fuzz's target dir (default /var/tmp/certbound-fuzz-target)
set -euo pipefail
BUDGET="$1"; shift
FUZZ="$(cd "$(dirname "$0")" && pwd)"
BIN_DIR="${FUZZ_TARGET_DIR:-/var/tmp/certbound-fuzz-target}/x86_64-unknown-linux-gnu/release"
TICKS=$(getconf CLK_TCK)
for target in "$@"; do
  bin="$BIN_DIR/$target"
  [ -x "$bin" ] || { echo "no fuzz binary $bin: run cargo fuzz build" >&2; exit 1; }
  mkdir -p "$FUZZ/artifacts/$target" "$FUZZ/corpus/$target"
  log="$FUZZ/fuzz-$target.log"
  crashes_before=$(ls "$FUZZ/artifacts/$target" | wc -l)
  # -max_total_time is only a backstop (wall time); the CPU budget below ends the run.
  (cd "$FUZZ" && exec "$bin" "corpus/$target" -artifact_prefix="artifacts/$target/" \
      -max_total_time=$((BUDGET * 10)) -timeout=25 -rss_limit_mb=2048 -print_final_stats=1) \
      >"$log" 2>&1 &
  pid=$!
  cpu=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    # Fields 14 and 15 of /proc/PID/stat: utime and stime in clock ticks.
    if stat=$(cat "/proc/$pid/stat" 2>/dev/null); then
      cpu=$(echo "$stat" | sed 's/.*) //' | awk -v t="$TICKS" '{printf "%d", ($12 + $13) / t}')
      if [ "$cpu" -ge "$BUDGET" ]; then kill -INT "$pid" 2>/dev/null || true; break; fi
    fi
  done
  wait "$pid" || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  edges=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo "?")
  feats=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo "?")
  crashes=$(( $(ls "$FUZZ/artifacts/$target" | wc -l) - crashes_before ))
  line="$(date -u +%Y-%m-%d)	$target	$cpu	$execs	$edges	$feats	$crashes"
  echo "$line" | tee -a "$FUZZ/results.tsv"
done
