#!/usr/bin/env bash
# Disaster-recovery peer benchmark: runs StreamGate's backup CLI, restic and BorgBackup on the
# same generated data (bench/dr/generate_data.py: text logs, incompressible media segments,
# thousands of small files, a database file, symlinks, empty dirs) and, for each tool, times a
# full backup, an incremental backup after about 1% of the data changed, and a restore of the
# latest point; verifies the restore against a hash manifest of the source; measures the
# repository size and peak RSS. Prints each figure (medians over rounds) and StreamGate's ratio
# to each peer.
#
#   bench/dr/dr_compare.sh [--size 500M] [--seed 1] [--rounds N] [--streamgate PATH]
#                          [--tools streamgate,restic,borg] [--data DIR] [--s3]
#
#   --size      data set size (default 500M; 50M makes a quick run)
#   --rounds    repeats of each tool's whole sequence (default 1 at >=200M, else 3); medians
#   --streamgate PATH   binary to use (default build/release/bin/streamgate, built if missing)
#   --tools     subset to run, comma-separated (default all)
#   --data DIR  use an existing pristine tree made by generate_data.py (not modified)
#   --s3        repositories in S3 instead of local directories (issue 6): a local OpenStack
#               Swift (s3api; tests/support/swift_server.py, Debian's swift packages) behind
#               HAProxy terminating TLS, one bucket per tool and round; StreamGate through its
#               S3 store (AWS_* variables), restic through its s3 backend. Borg has no S3 backend
#               and is skipped. TLS because restic's S3 client sends aws-chunked uploads over
#               plain HTTP, which Swift refuses; both tools take the same path.
#
# Installs restic, borgbackup and GNU time from Debian when missing. Works in a temp dir under
# $TMPDIR (or /tmp) and removes it at the end. The page cache is not dropped (that needs root):
# every tool runs warm, the same way: its source is a fresh `cp -a` of the pristine tree made just
# before its full backup, and `sync` runs (untimed) before each timed step.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/../.."

size=500M
seed=1
rounds=""
bin=""
tools="streamgate,restic,borg"
data=""
s3=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) size="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --streamgate) bin="$2"; shift 2 ;;
    --tools) tools="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --s3) s3=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
gen="$PWD/bench/dr/generate_data.py"
size_bytes=$(python3 -B -c 'import sys; sys.path.insert(0, "bench/dr"); import generate_data as g; print(g.parse_size(sys.argv[1]))' "$size")
if [[ -z $rounds ]]; then
  rounds=1; ((size_bytes < 200 * 1024 * 1024)) && rounds=3
fi
((s3)) && tools="${tools//borg/}"  # no S3 backend
want() { [[ ",$tools," == *",$1,"* ]]; }
log() { echo "[dr_compare +${SECONDS}s] $*" >&2; }

# --- peers -------------------------------------------------------------------------------------
# shellcheck source=bench/lib.sh
source bench/lib.sh
log "checking restic, borgbackup and time are installed"
bench_install restic borgbackup time
((s3)) && bench_install swift swift-proxy swift-account swift-container swift-object python3-swift haproxy openssl

# --- StreamGate --------------------------------------------------------------------------------
sg_variants=()
sg_note=""
if want streamgate; then
  if [[ -z $bin ]]; then
    bin="$PWD/build/release/bin/streamgate"
    if [[ ! -x $bin ]]; then
      log "building $bin"
      if ! bench_build_streamgate; then
        log "streamgate build failed"
      fi
    fi
  fi
  # CLI11 answers an unknown subcommand's --help with the top-level help and exit 0, so the
  # test is that the help text is the backup command's own.
  if [[ -x $bin ]] && help=$("$bin" backup --help 2>&1) && grep -q -- '--repo' <<<"$help" &&
     grep -q -- '--source' <<<"$help"; then
    sg_variants+=(streamgate)
    if grep -q -- '--encrypt' <<<"$help"; then
      sg_variants+=(streamgate-enc)
      sg_note="streamgate: $bin; plain repository, and streamgate-enc with --encrypt (STREAMGATE_REPO_PASSWORD)"
    else
      sg_note="streamgate: $bin; plain repository (backup --help shows no --encrypt)"
    fi
    sg_note+="; default threads"
  else
    sg_note="streamgate: backup CLI not built, skipped"
  fi
