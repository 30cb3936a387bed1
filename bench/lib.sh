# Shared plumbing of the side-by-side benchmark scripts (source it; bash only).

# bench_install PKG...: installs the Debian packages that are missing (sudo when not root).
bench_install() {
  local need=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  ((${#need[@]})) || return 0
  local sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be stale on a fresh machine: update once if the first try fails.
  if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
    "${sudo_cmd[@]}" apt-get update -qq >/dev/null
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

# bench_stop_services SVC...: Debian starts peers as services on install; benchmarks run their own.
bench_stop_services() {
  local svc
  for svc in "$@"; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
      systemctl stop "$svc" || true
    fi
  done
}

# bench_build_streamgate: builds build/release/bin/streamgate (run from the repository root).
bench_build_streamgate() {
  scripts/bootstrap
  cmake --preset release >/dev/null
  cmake --build --preset release --target streamgate_app >/dev/null
}

# free_port: a TCP port on 127.0.0.1 that is free now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# median: the median of the numbers on stdin, one per line (mean of the middle two when even;
# "nan" when there are none).
median() {
  sort -g | awk 'NF { a[++n] = $1 }
    END { if (n == 0) print "nan"; else if (n % 2) print a[(n + 1) / 2]; else print (a[n / 2] + a[n / 2 + 1]) / 2 }'
}

# bench_wait_port PORT: waits up to 10 s until something answers HTTP on 127.0.0.1:PORT.
bench_wait_port() {
  local _
  for _ in $(seq 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2
  return 1
}
