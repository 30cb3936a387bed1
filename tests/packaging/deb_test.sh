#!/usr/bin/env bash
# The Debian packages built from this build tree:
#   1. `cpack -G DEB` makes streamgate and streamgate-dev;
#   2. the control data: runtime dependencies from dpkg-shlibdeps, adduser, the conffile, the
#      maintainer scripts (syntax-checked);
#   3. `dpkg -x` unpacks streamgate into a temporary root; the files are where the systemd unit
#      and the packaged config expect them (binaries, config, GeoIP database, state directory);
#   4. the unpacked binary prints its version and accepts the packaged config (`check-config`,
#      with its absolute paths moved into the temporary root);
#   5. with STREAMGATE_DEB_INSTALL=1, as root: `dpkg -i` for real, then the service user, the
#      unit's enablement, `streamgate --version` and `check-config` on the installed files, the
#      daemon started as the service user (its admin /healthz answers), and `dpkg --purge`.
#      Off by default: it changes the machine (a system user, files under /usr and /etc).
# Usage: deb_test.sh BUILD_DIR   (a built tree)
set -euo pipefail
build=$(cd "$1" && pwd)
work="$build/packaging/deb-test"
rm -rf "$work"
mkdir -p "$work"
log="$work/log"

fail() {
  echo "deb_test: $*" >&2
  [[ -f "$log" ]] && tail -n 40 "$log" >&2
  exit 1
}
step() { echo "deb_test: $*"; }