fi
runs=("${sg_variants[@]}")
want restic && runs+=(restic)
want borg && runs+=(borg)
if ((${#runs[@]} == 0)); then echo "nothing to run" >&2; exit 1; fi

# --- data --------------------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/dr_compare.XXXXXX")
swift_pid=""; haproxy_pid=""
cleanup() {
  [[ -n $haproxy_pid ]] && kill "$haproxy_pid" 2>/dev/null
  [[ -n $swift_pid ]] && kill "$swift_pid" 2>/dev/null && wait "$swift_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- S3: Swift behind HAProxy's TLS ------------------------------------------------------------
if ((s3)); then
  log "starting Swift (s3api) and HAProxy TLS in front of it"
  mkdir -p "$work/swift"
  /usr/bin/python3 tests/support/swift_server.py "$work/swift/srv" >"$work/swift/ready" 2>"$work/swift/log" &
  swift_pid=$!
  for _ in $(seq 120); do grep -q '^READY' "$work/swift/ready" && break; sleep 0.5; done
  swift_port=$(awk '/^READY/ { print $2 }' "$work/swift/ready")
  [[ -n $swift_port ]] || { echo "dr_compare: Swift did not start:" >&2; tail -20 "$work/swift/log" >&2; exit 1; }
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/swift/key.pem" -out "$work/swift/ca.pem" 2>/dev/null
  cat "$work/swift/ca.pem" "$work/swift/key.pem" >"$work/swift/combined.pem"
  tls_port=$(free_port)
  cat >"$work/swift/haproxy.cfg" <<CFG
global
  maxconn 1000
defaults
  mode tcp
  timeout connect 5s
  timeout client 600s
  timeout server 600s
frontend s3tls
  bind 127.0.0.1:$tls_port ssl crt $work/swift/combined.pem
  default_backend swift
backend swift
  server swift 127.0.0.1:$swift_port
CFG
  haproxy -f "$work/swift/haproxy.cfg" -db >"$work/swift/haproxy.log" 2>&1 &
  haproxy_pid=$!
  export AWS_ENDPOINT_URL="https://127.0.0.1:$tls_port" AWS_CA_BUNDLE="$work/swift/ca.pem"
  export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  # Swift's object files for the repository size (du before and after each tool's sequence).
  swift_objects() { du -sb "$work/swift/srv" | cut -f1; }
fi

if [[ -n $data ]]; then
  pristine=$(cd "$data" && pwd)
  data_note="data: $pristine (given, $(find "$pristine" -type f | wc -l) files), mutation seed $seed"
  size="given"
else
  pristine="$work/pristine"
  log "generating $size (seed $seed)"
  data_note="data: $(python3 "$gen" "$pristine" --size "$size" --seed "$seed" | sed 's|^generated [^:]*: ||')"
fi
log "reference manifest"
# The expected state after the incremental: a mutated copy's manifest. Every tool's mutated
# source must match it (identical input) and so must every restore.
cp -a "$pristine" "$work/ref"
mutate_note="mutation: $(python3 "$gen" --mutate "$work/ref" --seed "$seed" | sed 's|^mutated [^:]*: ||')"
python3 "$gen" --manifest "$work/ref" >"$work/expected.manifest"
rm -rf "$work/ref"
src_bytes=$(du -sb --apparent-size "$pristine" | cut -f1)

# --- one tool's sequence -----------------------------------------------------------------------
unset STREAMGATE_REPO_PASSWORD  # the plain run must not pick one up from the caller
export RESTIC_PASSWORD=dr-bench-password
export BORG_PASSPHRASE=dr-bench-password
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_DISPLAY_PASSPHRASE=no

secs=0; rss=0
restic_tls=()
((s3)) && restic_tls=(--cacert "$AWS_CA_BUNDLE")
# timed NAME CMD...: runs CMD under GNU time, output to $run/NAME.log; sets secs and rss (KiB).
timed() {
  local name=$1; shift
  sync
  if ! /usr/bin/time -f '%e %M' -o "$run/$name.time" "$@" >"$run/$name.log" 2>&1; then
    echo "dr_compare: FAILED ($tool, $name): $*" >&2
    tail -n 40 "$run/$name.log" >&2
    exit 1
  fi
  read -r secs rss < <(tail -n 1 "$run/$name.time")
}

tool_full() {
  case $tool in
    streamgate) timed full "$bin" backup --repo "$repo" --source "$src" --strategy full --json ;;
    streamgate-enc)
      STREAMGATE_REPO_PASSWORD=dr-bench-password \
        timed full "$bin" backup --repo "$repo" --source "$src" --strategy full --json --encrypt ;;
    restic)
      restic "${restic_tls[@]}" -r "$repo" init --repository-version 2 >"$run/init.log" 2>&1
      timed full restic "${restic_tls[@]}" -r "$repo" backup --compression auto "$src" ;;
    borg)
      borg init --encryption repokey-blake2 "$repo" >"$run/init.log" 2>&1
      timed full borg create --compression zstd,3 "$repo::full" "$src" ;;
  esac
}
tool_incr() {
  case $tool in
    streamgate) timed incr "$bin" backup --repo "$repo" --source "$src" --strategy incremental --json ;;
    streamgate-enc)
      STREAMGATE_REPO_PASSWORD=dr-bench-password \
        timed incr "$bin" backup --repo "$repo" --source "$src" --strategy incremental --json ;;
    restic) timed incr restic "${restic_tls[@]}" -r "$repo" backup --compression auto "$src" ;;
    borg) timed incr borg create --compression zstd,3 "$repo::incr" "$src" ;;
  esac
}
tool_restore() {
  case $tool in
    streamgate) timed restore "$bin" restore --repo "$repo" --point latest --target "$restore" ;;
    streamgate-enc)
      STREAMGATE_REPO_PASSWORD=dr-bench-password \
        timed restore "$bin" restore --repo "$repo" --point latest --target "$restore" ;;
    restic) timed restore restic "${restic_tls[@]}" -r "$repo" restore latest --target "$restore" ;;
    borg) timed restore bash -c 'cd "$1" && exec borg extract "$2::incr"' _ "$restore" "$repo" ;;
  esac
}

