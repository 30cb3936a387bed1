#!/usr/bin/env bash
# Runs StreamGate (edge cache), Varnish and nginx (proxy_cache) as caching reverse proxies in
# front of the same origin, warms each cache, and loads each in turn with wrk against cached
# objects only (keep-alive; 1 KiB then 1 MiB responses). Prints requests/s, p50 and p99 (medians
# over rounds), the CPU time (user + system) the proxying process spends per request, and
# StreamGate's ratio to each peer. The issue's goal: StreamGate at least 1.0x the better peer.
#
#   bench/cache_compare.sh [--workers N] [--duration 10s] [--connections 64] [--rounds 3]
#                          [--streamgate PATH]
#
# Every proxy reaches the origin through its own small counting relay, so the script can show
# that the timed runs were served from cache: the origin requests counted during them must be 0.
# Hits are also checked from the response headers before and after the runs.
#
# StreamGate is skipped (and ratios omitted) when its config does not accept a `cdn:` section or
# when a warmed response does not carry `X-Cache: HIT`.
#
# Installs varnish, nginx and wrk from Debian when missing. Peers run from a temp dir as the
# current user; nothing is left running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

workers=1
duration=10s
connections=64
rounds=3
bin=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --streamgate) bin="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
sizes=(1024 1048576)

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_install varnish nginx wrk curl python3
bench_stop_services varnish varnishncsa nginx

if [[ -z $bin ]]; then
  bin="$PWD/build/release/bin/streamgate"
  if [[ ! -x $bin ]]; then bench_build_streamgate; fi
fi
[[ -x $bin ]] || { echo "no StreamGate binary at $bin" >&2; exit 1; }
bin=$(realpath "$bin")

work=$(mktemp -d)
pids=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# wait_started NAME PID PORT LOG: waits until something answers HTTP on PORT; if the process
# exits or nothing answers within 10 s, prints its log and stops the benchmark.
wait_started() {
  local name=$1 pid=$2 port=$3 log=$4
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then return 0; fi
    sleep 0.1
  done
  echo "cache_compare: $name did not start (nothing answers on port $port); its log:" >&2
  cat "$log" >&2 || true
  exit 1
}

# --- origin, and one counting relay per proxy ----------------------------------------------------
origin_port=$(free_port)
"$bin" --log-level error origin --listen "127.0.0.1:$origin_port" --id origin --threads "$workers" \
  --max-age 3600 >"$work/origin.log" 2>&1 &
pids+=($!)
wait_started origin $! "$origin_port" "$work/origin.log"
for size in "${sizes[@]}"; do
  got=$(curl -s -D "$work/origin.headers" -o /dev/null -w '%{http_code} %{size_download}' \
    "http://127.0.0.1:$origin_port/bytes/$size")
  if [[ $got != "200 $size" ]] || ! grep -qi '^cache-control: public, max-age=3600' "$work/origin.headers"; then
    echo "cache_compare: origin /bytes/$size answered '$got'; headers:" >&2
    cat "$work/origin.headers" >&2
    exit 1
  fi
done

# Forwards TCP to the origin and keeps, in a file, the number of /bytes/ requests it passed on.
cat >"$work/relay.py" <<'PY'
import asyncio, os, sys

listen_port, origin_port, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
count = 0
NEEDLE = b" /bytes/"


def save():
    with open(count_file + ".tmp", "w") as f:
        f.write(f"{count}\n")
    os.replace(count_file + ".tmp", count_file)


async def pipe(reader, writer, counting):
    global count
    tail = b""
    try:
        while data := await reader.read(262144):
            if counting:
                buf = tail + data
                if n := buf.count(NEEDLE):
                    count += n
                    save()
                tail = buf[-(len(NEEDLE) - 1):]
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    try:
        origin_reader, origin_writer = await asyncio.open_connection("127.0.0.1", origin_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, origin_writer, True),
                         pipe(origin_reader, client_writer, False))


async def main():
    save()
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


asyncio.run(main())
PY
declare -A relay_port=()
for name in streamgate varnish nginx; do
  relay_port[$name]=$(free_port)
  python3 "$work/relay.py" "${relay_port[$name]}" "$origin_port" "$work/origin-requests.$name" \
    >"$work/relay-$name.log" 2>&1 &
  pids+=($!)
  wait_started "relay for $name" $! "${relay_port[$name]}" "$work/relay-$name.log"
done
origin_requests() { cat "$work/origin-requests.$1"; }

