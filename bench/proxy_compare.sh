#!/usr/bin/env bash
# Runs StreamGate, nginx and HAProxy as reverse proxies in front of the same origin, each with
# the same number of worker threads, loads each in turn with wrk (keep-alive; 1 KiB then 64 KiB
# responses), and prints requests/s, p50 and p99 (medians over rounds) and StreamGate's ratio
# to each peer, and the CPU time (user + system) the proxying process spends per request: on a
# small machine where wrk, the origin and the proxy share cores, that is the proxy's own cost.
# Then the same over HTTPS (one P-256 certificate made here, TLS 1.3 with OpenSSL's default
# suite on all three, the same OpenSSL 3): keep-alive 1 KiB and 64 KiB, and handshakes/s
# (Connection: close, so every request is a new connection and a full handshake).
#
#   bench/proxy_compare.sh [--workers N] [--duration 10s] [--connections 64] [--rounds 3]
#                          [--no-https] [--https-only]
#
# Installs nginx, haproxy and wrk from Debian when missing. Peers run from a temp dir as the
# current user; nothing is left running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

workers=1
duration=10s
connections=64
rounds=3
plain=1
https=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-https) https=0; shift ;;
    --https-only) plain=0; shift ;;
    --workers) workers="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_install nginx haproxy wrk
bench_stop_services nginx haproxy
# STREAMGATE_BIN=path runs that binary instead of building build/release.
if [[ -n ${STREAMGATE_BIN:-} ]]; then
  bin=$STREAMGATE_BIN
else
  bench_build_streamgate
  bin="$PWD/build/release/bin/streamgate"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT


# One certificate for all three HTTPS listeners.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.test \
  -addext subjectAltName=DNS:bench.test -keyout "$work/bench.key" -out "$work/bench.crt" 2>/dev/null
cat "$work/bench.crt" "$work/bench.key" >"$work/bench.pem"  # HAProxy wants both in one file

origin_port=$(free_port)
"$bin" --log-level error origin --listen "127.0.0.1:$origin_port" --id origin --threads "$workers" &
pids+=($!)
bench_wait_port "$origin_port"

# --- StreamGate --------------------------------------------------------------------------------
sg_port=$(free_port)
sg_tls_port=$(free_port)
sg_admin=$(free_port)
cat >"$work/streamgate.yaml" <<YAML
admin: { listen: "127.0.0.1:$sg_admin" }
health_check: { interval: 30s, timeout: 2s }
listeners:
  - { name: bench, listen: "127.0.0.1:$sg_port" }
  - name: bench-tls
    listen: "127.0.0.1:$sg_tls_port"
    tls: { certificates: [ { cert: "$work/bench.crt", key: "$work/bench.key" } ] }
backends:
  - { id: origin, address: 127.0.0.1, port: $origin_port }
proxy: { threads: $workers }
YAML
"$bin" --log-level error serve --config "$work/streamgate.yaml" &
pids+=($!)
bench_wait_port "$sg_port"

# --- nginx -------------------------------------------------------------------------------------
nginx_port=$(free_port)
nginx_tls_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $workers;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  upstream origin { server 127.0.0.1:$origin_port; keepalive 128; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering on;
    }
  }
  server {
    listen 127.0.0.1:$nginx_tls_port ssl;
    ssl_certificate $work/bench.crt;
    ssl_certificate_key $work/bench.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_buffering on;
    }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
bench_wait_port "$nginx_port"

# --- HAProxy -----------------------------------------------------------------------------------
haproxy_port=$(free_port)
haproxy_tls_port=$(free_port)
cat >"$work/haproxy.cfg" <<CONF
global
  nbthread $workers
  maxconn 8192
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 30s
  option forwardfor
  http-reuse always
frontend bench
  bind 127.0.0.1:$haproxy_port
  default_backend origin
frontend bench_tls
  bind 127.0.0.1:$haproxy_tls_port ssl crt $work/bench.pem ssl-min-ver TLSv1.2
  http-request set-header X-Forwarded-Proto https
  default_backend origin
backend origin
  server origin 127.0.0.1:$origin_port
CONF
haproxy -f "$work/haproxy.cfg" -db &
pids+=($!)
bench_wait_port "$haproxy_port"

