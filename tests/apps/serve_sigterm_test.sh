#!/usr/bin/env bash
# `streamgate serve` answers on its admin port, reloads on SIGHUP (refusing a broken file) and
# exits 0 on SIGTERM; `origin` likewise exits 0 on SIGTERM.
set -euo pipefail
bin="$1"
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT

# Ports from the kernel: bind port 0 with python, then release.
read -r origin_port admin_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

"$bin" origin --listen "127.0.0.1:$origin_port" --id only &
origin_pid=$!
cat >"$dir/c.yaml" <<YAML
admin: { listen: "127.0.0.1:$admin_port" }
health_check: { interval: 1s, timeout: 500ms }
regions:
  - { id: only, endpoint: "http://127.0.0.1:$origin_port", primary: true }
YAML
"$bin" serve --config "$dir/c.yaml" &
serve_pid=$!

for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$admin_port/api/v1/regions/only" | grep -q '"health_status":"healthy"'; then
    break
  fi
  sleep 0.1
done
curl -sf "http://127.0.0.1:$admin_port/api/v1/regions/only" | grep -q '"health_status":"healthy"'
curl -sf "http://127.0.0.1:$origin_port/id" | grep -qx only

# SIGHUP reloads the file: a region added to it appears, and the daemon keeps running.
cat >>"$dir/c.yaml" <<YAML
  - { id: second, endpoint: "http://127.0.0.1:$origin_port" }
YAML
kill -HUP "$serve_pid"
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$admin_port/api/v1/regions/second" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$admin_port/api/v1/regions/second" >/dev/null ||
  { echo "SIGHUP did not reload the config (region 'second' missing)" >&2; exit 1; }
# A broken file is refused on SIGHUP and the daemon keeps serving the running config.
echo "regions: [ unclosed" >>"$dir/c.yaml"
kill -HUP "$serve_pid"
sleep 0.3
curl -sf "http://127.0.0.1:$admin_port/api/v1/regions/second" >/dev/null ||
  { echo "serve died or lost its config on a bad SIGHUP reload" >&2; exit 1; }

kill -TERM "$serve_pid"
wait "$serve_pid"  # set -e: a non-zero exit fails the test
kill -TERM "$origin_pid"
wait "$origin_pid"
echo "serve and origin stopped cleanly on SIGTERM"