# Fetches /bytes/SIZE from PORT three times and checks the last answer is a cache hit of SIZE
# bytes, by the proxy's own hit marker. Prints the marker; returns 1 when it is not a hit.
warm_and_check() {
  local name=$1 port=$2 size=$3 tries=${4:-3} got marker
  for _ in $(seq "$tries"); do
    got=$(curl -s -D "$work/hit.headers" -o /dev/null -w '%{http_code} %{size_download}' \
      "http://127.0.0.1:$port/bytes/$size") || got="curl failed"
  done
  tr -d '\r' <"$work/hit.headers" >"$work/hit.headers.lf"
  case $name in
    streamgate) marker=$(grep -i '^x-cache:' "$work/hit.headers.lf" | head -1 || true)
                [[ ${marker,,} =~ ^x-cache:\ *hit ]] || marker="" ;;
    varnish) marker=$(grep -i '^x-varnish:' "$work/hit.headers.lf" | head -1 || true)
             [[ $marker =~ ^[Xx]-[Vv]arnish:\ *[0-9]+\ +[0-9]+ ]] || marker=""
             [[ -n $marker ]] && marker+=", $(grep -i '^age:' "$work/hit.headers.lf" | head -1 || true)" ;;
    nginx) marker=$(grep -i '^x-cache-status:' "$work/hit.headers.lf" | head -1 || true)
           [[ ${marker,,} =~ ^x-cache-status:\ *hit ]] || marker="" ;;
  esac
  if [[ $got != "200 $size" || -z $marker ]]; then
    echo "$name: /bytes/$size is not a cache hit after warming (curl: $got); headers:" >&2
    sed 's/^/    /' "$work/hit.headers.lf" >&2
    return 1
  fi
  echo "$marker"
}

# --- StreamGate ----------------------------------------------------------------------------------
sg_port=$(free_port)
sg_admin=$(free_port)
cat >"$work/streamgate.yaml" <<YAML
admin: { listen: "127.0.0.1:$sg_admin" }
health_check: { interval: 30s, timeout: 2s }
listeners:
  - { name: bench, listen: "127.0.0.1:$sg_port" }
backends:
  - { id: origin, address: 127.0.0.1, port: ${relay_port[streamgate]} }
proxy: { threads: $workers }
cdn: { provider: local, max_cache_size: 1GiB, default_ttl: 1h }
YAML
sg_available=1
sg_reason=""
if ! "$bin" check-config --config "$work/streamgate.yaml" >"$work/streamgate-check.log" 2>&1; then
  sg_available=0
  sg_reason="check-config: $(grep -v '^$' "$work/streamgate-check.log" | tail -1)"
else
  "$bin" --log-level error serve --config "$work/streamgate.yaml" >"$work/streamgate.log" 2>&1 &
  sg_pid=$!
  pids+=("$sg_pid")
  wait_started streamgate "$sg_pid" "$sg_port" "$work/streamgate.log"
  for size in "${sizes[@]}"; do
    if ! warm_and_check streamgate "$sg_port" "$size" >/dev/null 2>"$work/streamgate-hit.log"; then
      sg_available=0
      sg_reason="no X-Cache: HIT on /bytes/$size after warming"
      break
    fi
  done
  if ((!sg_available)); then kill "$sg_pid" 2>/dev/null || true; fi
fi

# --- Varnish -------------------------------------------------------------------------------------
# Varnish runs one thread per client connection, so its thread count cannot equal the others'
# worker count: it gets one thread pool per worker and enough threads in each pool for every
# connection (plus room for backend fetches) so that no connection waits for a thread.
varnish_port=$(free_port)
varnish_pools=$workers
varnish_threads=$((connections + 16))
# shellcheck disable=SC2054  # the comma in malloc,256m is varnishd's, not an array separator
varnish_args=(-F -a "127.0.0.1:$varnish_port" -b "127.0.0.1:${relay_port[varnish]}"
  -s malloc,256m -n "$work/varnish"
  -p "thread_pools=$varnish_pools" -p "thread_pool_max=$((varnish_threads > 5000 ? varnish_threads : 5000))"
  -p "thread_pool_min=$varnish_threads")
