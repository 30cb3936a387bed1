# Sourced by the CLI test scripts: a temp dir removed on exit (and cd'ed into), and helpers.
# shellcheck shell=bash
dir=$(mktemp -d)
trap 'chmod -R u+rwX "$dir" 2>/dev/null || true; rm -rf "$dir"' EXIT
cd "$dir"

fail() { echo "FAIL: $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
same_tree() {  # content, modes and symlinks
  diff -r --no-dereference "$1" "$2" >/dev/null || fail "content differs: $1 $2"
  [ "$(cd "$1" && find . -printf '%y %m %p %l\n' | sort)" = \
    "$(cd "$2" && find . -printf '%y %m %p %l\n' | sort)" ] || fail "metadata differs: $1 $2"
}