# --- load --------------------------------------------------------------------------------------
# The process that does the proxying, whose CPU time is charged per request.
sg_pid=$(pgrep -f "serve --config $work/streamgate.yaml" | head -1)
nginx_pid=$(pgrep -f "nginx: worker" -P "$(cat "$work/nginx/nginx.pid")" | head -1)
haproxy_pid=$(pgrep -x haproxy -P $$ | head -1)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # user + system, clock ticks
ticks_per_second=$(getconf CLK_TCK)

# Prints "rps p50_ms p99_ms cpu_us_per_request" for one wrk run.
run_wrk() {
  local port=$1 path=$2 pid=$3 scheme=${4:-http} header=${5:-} before after
  local extra=()
  [[ -n $header ]] && extra=(-H "$header")
  before=$(cpu_ticks "$pid")
  wrk -t1 -c"$connections" -d"$duration" --latency "${extra[@]}" "$scheme://127.0.0.1:$port$path" \
    >"$work/wrk.out"
  after=$(cpu_ticks "$pid")
  awk -v ticks=$((after - before)) -v hz="$ticks_per_second" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { total = $1 }
    /^Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    END { if (bad > 0) rps = -1; printf "%s %.3f %.3f %.2f\n", rps, p50, p99, ticks / hz * 1e6 / total }' "$work/wrk.out"
}

# compare TITLE SCHEME HEADER SIZE: rounds over the three proxies, then the table and ratios.
compare() {
  local title=$1 scheme=$2 header=$3 size=$4 name round port pid r a b c peer
  declare -A rps=() p50=() p99=() cpu=()
  for name in streamgate nginx haproxy; do rps[$name]=""; p50[$name]=""; p99[$name]=""; cpu[$name]=""; done
  for round in $(seq "$rounds"); do
    # Interleaved so slow drift on a shared machine hits every proxy alike.
    for name in streamgate nginx haproxy; do
      case $name:$scheme in
        streamgate:http) port=$sg_port pid=$sg_pid ;;
        nginx:http) port=$nginx_port pid=$nginx_pid ;;
        haproxy:http) port=$haproxy_port pid=$haproxy_pid ;;
        streamgate:https) port=$sg_tls_port pid=$sg_pid ;;
        nginx:https) port=$nginx_tls_port pid=$nginx_pid ;;
        haproxy:https) port=$haproxy_tls_port pid=$haproxy_pid ;;
      esac
      read -r r a b c < <(run_wrk "$port" "/bytes/$size" "$pid" "$scheme" "$header")
      rps[$name]+="$r"$'\n'; p50[$name]+="$a"$'\n'; p99[$name]+="$b"$'\n'; cpu[$name]+="$c"$'\n'
    done
  done
  printf '\n%s\n%-11s %12s %9s %9s %14s\n' "$title" proxy "requests/s" "p50 ms" "p99 ms" \
    "proxy CPU us/req"
  local -A med=()
  for name in streamgate nginx haproxy; do
    med[$name]=$(printf '%s' "${rps[$name]}" | median)
    printf '%-11s %12.0f %9.3f %9.3f %14.2f\n' "$name" "${med[$name]}" \
      "$(printf '%s' "${p50[$name]}" | median)" "$(printf '%s' "${p99[$name]}" | median)" \
      "$(printf '%s' "${cpu[$name]}" | median)"
    med[$name.p99]=$(printf '%s' "${p99[$name]}" | median)
    med[$name.cpu]=$(printf '%s' "${cpu[$name]}" | median)
  done
  for peer in nginx haproxy; do
    awk -v a="${med[streamgate]}" -v b="${med[$peer]}" -v pa="${med[streamgate.p99]}" \
        -v pb="${med[$peer.p99]}" -v ca="${med[streamgate.cpu]}" -v cb="${med[$peer.cpu]}" \
        -v peer="$peer" 'BEGIN { printf "streamgate / %-8s requests/s x%.2f   p99 x%.2f   CPU per request x%.2f\n",
                                       peer, a / b, pa / pb, ca / cb }'
  done
}

echo "proxy_compare: $workers worker thread(s) each, wrk -t1 -c$connections -d$duration, $rounds rounds, medians"
if ((plain)); then
  for size in 1024 65536; do compare "$size-byte responses" http "" "$size"; done
fi
if ((https)); then
  for size in 1024 65536; do compare "HTTPS, keep-alive, $size-byte responses" https "" "$size"; done
  # Every request on a new connection: requests/s = handshakes/s.
  compare "HTTPS, new connection per request (requests/s = handshakes/s), 1024-byte responses" \
    https "Connection: close" 1024
fi