declare -A vals=()   # "tool metric" -> newline-separated values over rounds
record() { vals["$tool $1"]+="$2"$'\n'; }

run_one() {
  run="$work/run-$tool"
  rm -rf "$run"; mkdir -p "$run"
  src="$run/src"; repo="$run/repo"; restore="$run/restore"
  local objects_before=0
  if ((s3)); then
    objects_before=$(swift_objects)
    if [[ $tool == restic ]]; then repo="s3:$AWS_ENDPOINT_URL/restic-r$round"; else repo="s3://$tool-r$round"; fi
  fi
  export RESTIC_CACHE_DIR="$run/restic-cache" BORG_BASE_DIR="$run/borg-home"
  cp -a "$pristine" "$src"
  local peak=0

  log "round $round/$rounds $tool: full backup"
  tool_full; record full "$secs"; ((rss > peak)) && peak=$rss

  python3 "$gen" --mutate "$src" --seed "$seed" >/dev/null
  log "round $round/$rounds $tool: incremental backup"
  tool_incr; record incr "$secs"; ((rss > peak)) && peak=$rss

  mkdir -p "$restore"
  log "round $round/$rounds $tool: restore"
  tool_restore; record restore "$secs"; ((rss > peak)) && peak=$rss
  record rss "$peak"
  if ((s3)); then record repo "$(($(swift_objects) - objects_before))"; else record repo "$(du -sb "$repo" | cut -f1)"; fi

  log "round $round/$rounds $tool: verifying the restore"
  # restic and borg restore the absolute source path under the target; StreamGate may restore
  # the source's contents or its base name. Use whichever holds the tree.
  local root=""
  for cand in "$restore/${src#/}" "$restore/$(basename "$src")" "$restore"; do
    if [[ -d $cand/media && -d $cand/logs && -d $cand/projects ]]; then root=$cand; break; fi
  done
  python3 "$gen" --manifest "$src" >"$run/source.manifest"
  if ! cmp -s "$run/source.manifest" "$work/expected.manifest"; then
    echo "dr_compare: FAILED ($tool): mutated source differs from the reference" >&2; exit 1
  fi
  if [[ -z $root ]]; then
    echo "dr_compare: FAILED ($tool): restore target holds no restored tree:" >&2
    find "$restore" -maxdepth 3 | head -20 >&2
    exit 1
  fi
  python3 "$gen" --manifest "$root" >"$run/restore.manifest"
  if ! cmp -s "$run/restore.manifest" "$work/expected.manifest"; then
    echo "dr_compare: FAILED ($tool): restore differs from the source (manifest diff, first lines):" >&2
    diff "$work/expected.manifest" "$run/restore.manifest" | head -20 >&2
    exit 1
  fi
  rm -rf "$run"
}