# As root, varnishd drops its worker process to the "varnish" user (the unix jail); when that
# cannot work (not root, or the work dir is out of that user's reach) it runs unjailed instead.
varnish_jail="unix (default)"
[[ $(id -u) -ne 0 ]] && { varnish_args+=(-j none); varnish_jail="none"; }
start_varnish() {
  varnishd "${varnish_args[@]}" >"$work/varnish.log" 2>&1 &
  varnish_pid=$!
  pids+=("$varnish_pid")
  for _ in $(seq 100); do
    kill -0 "$varnish_pid" 2>/dev/null || return 1
    curl -s -o /dev/null "http://127.0.0.1:$varnish_port/" && return 0
    sleep 0.1
  done
  kill "$varnish_pid" 2>/dev/null || true
  return 1
}
if ! start_varnish; then
  wait "$varnish_pid" 2>/dev/null || true
  if [[ $varnish_jail == "none" ]]; then
    echo "cache_compare: varnish did not start; its log:" >&2; cat "$work/varnish.log" >&2; exit 1
  fi
  cp "$work/varnish.log" "$work/varnish-jailed.log"
  rm -rf "$work/varnish"
  varnish_args+=(-j none); varnish_jail="none (the unix jail failed to start)"
  if ! start_varnish; then
    echo "cache_compare: varnish did not start; its logs:" >&2
    cat "$work/varnish-jailed.log" "$work/varnish.log" >&2
    exit 1
  fi
fi

