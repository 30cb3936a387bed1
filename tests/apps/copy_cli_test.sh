#!/usr/bin/env bash
# copy and restore --fallback-repo as an operator runs them: a mirror made on first copy, only
# missing chunks sent, a killed copy resumed, a mismatched destination refused, encryption, and
# a restore that falls back to the secondary when the primary is gone.
set -euo pipefail
bin="$1"
# shellcheck source=tests/apps/cli_test_lib.sh
source "$(dirname "$0")/cli_test_lib.sh"

mkdir -p src/logs src/media
for i in 1 2; do seq 1 100000 | sed "s/^/log line $i /" > "src/logs/$i.log"; done
head -c 3000000 /dev/urandom > src/media/a.ts
ln -s logs/1.log src/link

"$bin" copy --help | grep -q -- "--fallback-repo" && fail "copy --help shows restore's flag"
"$bin" copy --help | grep -q -- "--from" || fail "copy --help"
if "$bin" copy --from r1 2>/dev/null; then fail "copy without --to"; fi

p1=$("$bin" backup --repo r1 --source src --json | json 'd["point_id"]')
cp -a src snap1
echo "appended" >> src/logs/2.log
p2=$("$bin" backup --repo r1 --source src --json | json 'd["point_id"]')
cp -a src snap2

# First copy: the mirror is created, both points move with their ids.
out=$("$bin" copy --from r1 --to r2 --json)
[ "$(echo "$out" | json 'd["repository_created"]')" = True ] || fail "mirror not created"
[ "$(echo "$out" | json 'd["copied_points"] == ["'"$p1"'", "'"$p2"'"]')" = True ] || fail "copied points: $out"
[ "$(echo "$out" | json 'd["chunks_sent"] > 0 and d["bytes_sent"] > 0')" = True ] || fail "nothing sent"
[ "$("$bin" points --repo r2 --json | json '[p["id"] for p in d]')" = \
  "$("$bin" points --repo r1 --json | json '[p["id"] for p in d]')" ] || fail "point ids differ"
"$bin" restore --repo r2 --point "$p1" --target t1 >/dev/null
same_tree snap1 t1/src
"$bin" check --repo r2 --read-data >/dev/null || fail "check of the copy"

# Nothing new: no chunk data, no point.
out=$("$bin" copy --from r1 --to r2 --json)
[ "$(echo "$out" | json 'd["chunks_sent"], d["bytes_sent"], d["packs_written"], len(d["copied_points"])')" = \
  "0 0 0 0" ] || fail "second copy sent data: $out"
"$bin" copy --from r1 --to r2 | grep -q "0 points copied (2 already there)" || fail "text output"

# A copy killed after its first pack is resumed: the packs it wrote are reused.
head -c 40000000 /dev/urandom > src/media/new.ts
p3=$("$bin" backup --repo r1 --source src --json | json 'd["point_id"]')
cp -a src snap3
set +e
STREAMGATE_BACKUP_CRASH_AT=pack:1 "$bin" copy --from r1 --to r2 >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 137 ] || fail "crash hook: exit $rc"
[ "$("$bin" points --repo r2 --json | json 'len(d)')" = 2 ] || fail "killed copy added a point"
out=$("$bin" copy --from r1 --to r2 --point latest --json)
[ "$(echo "$out" | json 'd["packs_recovered"] >= 1 and d["copied_points"] == ["'"$p3"'"]')" = True ] \
  || fail "killed copy not resumed: $out"
[ "$(echo "$out" | json 'd["bytes_sent"] < 30000000')" = True ] || fail "resumed copy resent: $out"
"$bin" check --repo r2 --read-data >/dev/null || fail "check after the resumed copy"

# A destination with other parameters is refused, saying what differs.
"$bin" backup --repo other --source src/logs --compression-level 3 >/dev/null
set +e
msg=$("$bin" copy --from r1 --to other 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "mismatched destination: exit $rc"
echo "$msg" | grep -q "compression level" || fail "mismatch message: $msg"

# Restore from the secondary when the primary is gone.
mv r1 r1-gone
msg=$("$bin" restore --repo r1 --fallback-repo r2 --point latest --target t3 2>&1 >/dev/null)
echo "$msg" | grep -q "primary repository r1 unreachable (.*): restoring from r2" \
  || fail "fallback message: $msg"
same_tree snap3 t3/src
[ "$("$bin" restore --repo r1 --fallback-repo r2 --point "$p2" --target t4 --json 2>/dev/null \
  | json 'd["fallback"], d["repository"]')" = "True r2" ] || fail "fallback json"
same_tree snap2 t4/src
if "$bin" restore --repo r1 --point latest --target t5 2>/dev/null; then fail "restore without fallback"; fi
mv r1-gone r1
msg=$("$bin" restore --repo r1 --fallback-repo r2 --point latest --target t6 2>&1 >/dev/null)
[ -z "$msg" ] || fail "fallback used while the primary is there: $msg"

# Encrypted: the mirror opens with the same passphrase and holds no plaintext.
export STREAMGATE_REPO_PASSWORD=secret
"$bin" backup --repo e1 --source src/logs --encrypt >/dev/null
"$bin" copy --from e1 --to e2 >/dev/null
if STREAMGATE_REPO_PASSWORD=wrong "$bin" points --repo e2 2>/dev/null; then fail "wrong passphrase"; fi
"$bin" restore --repo e2 --point latest --target t7 >/dev/null
diff -r src/logs t7/logs >/dev/null || fail "encrypted copy restore"
if grep -rq "log line" e2; then fail "plaintext in the encrypted mirror"; fi
echo "copy CLI: all checks passed"
