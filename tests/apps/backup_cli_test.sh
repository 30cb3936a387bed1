#!/usr/bin/env bash
# backup / restore / points / check / prune as an operator runs them: exit codes, --json,
# byte-identical restores, a killed backup, a flipped byte, retention, encryption.
set -euo pipefail
bin="$1"
# shellcheck source=tests/apps/cli_test_lib.sh
source "$(dirname "$0")/cli_test_lib.sh"

mkdir -p src/logs src/media src/empty
for i in 1 2 3; do seq 1 200000 | sed "s/^/log line $i /" > "src/logs/$i.log"; done
head -c 40000000 /dev/urandom > src/media/big.ts
echo tool > src/tool && chmod 750 src/tool
ln -s logs/1.log src/link

"$bin" backup --help | grep -q -- "--strategy" || fail "backup --help"
if "$bin" backup --source src 2>/dev/null; then fail "backup without --repo"; fi

out=$("$bin" backup --repo repo --source src --strategy full --json)
p1=$(echo "$out" | json 'd["point_id"]')
[ "$(echo "$out" | json 'd["files"]')" = 5 ] || fail "files"
[ "$(echo "$out" | json 'd["strategy"]')" = full ] || fail "strategy"
cp -a src snap1

echo "appended" >> src/logs/2.log
chmod 700 src/tool
out=$("$bin" backup --repo repo --source src --strategy incremental --json)
p2=$(echo "$out" | json 'd["point_id"]')
[ "$(echo "$out" | json 'd["files_read"]')" = 2 ] || fail "incremental read $(echo "$out" | json 'd["files_read"]') files"
[ "$(echo "$out" | json 'd["parent"]')" = "$p1" ] || fail "parent"
cp -a src snap2

"$bin" restore --repo repo --point "$p1" --target r1 >/dev/null
same_tree snap1 r1/src
"$bin" restore --repo repo --point latest --target r2 --json | json 'd["errors"]' | grep -qx '\[\]'
same_tree snap2 r2/src
"$bin" restore --repo repo --point latest --target r3 --path src/logs >/dev/null
[ -f r3/src/logs/3.log ] && [ ! -e r3/src/media ] || fail "--path subset"
[ "$("$bin" points --repo repo --json | json 'len(d)')" = 2 ] || fail "points"
"$bin" points --repo repo | grep -q "$p2" || fail "points table"

# A backup killed after its first pack: earlier points intact, check clean, packs reused.
head -c 40000000 /dev/urandom > src/media/new.ts
set +e
STREAMGATE_BACKUP_CRASH_AT=pack:1 "$bin" backup --repo repo --source src >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 137 ] || fail "crash hook: exit $rc"
[ "$("$bin" points --repo repo --json | json 'len(d)')" = 2 ] || fail "points after crash"
"$bin" check --repo repo --read-data --json | json 'd["ok"] and d["orphan_packs"] >= 1' | grep -qx True \
  || fail "check after crash"
out=$("$bin" backup --repo repo --source src --json)
[ "$(echo "$out" | json 'd["packs_recovered"] >= 1')" = True ] || fail "packs not reused"
p3=$(echo "$out" | json 'd["point_id"]')
cp -a src snap3

# Retention: keep the newest point; what it needs stays.
"$bin" prune --repo repo --keep-last 1 --json | json 'len(d["removed_points"])' | grep -qx 2
"$bin" check --repo repo --read-data >/dev/null || fail "check after prune"
"$bin" restore --repo repo --point "$p3" --target r4 >/dev/null
same_tree snap3 r4/src
if "$bin" restore --repo repo --point "$p1" --target r5 2>/dev/null; then fail "pruned point restored"; fi

# A flipped byte is found and attributed to the point.
pack=$(find repo/data -type f -size +1M | head -1)
python3 - "$pack" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
PY
set +e
report=$("$bin" check --repo repo --read-data --json)
rc=$?
set -e
[ "$rc" = 1 ] || fail "check exit $rc after a flipped byte"
echo "$report" | json '[p["affected_points"] for p in d["problems"] if p["kind"]=="bad_chunk"][0]' \
  | grep -q "$p3" || fail "bad chunk not attributed"

# Encryption: the passphrase is needed.
STREAMGATE_REPO_PASSWORD=secret "$bin" backup --repo enc --source src/logs --encrypt >/dev/null
if "$bin" points --repo enc 2>/dev/null; then fail "encrypted repo opened without passphrase"; fi
if STREAMGATE_REPO_PASSWORD=wrong "$bin" points --repo enc 2>/dev/null; then fail "wrong passphrase"; fi
STREAMGATE_REPO_PASSWORD=secret "$bin" restore --repo enc --point latest --target r6 >/dev/null
diff -r src/logs r6/logs >/dev/null || fail "encrypted restore"
if grep -rq "log line" enc; then fail "plaintext in the encrypted repository"; fi
echo "backup CLI: all checks passed"
