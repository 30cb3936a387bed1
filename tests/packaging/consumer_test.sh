#!/usr/bin/env bash
# The installed development files work for a project outside StreamGate:
#   1. `cmake --install --strip` of this build tree (component "development") into a prefix;
#   2. tests/packaging/consumer (find_package(streamgate), streamgate::scaling) configured,
#      built and run against that prefix;
#   3. examples/ built as its own project against that prefix (one of them run);
#   4. the consumer program again, built with `pkg-config --cflags --libs streamgate`, and run;
#   5. every installed public header compiles (it includes nothing from src/);
#   6. the installed CMake files name no path of the build or source tree.
# Usage: consumer_test.sh BUILD_DIR SOURCE_DIR   (a built tree; the ctest passes both)
set -euo pipefail
build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
# Under the build tree (not mktemp) so that ccache hits on reruns; cleaned on every run.
work="$build/packaging/consumer-test"
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
log="$work/log"

fail() {
  echo "consumer_test: $*" >&2
  [[ -f "$log" ]] && tail -n 40 "$log" >&2
  exit 1
}
step() { echo "consumer_test: $*"; }

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$work" CCACHE_NOHASHDIR=1
fi

step "installing the development component into $prefix"
cmake --install "$build" --prefix "$prefix" --component development --strip >"$log" 2>&1 ||
  fail "cmake --install failed"
for f in lib/cmake/streamgate/streamgateConfig.cmake lib/cmake/streamgate/streamgateTargets.cmake \
         lib/pkgconfig/streamgate.pc lib/libstreamgate_scaling.a \
         include/streamgate/scaling/region.hpp include/streamgate/common/error.hpp; do
  [[ -f "$prefix/$f" ]] || fail "missing $prefix/$f"
done

step "find_package(streamgate) consumer"
cmake -S "$source_dir/tests/packaging/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >"$log" 2>&1 ||
  fail "configuring the consumer failed"
cmake --build "$work/consumer" >"$log" 2>&1 || fail "building the consumer failed"
output=$("$work/consumer/consumer") || fail "the consumer failed: $output"
echo "  $output"
[[ "$output" == *"picked backend-"*"2 regions, primary us-east-1"* ]] || fail "unexpected output"

step "examples/ built on their own against the installed package"
cmake -S "$source_dir/examples" -B "$work/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >"$log" 2>&1 ||
  fail "configuring examples/ failed"
cmake --build "$work/examples" >"$log" 2>&1 || fail "building examples/ failed"
"$work/examples/example_load_balancer" >"$log" 2>&1 || fail "example_load_balancer failed"

step "pkg-config consumer"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --exists --print-errors streamgate >"$log" 2>&1 || fail "pkg-config cannot use streamgate.pc"
read -r -a flags <<<"$(pkg-config --cflags --libs streamgate)"
compiler=(c++)
command -v ccache >/dev/null && compiler=(ccache c++)
"${compiler[@]}" -O1 -o "$work/pc_consumer" "$source_dir/tests/packaging/consumer/main.cpp" \
  "${flags[@]}" >"$log" 2>&1 || fail "building with pkg-config flags failed"
output=$("$work/pc_consumer") || fail "the pkg-config consumer failed: $output"
echo "  $output"

step "every installed header compiles"
{
  while IFS= read -r header; do
    echo "#include \"${header#"$prefix/include/"}\""
  done < <(find "$prefix/include/streamgate" -name '*.hpp' | sort)
  echo "int main() { return 0; }"
} >"$work/all_headers.cpp"
read -r -a cflags <<<"$(pkg-config --cflags streamgate)"
c++ -fsyntax-only -Wall -Wextra -Werror "${cflags[@]}" "$work/all_headers.cpp" >"$log" 2>&1 ||
  fail "the installed headers do not compile on their own"

step "no build or source paths in the installed package files"
if grep -rlF -e "$source_dir/src" -e "$source_dir/include" -e "$build/src" -e "$build/cmake" \
     -e "$build/CMakeFiles" "$prefix/lib/cmake" "$prefix/lib/pkgconfig" >"$log" 2>&1; then
  fail "installed files refer to the build or source tree: $(cat "$log")"
fi
rm -f "$log"
step "OK"