# --- nginx ---------------------------------------------------------------------------------------
nginx_port=$(free_port)
mkdir -p "$work/nginx/cache"
nginx_user=""
# A root master would run its workers as "nobody", who cannot reach the cache in the temp dir.
[[ $(id -u) -eq 0 ]] && nginx_user="user root;"
cat >"$work/nginx/nginx.conf" <<CONF
$nginx_user
worker_processes $workers;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;  # as Varnish: no reconnect churn under wrk's keep-alive load
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=edge:64m max_size=1g inactive=1h use_temp_path=off;
  upstream origin { server 127.0.0.1:${relay_port[nginx]}; keepalive 128; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering on;
      proxy_cache edge;
      proxy_cache_valid 200 1h;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" >"$work/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
wait_started nginx "$nginx_pid" "$nginx_port" "$work/nginx.log"

# --- warm and check hits -------------------------------------------------------------------------
names=(varnish nginx)
((sg_available)) && names=(streamgate varnish nginx)
declare -A proxy_port=([streamgate]=$sg_port [varnish]=$varnish_port [nginx]=$nginx_port)
for name in "${names[@]}"; do
  for size in "${sizes[@]}"; do
    marker=$(warm_and_check "$name" "${proxy_port[$name]}" "$size")
    echo "warm: $name /bytes/$size -> $marker"
  done
  echo "warm: $name passed $(origin_requests "$name") request(s) to the origin while warming"
done >"$work/warm.txt"

# The processes that serve the hits, whose CPU time is charged per request.
declare -A cpu_pids=()
((sg_available)) && cpu_pids[streamgate]=$sg_pid
cpu_pids[varnish]=$(pgrep -P "$varnish_pid" | head -1)  # the cache child, not the manager
cpu_pids[nginx]=$(pgrep -f "nginx: worker" -P "$nginx_pid" | tr '\n' ' ')  # every worker
cpu_ticks() {  # user + system over the given pids, clock ticks
  local sum=0 pid
  for pid in "$@"; do sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
  echo "$sum"
}
ticks_per_second=$(getconf CLK_TCK)

# Prints "rps p50_ms p99_ms cpu_us_per_request" for one wrk run.
run_wrk() {
  local port=$1 path=$2 before after
  shift 2
  before=$(cpu_ticks "$@")
  wrk -t1 -c"$connections" -d"$duration" --latency "http://127.0.0.1:$port$path" >"$work/wrk.out"
  after=$(cpu_ticks "$@")
  awk -v ticks=$((after - before)) -v hz="$ticks_per_second" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { total = $1 }
    /^Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    END { if (bad > 0 || total == 0) rps = -1; printf "%s %.3f %.3f %.2f\n", rps, p50, p99, total ? ticks / hz * 1e6 / total : 0 }' "$work/wrk.out"
}

echo "cache_compare: cache hits only; $workers worker thread(s) each, wrk -t1 -c$connections -d$duration, $rounds rounds, medians"
echo "  origin:     streamgate origin --max-age 3600 (/bytes/N, N <= 64 MiB); each proxy reaches it through its own counting relay"
if ((sg_available)); then
  echo "  streamgate: proxy.threads=$workers, cdn { provider: local, max_cache_size: 1GiB, default_ttl: 1h }"
else
  echo "streamgate: edge cache not available in this build, skipped"
  echo "  (${sg_reason})"
fi
echo "  varnish:    $(varnishd -V 2>&1 | grep -o 'varnish-[0-9.]*' | head -1), -s malloc,256m (hits from memory), thread-per-connection:"
echo "              thread_pools=$varnish_pools, thread_pool_min=$varnish_threads per pool (connections + 16), jail $varnish_jail; CPU = cache child"
echo "  nginx:      $(nginx -v 2>&1 | sed 's/.*: //'), worker_processes=$workers, proxy_cache on disk (hits from files in the page cache),"
echo "              sendfile on, keepalive_requests 1000000, keepalive upstream; CPU = all workers"
echo "  machine:    $(nproc) cores shared by wrk, the proxy and anything else running: figures are noisy"
sed 's/^/  /' "$work/warm.txt"

declare -A origin_hits=()
for name in "${names[@]}"; do origin_hits[$name]=0; done
for size in "${sizes[@]}"; do
  declare -A rps=() p50=() p99=() cpu=()
  for name in "${names[@]}"; do rps[$name]=""; p50[$name]=""; p99[$name]=""; cpu[$name]=""; done
  for _ in $(seq "$rounds"); do
    # Interleaved so slow drift on a shared machine hits every proxy alike.
    for name in "${names[@]}"; do
      before=$(origin_requests "$name")
      # shellcheck disable=SC2086  # nginx may have several workers
      out=$(run_wrk "${proxy_port[$name]}" "/bytes/$size" ${cpu_pids[$name]})
      after=$(origin_requests "$name")
      origin_hits[$name]=$((${origin_hits[$name]} + after - before))
      read -r r a b c <<<"$out"
      rps[$name]+="$r"$'\n'; p50[$name]+="$a"$'\n'; p99[$name]+="$b"$'\n'; cpu[$name]+="$c"$'\n'
    done
  done
  printf '\n%s-byte cached objects\n%-11s %12s %9s %9s %17s\n' "$size" proxy "requests/s" "p50 ms" \
    "p99 ms" "proxy CPU us/req"
  declare -A med=()
  for name in "${names[@]}"; do
    med[$name]=$(printf '%s' "${rps[$name]}" | median)
    med[$name.p99]=$(printf '%s' "${p99[$name]}" | median)
    med[$name.cpu]=$(printf '%s' "${cpu[$name]}" | median)
    printf '%-11s %12.0f %9.3f %9.3f %17.2f\n' "$name" "${med[$name]}" \
      "$(printf '%s' "${p50[$name]}" | median)" "${med[$name.p99]}" "${med[$name.cpu]}"
  done
  if ((sg_available)); then
    for peer in varnish nginx; do
      awk -v a="${med[streamgate]}" -v b="${med[$peer]}" -v pa="${med[streamgate.p99]}" \
          -v pb="${med[$peer.p99]}" -v ca="${med[streamgate.cpu]}" -v cb="${med[$peer.cpu]}" \
          -v peer="$peer" 'BEGIN { printf "streamgate / %-8s requests/s x%.2f   p99 x%.2f   CPU per request x%.2f\n",
                                         peer, a / b, pa / pb, ca / cb }'
    done
    awk -v a="${med[streamgate]}" -v v="${med[varnish]}" -v n="${med[nginx]}" 'BEGIN {
      best = v > n ? v : n; peer = v > n ? "varnish" : "nginx"
      printf "goal (requests/s >= 1.0x the better peer, %s): x%.2f, %s\n", peer, a / best,
             (a >= best ? "met" : "not met") }'
  fi
done

# --- after the runs: still hits, and the origin saw none of the timed requests --------------------
echo
status=0
for name in "${names[@]}"; do
  for size in "${sizes[@]}"; do
    if ! warm_and_check "$name" "${proxy_port[$name]}" "$size" 1 >/dev/null; then status=1; fi
  done
  if ((${origin_hits[$name]} != 0)); then
    echo "$name: the origin received ${origin_hits[$name]} requests during the timed runs: not all were cache hits" >&2
    status=1
  fi
done
summary="origin requests during the timed runs:"
for name in "${names[@]}"; do summary+=" $name ${origin_hits[$name]},"; done
echo "${summary%,}; hit headers re-checked after the runs: $([[ $status -eq 0 ]] && echo ok || echo FAILED)"
exit "$status"
