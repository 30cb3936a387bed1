#!/usr/bin/env bash
# `streamgate check-config` on a broken file: non-zero exit, one `file:line: message` per error.
set -uo pipefail
bin="$1"
file="$(dirname "$0")/testdata/broken.yaml"
out=$("$bin" check-config --config "$file" 2>&1)
status=$?
echo "$out"
fail() { echo "FAIL: $*"; exit 1; }
[[ $status -ne 0 ]] || fail "exit status was 0"
grep -q "broken.yaml:4: .*duration" <<<"$out" || fail "bad duration not reported at line 4"
grep -q "broken.yaml:8: .*duplicate" <<<"$out" || fail "duplicate id not reported at line 8"
grep -q "broken.yaml:9: .*endpoint" <<<"$out" || fail "bad endpoint not reported at line 9"
grep -q "broken.yaml:9: .*colour" <<<"$out" || fail "unknown key not reported at line 9"
echo "ok"