for round in $(seq "$rounds"); do
  # Interleaved so slow drift on a shared machine hits every tool alike.
  for tool in "${runs[@]}"; do run_one; done
done

# --- report ------------------------------------------------------------------------------------
declare -A med=()
for tool in "${runs[@]}"; do
  for m in full incr restore repo rss; do med[$tool.$m]=$(printf '%s' "${vals[$tool $m]}" | median); done
done

echo "dr_compare: $size data set$( ((s3)) && echo ", repositories in S3 (local Swift s3api behind HAProxy TLS)"), seed $seed, $rounds round(s)$( ((rounds > 1)) && echo ", medians"); nproc $(nproc); each tool at its default thread count"
echo "$data_note"
echo "$mutate_note"
echo "page cache: not dropped (no root assumed); every tool runs warm the same way: fresh cp -a of the pristine tree, sync before each timed step"
want restic && echo "restic $(restic version | awk '{print $2}'): repo v2, --compression auto (zstd), encryption always on (AES-256 + Poly1305)$( ((s3)) && echo ", s3 backend over https")"
want borg && echo "borg $(borg --version | awk '{print $2}'): --encryption repokey-blake2 (AES-256 + BLAKE2b), -C zstd,3"
[[ -n $sg_note ]] && echo "$sg_note"
((s3)) && echo "repo size in S3: growth of Swift's object directory over the tool's sequence (includes Swift's container databases)"
echo "restores verified against a SHA-256 manifest of the source (content, size, mode, mtime, symlinks, empty dirs)"
printf '\n%-15s %9s %9s %10s %9s %12s\n' tool "full s" "incr s" "restore s" "repo MiB" "peak RSS MiB"
for tool in "${runs[@]}"; do
  printf '%-15s %9.2f %9.2f %10.2f %9.1f %12.1f\n' "$tool" "${med[$tool.full]}" "${med[$tool.incr]}" \
    "${med[$tool.restore]}" "$(awk -v b="${med[$tool.repo]}" 'BEGIN { print b / 1048576 }')" \
    "$(awk -v k="${med[$tool.rss]}" 'BEGIN { print k / 1024 }')"
done
printf '%-15s %9s %9s %10s %9.1f\n' "(source)" "" "" "" "$(awk -v b="$src_bytes" 'BEGIN { print b / 1048576 }')"
if ((rounds > 1)); then
  echo "spread over rounds (min-max):"
  for tool in "${runs[@]}"; do
    printf '  %-14s' "$tool"
    for m in full incr restore; do
      printf '  %s %s' "$m" "$(printf '%s' "${vals[$tool $m]}" | sort -g | awk 'NF { a[++n] = $1 } END { printf "%.2f-%.2f", a[1], a[n] }')"
    done
    echo
  done
fi

if ((${#sg_variants[@]})); then
  echo
  echo "speed ratio = peer time / streamgate time (>1: StreamGate faster); repo ratio = streamgate / peer (<=1: no larger)"
  for sg in "${sg_variants[@]}"; do
    for peer in restic borg; do
      [[ -n ${med[$peer.full]:-} ]] || continue
      awk -v sg="$sg" -v peer="$peer" \
          -v sf="${med[$sg.full]}" -v si="${med[$sg.incr]}" -v sr="${med[$sg.restore]}" -v sb="${med[$sg.repo]}" \
          -v pf="${med[$peer.full]}" -v pi="${med[$peer.incr]}" -v pr="${med[$peer.restore]}" -v pb="${med[$peer.repo]}" '
        function r(p, s) { return s > 0 ? p / s : 0 }
        BEGIN {
          f = r(pf, sf); i = r(pi, si); t = r(pr, sr); z = r(sb, pb)
          printf "%-14s / %-6s full x%.2f   incr x%.2f   restore x%.2f   repo x%.2f", sg, peer, f, i, t, z
          if (peer == "restic")
            printf "   goal (>=1.5x, repo <=1): %s", (f >= 1.5 && i >= 1.5 && t >= 1.5 && z <= 1) ? "met" : "not met"
          printf "\n"
        }'
    done
  done
fi