step "cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$work/out" >"$log" 2>&1) || fail "cpack failed"
: >"$log"
shopt -s nullglob
debs=("$work"/out/streamgate_*.deb)
dev_debs=("$work"/out/streamgate-dev_*.deb)
shopt -u nullglob
((${#debs[@]} == 1)) || fail "expected one streamgate_*.deb in $work/out"
((${#dev_debs[@]} == 1)) || fail "expected one streamgate-dev_*.deb in $work/out"
deb=${debs[0]}
echo "  $(basename "$deb") $(du -h "$deb" | cut -f1), $(basename "${dev_debs[0]}") $(du -h "${dev_debs[0]}" | cut -f1)"

step "control data"
depends=$(dpkg-deb --field "$deb" Depends)
echo "  Depends: $depends"
# Package names, without versions (libspdlog1.10 is libspdlog1.10-fmt9 on Debian 12).
read -r -a depends_names <<<"$(sed -e 's/ ([^)]*)//g' -e 's/,//g' <<<"$depends")"
for dep in adduser libc6 libstdc++6 libssl3 libcurl4 libyaml-cpp0.7 libsodium23 libzstd1 \
           libmaxminddb0 libspdlog1.10 libfmt9 libsqlite3-0; do
  found=0
  for name in "${depends_names[@]}"; do
    [[ "$name" == "$dep" || "$name" == "$dep"-* ]] && found=1
  done
  ((found)) || fail "Depends lacks $dep: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -t >"$work/control-files"
for f in postinst prerm postrm conffiles; do
  grep -qx "./$f" "$work/control-files" || fail "control archive lacks $f"
done
mkdir -p "$work/control"
dpkg-deb --control "$deb" "$work/control"
grep -qx /etc/streamgate/streamgate.yaml "$work/control/conffiles" || fail "config is no conffile"
for script in postinst prerm postrm; do
  [[ -x "$work/control/$script" ]] || fail "$script is not executable"
  sh -n "$work/control/$script" || fail "$script: syntax error"
done
dev_depends=$(dpkg-deb --field "${dev_debs[0]}" Depends)
[[ "$dev_depends" == *libboost1.81-dev* ]] || fail "streamgate-dev Depends lacks Boost: $dev_depends"

step "dpkg -x into a temporary root"
root="$work/root"
dpkg -x "$deb" "$root"
unit=""
for candidate in lib/systemd/system/streamgate.service usr/lib/systemd/system/streamgate.service; do
  [[ -f "$root/$candidate" ]] && unit="$root/$candidate"
done
[[ -n "$unit" ]] || fail "no systemd unit in the package"
unit_value() { sed -n "s/^$1=//p" "$unit" | head -n 1; }
[[ "$(unit_value Type)" == simple ]] || fail "unit: Type is not simple"
[[ "$(unit_value User)" == streamgate ]] || fail "unit: User is not streamgate"
[[ "$(unit_value ExecReload)" == '/bin/kill -HUP $MAINPID' ]] ||
  fail "unit: ExecReload should send SIGHUP (the daemon reloads on it)"
[[ "$(unit_value Restart)" == on-failure ]] || fail "unit: Restart is not on-failure"
[[ "$(unit_value StateDirectory)" == streamgate ]] || fail "unit: StateDirectory is not streamgate"
[[ "$(unit_value AmbientCapabilities)" == *CAP_NET_BIND_SERVICE* ]] ||
  fail "unit: cannot bind ports below 1024"
# Every program and file the unit names is in the package.
read -r -a exec_start <<<"$(unit_value ExecStart)"
read -r -a exec_pre <<<"$(unit_value ExecStartPre)"
[[ -x "$root${exec_start[0]}" ]] || fail "unit runs ${exec_start[0]}, which the package lacks"
[[ -x "$root${exec_pre[0]}" ]] || fail "unit runs ${exec_pre[0]}, which the package lacks"
config=""
for ((i = 0; i < ${#exec_start[@]}; ++i)); do
  [[ "${exec_start[i]}" == --config ]] && config=${exec_start[i + 1]}
done
[[ "$config" == /etc/streamgate/streamgate.yaml ]] || fail "unit reads '$config'"
[[ -f "$root$config" ]] || fail "package lacks $config"
for f in usr/bin/streamgatectl usr/share/streamgate/streamgate.example.yaml; do
  [[ -e "$root/$f" ]] || fail "package lacks /$f"
done
# The packaged config points at files the package has, and keeps its state where the unit's
# StateDirectory= is.
geoip=$(sed -n 's/^ *geoip_database: *\([^ #]*\).*/\1/p' "$root$config")
if [[ -n "$geoip" ]]; then
  [[ -f "$root$geoip" ]] || fail "config names $geoip, which the package lacks"
fi
data_dir=$(sed -n 's/^data_dir: *\([^ #]*\).*/\1/p' "$root$config")
[[ -z "$data_dir" || "$data_dir" == /var/lib/streamgate ]] ||
  fail "config data_dir '$data_dir' is not the unit's state directory"
# Binaries are stripped (CPACK_STRIP_FILES).
if command -v file >/dev/null && file "$root/usr/bin/streamgate" | grep -q "with debug_info"; then
  fail "/usr/bin/streamgate is not stripped"
fi
if command -v systemd-analyze >/dev/null; then
  # Checks the unit's syntax against this machine's systemd (the binary paths are the
  # installed ones, which need not exist here).
  if ! systemd-analyze verify "$unit" >"$log" 2>&1 &&
     grep -v -e "is not executable" -e "No such file" -e "Failed to prepare filename" \
       -e "not found" "$log" | grep -q .; then
    fail "systemd-analyze verify found problems"
  fi
fi

step "the unpacked binary"
version=$("$root/usr/bin/streamgate" --version) || fail "streamgate --version failed"
echo "  $version"
[[ "$version" == *"$(dpkg-deb --field "$deb" Version | sed 's/-[^-]*$//')"* ]] ||
  fail "--version does not print the package version"
# The config's absolute paths, moved into the temporary root.
sed -e "s|/usr/share/streamgate|$root/usr/share/streamgate|g" \
    -e "s|/var/lib/streamgate|$work/state|g" "$root$config" >"$work/streamgate.yaml"
mkdir -p "$work/state"
"$root/usr/bin/streamgate" check-config --config "$work/streamgate.yaml" >"$log" 2>&1 ||
  fail "check-config rejects the packaged config"

if [[ "${STREAMGATE_DEB_INSTALL:-0}" == 1 ]]; then
  [[ $(id -u) -eq 0 ]] || fail "STREAMGATE_DEB_INSTALL=1 needs root"
  if dpkg-query -W -f='${Status}' streamgate 2>/dev/null | grep -q "install ok installed"; then
    fail "streamgate is installed on this machine already; not touching it"
  fi
  step "dpkg -i (for real)"
  cleanup_install() { dpkg --purge streamgate >/dev/null 2>&1 || true; }
  trap cleanup_install EXIT
  dpkg -i "$deb" >"$log" 2>&1 || fail "dpkg -i failed (missing dependencies? apt-get -f install)"
  getent passwd streamgate >/dev/null || fail "postinst did not create the streamgate user"
  [[ "$(stat -c %U /var/lib/streamgate)" == streamgate ]] || fail "/var/lib/streamgate owner"
  if command -v systemctl >/dev/null; then
    state=$(systemctl is-enabled streamgate.service 2>/dev/null || true)
    [[ "$state" == enabled ]] || fail "unit is '$state', not enabled"
    echo "  unit: $state"
  fi
  /usr/bin/streamgate --version >/dev/null || fail "installed streamgate --version"
  runuser -u streamgate -- /usr/bin/streamgate check-config --config /etc/streamgate/streamgate.yaml \
    >"$log" 2>&1 || fail "the service user cannot check the installed config"
  if [[ ! -d /run/systemd/system ]]; then
    # No systemd here (a container): start the daemon as the unit would, and ask it.
    admin=$(sed -n '/^admin:/,/^[^ ]/s/^ *listen: *\([^ #]*\).*/\1/p' /etc/streamgate/streamgate.yaml)
    # setpriv execs the daemon itself (no session wrapper), so SIGTERM reaches it as from systemd.
    (cd /var/lib/streamgate && umask 0027 &&
      exec setpriv --reuid=streamgate --regid=streamgate --init-groups /usr/bin/streamgate serve \
        --config /etc/streamgate/streamgate.yaml) >"$work/serve.log" 2>&1 &
    pid=$!
    up=0
    for _ in $(seq 100); do
      if curl -fsS "http://$admin/healthz" >/dev/null 2>&1; then up=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    ((up)) || { cat "$work/serve.log" >&2; fail "the installed daemon did not answer on $admin"; }
    grep -q "stopped cleanly" "$work/serve.log" || fail "the daemon did not stop cleanly on SIGTERM"
    [[ -f /var/lib/streamgate/state.db ]] || fail "no runtime state in /var/lib/streamgate"
    echo "  the installed daemon answered on http://$admin/healthz as user streamgate"
  fi
  dpkg --purge streamgate >"$log" 2>&1 || fail "dpkg --purge failed"
  trap - EXIT
  [[ ! -e /usr/bin/streamgate ]] || fail "purge left /usr/bin/streamgate"
  [[ ! -e /etc/streamgate/streamgate.yaml ]] || fail "purge left the conffile"
fi
rm -f "$log"
step "OK"
