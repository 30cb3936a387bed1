#!/usr/bin/env bash
# A/B of two StreamGate binaries as reverse proxies (did a change slow the data plane?): both
# run side by side in front of one origin with the same config, wrk loads them in alternation
# (keep-alive, plain HTTP, 1 KiB and 64 KiB bodies), and the script prints requests/s and CPU
# time per request (medians over rounds) and B's ratio to A.
#
#   bench/proxy_ab.sh A_BINARY B_BINARY [--duration 10s] [--connections 64] [--rounds 5]
#                     [--workers 1]
#
# Build A from an older commit, e.g. `git worktree add /tmp/old <rev>` and
# `cmake --preset release && cmake --build --preset release --target streamgate_app` there.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { sed -n 2,11p "$0" >&2; exit 2; }
bin_a=$(realpath "$1")
bin_b=$(realpath "$2")
shift 2
duration=10s
connections=64
rounds=5
workers=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_install wrk

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT


origin_port=$(free_port)
"$bin_b" --log-level error origin --listen "127.0.0.1:$origin_port" --id origin --threads "$workers" &
pids+=($!)
bench_wait_port "$origin_port"

declare -A port=() pid=()
for side in a b; do
  port[$side]=$(free_port)
  admin=$(free_port)
  cat >"$work/$side.yaml" <<YAML
admin: { listen: "127.0.0.1:$admin" }
health_check: { interval: 30s, timeout: 2s }
listeners:
  - { name: bench, listen: "127.0.0.1:${port[$side]}" }
backends:
  - { id: origin, address: 127.0.0.1, port: $origin_port }
proxy: { threads: $workers }
YAML
  bin=$bin_a
  [[ $side == b ]] && bin=$bin_b
  "$bin" --log-level error serve --config "$work/$side.yaml" &
  pid[$side]=$!
  pids+=("${pid[$side]}")
  bench_wait_port "${port[$side]}"
done

ticks_per_second=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Prints "rps cpu_us_per_request" for one wrk run against SIDE with SIZE-byte bodies.
run_wrk() {
  local side=$1 size=$2 before after
  before=$(cpu_ticks "${pid[$side]}")
  wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:${port[$side]}/bytes/$size" >"$work/wrk.out"
  after=$(cpu_ticks "${pid[$side]}")
  awk -v ticks=$((after - before)) -v hz="$ticks_per_second" '
    / requests in / { total = $1 }
    /^Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    END { if (bad > 0) rps = -1; printf "%s %.2f\n", rps, ticks / hz * 1e6 / total }' "$work/wrk.out"
}

echo "proxy_ab: A=$bin_a B=$bin_b; $workers worker thread(s), wrk -t1 -c$connections -d$duration, $rounds rounds, medians"
printf '%-8s %12s %12s %10s %12s %12s\n' size "A req/s" "B req/s" "B/A" "A us/req" "B us/req"
for size in 1024 65536; do
  declare -A rps=([a]="" [b]="") cpu=([a]="" [b]="")
  for round in $(seq "$rounds"); do
    # Alternating, and the order flipped every round, so drift hits both alike.
    order=(a b)
    ((round % 2 == 0)) && order=(b a)
    for side in "${order[@]}"; do
      read -r r c < <(run_wrk "$side" "$size")
      rps[$side]+="$r"$'\n'
      cpu[$side]+="$c"$'\n'
    done
  done
  ra=$(printf '%s' "${rps[a]}" | median)
  rb=$(printf '%s' "${rps[b]}" | median)
  ca=$(printf '%s' "${cpu[a]}" | median)
  cb=$(printf '%s' "${cpu[b]}" | median)
  printf '%-8s %12.0f %12.0f %10.3f %12.2f %12.2f\n' "$size" "$ra" "$rb" \
    "$(awk -v a="$ra" -v b="$rb" 'BEGIN { print b / a }')" "$ca" "$cb"
done
