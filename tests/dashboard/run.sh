#!/usr/bin/env bash
# Runs the dashboard's browser test (dashboard_test.mjs) in headless Chromium:
#   tests/dashboard/run.sh STREAMGATE_BINARY SCREENSHOT.png
# Needs Debian's chromium (scripts/bootstrap installs it) and Node.js >= 20 with npm; installs
# the pinned playwright-core (package-lock.json) into tests/dashboard/node_modules on first use.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "dashboard test: needs Node.js >= 20 and npm on PATH" >&2
  exit 1
fi
if [[ ! -x ${CHROMIUM:-/usr/bin/chromium} ]]; then
  echo "dashboard test: ${CHROMIUM:-/usr/bin/chromium} not found; run scripts/bootstrap (Debian's chromium)" >&2
  exit 1
fi
# npm ci when playwright-core is missing or not the pinned version.
pinned=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/playwright-core"].version)' \
  "$here/package-lock.json")
installed=$(node -e 'try { console.log(require(process.argv[1]).version) } catch { console.log("") }' \
  "$here/node_modules/playwright-core/package.json")
if [[ "$installed" != "$pinned" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
exec node "$here/dashboard_test.mjs" "$@"
