"""Summarises bench/compare.sh's results (one JSON object per run, with "label" and "side"):
the mean of each side per scenario and the ratios certbound/peer, next to the issue's targets.

usage: python3 bench/summarize.py results.jsonl\n       python3 bench/summarize.py --line < one-result.json   (one run, for the live log)
"""
import json
import statistics
import sys
from collections import OrderedDict

# scenario label -> (minimum throughput ratio certbound/peer, maximum p99 ratio certbound/peer):
# issue 16's bars (p99 at most a fifth of the peer's in every token and user-flow scenario; the
# gateway's second bar, >= 0.9x nginx's requests per CPU-second, is read off the printed ratio).
TARGETS = {
    "token keep-alive": (8.0, 0.2),
    "token new connection, full handshake": (5.0, 0.2),
    "token new connection, resumption": (5.0, 0.2),
    "token DPoP keep-alive": (5.0, 0.2),
    "token private_key_jwt keep-alive": (5.0, 0.2),
    "code flow, signed in": (5.0, 0.2),
    "code flow with login": (5.0, 0.2),
    "refresh": (5.0, 0.2),
    "userinfo": (5.0, 0.2),
    "introspect": (5.0, 0.2),
    "gateway keep-alive": (1.0, None),
    "gateway new connection, resumption": (1.2, None),
}


def unit_of(rs):
    """What one counted operation of these runs is: "req", or "flow" for the code-flow runs."""
    return "flow" if any(r.get("unit") == "flow" for r in rs) else "req"


def mean_of(rs, key):
    """The mean of a per-run figure over the runs that have it (NaN when none has)."""
    values = [r[key] for r in rs if r.get(key) is not None]
    return statistics.mean(values) if values else float("nan")


def main(path):
    runs = [json.loads(line) for line in open(path) if line.strip()]
    groups = OrderedDict()
    for r in runs:
        groups.setdefault(r["label"], OrderedDict()).setdefault(r["side"], []).append(r)
    # Rates and CPU are per operation: a request, or a whole flow for the code-flow scenarios (the
    # "per" column says which; p50/p99 are then a flow's latency). "load us/op": the load
    # generator's own CPU per operation (one core: 1e6 / load us/op is the most it can send);
    # "sign us/op": of which signing DPoP proofs or client assertions.
    header = (f"{'scenario':<38} {'side':<14} {'per s':>9} {'per':<4} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
              f"{'RSS MB':>7} {'CPU %':>6} {'CPU us/op':>10} {'load us/op':>11} {'sign us/op':>11}")
    print(header)
    print("-" * len(header))
    failed = False
    for label, sides in groups.items():
        means = {}
        for side, rs in sides.items():
            rps = statistics.mean(r["requests_per_second"] for r in rs)
            p50 = statistics.mean(r["latency_ms"]["p50"] for r in rs)
            p99 = statistics.mean(r["latency_ms"]["p99"] for r in rs)
            errors = sum(sum(r["errors"].values()) for r in rs)
            rss = max((r.get("server_rss_kb") or 0) for r in rs) / 1024
            cpu = [r["server_cpu_seconds"] / r["seconds"] * 100 for r in rs if r.get("server_cpu_seconds") is not None]
            per = [r["server_cpu_us_per_request"] for r in rs if r.get("server_cpu_us_per_request") is not None]
            cpu_pct = statistics.mean(cpu) if cpu else float("nan")
            cpu_per = statistics.mean(per) if per else float("nan")
            load_per = mean_of(rs, "generator_cpu_us_per_request")
            sign_per = mean_of(rs, "signing_us_per_request")
            means[side] = (rps, p99, cpu_per)
            sign = f"{sign_per:>11.1f}" if sign_per == sign_per else f"{'-':>11}"
            print(f"{label:<38} {side:<14} {rps:>9.0f} {unit_of(rs):<4} {p50:>8.2f} {p99:>8.2f} {errors:>7} {rss:>7.1f} "
                  f"{cpu_pct:>6.0f} {cpu_per:>10.1f} {load_per:>11.1f} {sign}")
            failed |= errors > 0
        names = list(means)
        if len(names) == 2 and means[names[1]][0] > 0:
            (a_rps, a_p99, a_cpu), (b_rps, b_p99, b_cpu) = means[names[0]], means[names[1]]
            ratio = a_rps / b_rps
            p99_ratio = a_p99 / b_p99 if b_p99 > 0 else float("nan")
            target = TARGETS.get(label)
            verdict = ""
            if target:
                ok = ratio >= target[0] and (target[1] is None or p99_ratio <= target[1])
                goal = f">= {target[0]}x" + (f", p99 <= {target[1]}x" if target[1] else "")
                verdict = f"  target {goal}: {'met' if ok else 'MISSED'}"
            cpu_ratio = b_cpu / a_cpu if a_cpu and a_cpu == a_cpu and b_cpu == b_cpu else float("nan")
            per = "flows" if unit_of(sides[names[0]]) == "flow" else "requests"
            print(f"{'':<38} {names[0]}/{names[1]}: throughput {ratio:.2f}x, p99 {p99_ratio:.2f}x, "
                  f"{per} per CPU-second {cpu_ratio:.2f}x{verdict}")
    if failed:
        print("some requests failed: see the runs above")
        sys.exit(1)


def line(r):
    l = r["latency_ms"]
    errors = sum(r["errors"].values())
    rss = (r.get("server_rss_kb") or 0) / 1024
    per = r.get("server_cpu_us_per_request")
    unit = unit_of([r])
    cpu = f"  cpu {per:.1f} us/{unit}" if per is not None else ""
    load = r.get("generator_cpu_us_per_request")
    if load is not None:
        sign = r.get("signing_us_per_request")
        cpu += f"  load {load:.1f} us/{unit}" + (f" (signing {sign:.1f})" if sign is not None else "")
    print(f"  {r['label']:<38} {r['side']:<14} {r['requests_per_second']:>9.0f} {'flows/s' if unit == 'flow' else 'req/s':<7}  "
          f"p50 {l['p50']:6.2f}  p99 {l['p99']:6.2f} ms  errors {errors}  rss {rss:.1f} MB{cpu}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--line":
        line(json.loads(sys.stdin.read()))
    else:
        main(sys.argv[1])
