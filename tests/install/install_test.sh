#!/usr/bin/env bash
# Installs a lightbus build into a scratch prefix and builds the tutorial's consumer project
# (find_package(lightbus)) against it. If LIGHTBUS_TEST_REDIS_URL is set it also runs it: the
# installed `lightbus run` serves the consumer's module, `lightbus call` and the consumer's
# client call it, and the module's listener receives the client's event.
#
# With TESTING_DIR it also builds the test project docs/testing.md shows whole (find_package
# lightbus and GTest) against the install and runs its tests.
#
# Usage: install_test.sh BUILD_DIR CONSUMER_DIR WORK_DIR [GENERATOR] [CXX] [LAUNCHER] [TESTING_DIR]
# WORK_DIR is emptied first; keeping its path fixed lets ccache reuse the consumer's objects.
set -euo pipefail

build_dir=$1 consumer_dir=$2 work=$3
generator=${4:-Ninja} cxx=${5:-} launcher=${6:-} testing_dir=${7:-}

fail() {
  printf 'install test: %s\n' "$*" >&2
  exit 1
}

rm -rf -- "$work"
mkdir -p "$work"
prefix=$work/prefix

echo "== cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log" >&2; fail "cmake --install failed"; }
for f in bin/lightbus include/lightbus/lightbus.hpp lib/cmake/lightbus/lightbusConfig.cmake; do
  [[ -e $prefix/$f ]] || fail "$f is not installed"
done

echo "== configure and build $consumer_dir against it"
args=(-S "$consumer_dir" -B "$work/build" -G "$generator" -DCMAKE_PREFIX_PATH="$prefix")
[[ -n $cxx ]] && args+=(-DCMAKE_CXX_COMPILER="$cxx")
[[ -n $launcher ]] && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
cmake "${args[@]}" || fail "the consumer project does not configure against the install"
cmake --build "$work/build" -j2 || fail "the consumer project does not build against the install"
[[ -f $work/build/greeter.so && -x $work/build/greeter-client && -x $work/build/greeter-blocking ]] ||
  fail "greeter.so, greeter-client or greeter-blocking missing after the build"
grep -q 'add_library(lightbus::lightbus INTERFACE IMPORTED)' \
  "$prefix/lib/cmake/lightbus/lightbusTargets.cmake" ||
  fail "the installed CMake package defines no lightbus::lightbus"

echo "== build the blocking client with pkg-config --cflags --libs lightbus"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
pc_flags=$(pkg-config --cflags --libs lightbus) || fail "pkg-config finds no lightbus.pc in $prefix"
compile=("${cxx:-c++}")
[[ -n $launcher ]] && compile=("$launcher" "${cxx:-c++}")
# shellcheck disable=SC2086 # pkg-config's output is a list of flags
"${compile[@]}" -std=c++17 ${CXXFLAGS:-} -o "$work/greeter-blocking-pc" \
  "$consumer_dir/blocking_client.cpp" $pc_flags ${LDFLAGS:-} ||
  fail "the blocking client does not build with pkg-config's flags ($pc_flags)"
unset PKG_CONFIG_PATH
"$prefix/bin/lightbus" version || fail "the installed lightbus does not start"

if [[ -n $testing_dir ]]; then
  echo "== the test project of docs/testing.md ($testing_dir), built against it"
  args=(-S "$testing_dir" -B "$work/testing-build" -G "$generator" -DCMAKE_PREFIX_PATH="$prefix")
  [[ -n $cxx ]] && args+=(-DCMAKE_CXX_COMPILER="$cxx")
  [[ -n $launcher ]] && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
  cmake "${args[@]}" || fail "the test project $testing_dir does not configure against the install"
  cmake --build "$work/testing-build" -j2 ||
    fail "the test project $testing_dir does not build against the install"
  ctest --test-dir "$work/testing-build" --output-on-failure --no-tests=error ||
    fail "the tests of $testing_dir fail"
fi

url=${LIGHTBUS_TEST_REDIS_URL:-}
if [[ -z $url ]]; then
  echo "== LIGHTBUS_TEST_REDIS_URL not set: built, not run"
  exit 0
fi

echo "== run against $url"
cat >"$work/lightbus.yaml" <<YAML
service_name: install-test
process_name: install-test-{pid}
apis:
  default:
    rpc_transport: {redis: {url: "$url"}}
    result_transport: {redis: {url: "$url"}}
    event_transport: {redis: {url: "$url"}}
YAML
export LIGHTBUS_CONFIG=$work/lightbus.yaml

"$prefix/bin/lightbus" run --bus "$work/build/greeter.so" >"$work/worker.out" 2>"$work/worker.err" &
worker=$!
stop_worker() {
  if kill -0 "$worker" 2>/dev/null; then
    kill -TERM "$worker" 2>/dev/null || true
    wait "$worker" 2>/dev/null || true
  fi
}
trap stop_worker EXIT

# The first call waits in the queue until the worker reads it (up to rpc_timeout).
answer=$("$prefix/bin/lightbus" call greeter.hello '{"name": "cli"}') ||
  { cat "$work/worker.err" >&2; fail "lightbus call greeter.hello failed"; }
[[ $answer == '"Hello, cli!"' ]] || fail "lightbus call printed '$answer', expected '\"Hello, cli!\"'"

# The listener's group is created at start (since = $): fire again until it has seen one.
welcomed=false
for _ in $(seq 1 20); do
  out=$("$work/build/greeter-client" sally) || { cat "$work/worker.err" >&2; fail "greeter-client failed"; }
  grep -q '^Hello, sally!$' <<<"$out" || fail "greeter-client printed: $out"
  if grep -q '^welcome, sally$' "$work/worker.out"; then
    welcomed=true
    break
  fi
  sleep 0.5
done
$welcomed || { cat "$work/worker.err" >&2; fail "the listener never printed 'welcome, sally'"; }

# The blocking client (lightbus::lightbus and pkg-config builds): a call and an event.
for client in "$work/build/greeter-blocking" "$work/greeter-blocking-pc"; do
  out=$(LD_LIBRARY_PATH=$prefix/lib "$client" blocking) ||
    { cat "$work/worker.err" >&2; fail "$client failed: $out"; }
  grep -q '^Hello, blocking!$' <<<"$out" || fail "$client printed: $out"
  grep -q '^fired greeter.visitor_arrived [0-9]*-[0-9]*$' <<<"$out" || fail "$client printed: $out"
  echo "$(basename "$client"): $(tr '\n' ' ' <<<"$out")"
done

kill -TERM "$worker"
rc=0
wait "$worker" || rc=$?
trap - EXIT
((rc == 0)) || { cat "$work/worker.err" >&2; fail "lightbus run exited $rc after SIGTERM"; }

if command -v redis-cli >/dev/null 2>&1; then
  redis-cli -u "$url" DEL 'greeter:rpc_queue' 'greeter.*:stream' 'schema:greeter' >/dev/null || true
  redis-cli -u "$url" SREM schemas greeter >/dev/null || true
fi
echo "== installed lightbus served the consumer's module; call, fire and listen worked"
