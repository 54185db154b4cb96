#!/usr/bin/env bash
# Builds the Debian packages from a lightbus build with cpack, unpacks them into a scratch root
# with `dpkg -x` and checks that they are what an `apt-get install ./*.deb` on Debian 12 needs:
#  1. two packages, lightbus and liblightbus-dev, no file in both, every file of a plain
#     `cmake --install` (but lightbus-bench) in one of them;
#  2. each Depends names the Debian package of every library the packaged binaries are linked
#     with (readelf NEEDED -> ldd -> dpkg -S) and of every header the packaged headers include;
#     liblightbus-dev depends on lightbus of the same version; every named package exists;
#  3. the unpacked `lightbus version` runs without LD_LIBRARY_PATH, its libraries and those of
#     the example modules resolve inside the scratch root;
#  4. lightbus(1) renders with `man -l` without warnings, has a section per subcommand and
#     names every long option that `lightbus --help` lists; the unit template's paths exist in
#     the package
#     (`systemd-analyze verify` too, when systemd-analyze is installed);
#  5. the tutorial's consumer project (tests/install/consumer) configures and builds against the
#     unpacked CMake package (lightbus::actors and lightbus::lightbus); its clients (the full API's
#     and the blocking <lightbus/client.hpp> one) also build with `pkg-config --cflags --libs lightbus`;
#  6. on a private redis-server: the unpacked `lightbus run` serves the packaged auth.so (with the
#     packaged example config) and the consumer's greeter.so; `lightbus call` and both clients
#     get their answers; both workers exit 0 on SIGTERM.
#
# Usage: package_test.sh BUILD_DIR SOURCE_DIR WORK_DIR [GENERATOR] [CXX] [LAUNCHER]
# WORK_DIR is emptied first; keeping its path fixed lets ccache reuse the consumer's objects.
set -euo pipefail

build_dir=$1 source_dir=$2 work=$3
generator=${4:-Ninja} cxx=${5:-c++} launcher=${6:-}

fail() {
  printf 'package test: FAILED: %s\n' "$*" >&2
  exit 1
}
step() { printf '== %s\n' "$*"; }

for tool in cpack dpkg dpkg-deb dpkg-query readelf ldd pkg-config man gzip; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (scripts/deps installs it)"
done

rm -rf -- "$work"
mkdir -p "$work"
work=$(readlink -f "$work") build_dir=$(readlink -f "$build_dir") source_dir=$(readlink -f "$source_dir")
root=$work/root

# -- 1. build and unpack ---------------------------------------------------------------------
step "cpack in $work/cpack"
cpack --config "$build_dir/CPackConfig.cmake" -B "$work/cpack" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack failed"; }
shopt -s nullglob
runtime_debs=("$work"/cpack/lightbus_*.deb)
dev_debs=("$work"/cpack/liblightbus-dev_*.deb)
all_debs=("$work"/cpack/*.deb)
shopt -u nullglob
((${#runtime_debs[@]} == 1 && ${#dev_debs[@]} == 1 && ${#all_debs[@]} == 2)) ||
  fail "expected lightbus_*.deb and liblightbus-dev_*.deb, cpack made: ${all_debs[*]:-nothing}"
runtime_deb=${runtime_debs[0]} dev_deb=${dev_debs[0]}
ls -l "${all_debs[@]}"

field() { dpkg-deb -f "$1" "$2"; }
[[ $(field "$runtime_deb" Package) == lightbus ]] || fail "$runtime_deb is not package lightbus"
[[ $(field "$dev_deb" Package) == liblightbus-dev ]] || fail "$dev_deb is not liblightbus-dev"
version=$(field "$runtime_deb" Version)
[[ $(field "$dev_deb" Version) == "$version" ]] || fail "the two packages' versions differ"
arch=$(dpkg --print-architecture)
for deb in "${all_debs[@]}"; do
  [[ $(field "$deb" Architecture) == "$arch" ]] || fail "$deb is not for $arch"
done
dpkg-deb -I "$runtime_deb"
dpkg-deb -I "$dev_deb"

step "dpkg -x into $root"
for deb in "${all_debs[@]}"; do
  dpkg -x "$deb" "$root"
done

# Regular files and symlinks of a package, as paths relative to its root (no leading ./).
contents() { dpkg-deb --fsys-tarfile "$1" | tar -t | sed -n 's|^\./||; /[^/]$/p' | sort; }
contents "$runtime_deb" >"$work/runtime.files"
contents "$dev_deb" >"$work/dev.files"
both=$(comm -12 "$work/runtime.files" "$work/dev.files")
[[ -z $both ]] || fail "files in both packages (dpkg would refuse the second): $both"

expect_in() {
  local list=$1 file
  shift
  for file in "$@"; do
    grep -qxF "$file" "$work/$list.files" || fail "$file is not in the $list package"
  done
}
expect_in runtime usr/bin/lightbus usr/lib/liblightbus_core.so usr/lib/liblightbus_redis.so \
  usr/lib/liblightbus_actors.so usr/lib/lightbus/modules/auth.so \
  usr/lib/lightbus/modules/image.so usr/lib/lightbus/modules/price_monitor.so \
  usr/lib/lightbus/modules/store.so 'usr/lib/systemd/system/lightbus@.service' \
  usr/share/man/man1/lightbus.1.gz usr/share/doc/lightbus/instance.yaml
expect_in dev usr/include/lightbus/lightbus.hpp usr/include/lightbus/redis/connection.hpp \
  usr/include/lightbus/actors/bus.hpp usr/lib/cmake/lightbus/lightbusConfig.cmake \
  usr/lib/cmake/lightbus/lightbusTargets.cmake usr/lib/pkgconfig/lightbus.pc
if grep -E '^usr/(include|lib/cmake|lib/pkgconfig)/' "$work/runtime.files"; then
  fail "development files (above) are in the lightbus package"
fi

step "every file of a plain cmake --install is packaged"
cmake --install "$build_dir" --prefix "$work/plain/usr" >"$work/plain.log" 2>&1 ||
  { cat "$work/plain.log" >&2; fail "cmake --install $build_dir failed"; }
(cd "$work/plain" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort) >"$work/plain.files"
sort -u "$work/runtime.files" "$work/dev.files" >"$work/packaged.files"
missing=$(comm -23 "$work/plain.files" "$work/packaged.files" | grep -vxF usr/bin/lightbus-bench || true)
[[ -z $missing ]] || fail "installed by cmake --install but in no package: $missing"

# -- 2. Depends ------------------------------------------------------------------------------
# Package names of a Depends/Recommends field: "a (>= 1), b | c" -> a b c.
names_of() { tr ',|' '\n' <<<"$1" | sed 's/(.*//; s/:.*//; s/[[:space:]]//g' | sed '/^$/d' | sort -u; }
runtime_depends=$(names_of "$(field "$runtime_deb" Depends)")
dev_depends=$(names_of "$(field "$dev_deb" Depends)")
dev_recommends=$(names_of "$(field "$dev_deb" Recommends)")
runtime_recommends=$(names_of "$(field "$runtime_deb" Recommends)")

# The package that holds FILE (an absolute path), without its :arch; empty if none.
# Debian 12 has a merged /usr: dpkg may know the file as /lib/... rather than /usr/lib/....
package_of() {
  local path candidates=() p out
  path=$(readlink -f "$1")
  candidates=("$1" "$path")
  for p in "$1" "$path"; do
    [[ $p == /usr/* ]] && candidates+=("${p#/usr}")
  done
  for p in "${candidates[@]}"; do
    if out=$(dpkg -S "$p" 2>/dev/null); then
      sed -n '1{s/:.*//;p}' <<<"${out%%: *}"
      return 0
    fi
  done
  return 0
}

step "lightbus: Depends covers the libraries of every packaged binary"
needed_packages=()
while read -r rel; do
  file=$root/$rel
  [[ -f $file && ! -L $file && $(head -c4 "$file" | od -An -c | tr -d ' ') == 177ELF ]] || continue
  ldd_out=$(env -u LD_LIBRARY_PATH ldd "$file") || fail "ldd $rel failed"
  grep -q 'not found' <<<"$ldd_out" && fail "$rel: a library is not found: $(grep 'not found' <<<"$ldd_out")"
  while read -r lib; do
    if [[ -e $root/usr/lib/$lib ]]; then
      # Ours: it must resolve inside the scratch root, not in the build tree.
      resolved=$(readlink -f "$(awk -v l="$lib" '$1 == l {print $3}' <<<"$ldd_out")")
      [[ $resolved == "$root"/* ]] || fail "$rel: $lib resolves to $resolved, not into the package"
      continue
    fi
    # "libx.so.1 => /path (0x...)", or "/lib64/ld-linux-x86-64.so.2 (0x...)" for the loader.
    path=$(awk -v l="$lib" '{ n = split($1, a, "/") } $1 == l {print $3} a[n] == l && n > 1 {print $1}' <<<"$ldd_out")
    [[ -n $path ]] || fail "$rel: ldd does not resolve $lib"
    pkg=$(package_of "$path")
    [[ -n $pkg ]] || fail "$rel needs $lib ($path), which no Debian package holds"
    needed_packages+=("$pkg")
    grep -qxF "$pkg" <<<"$runtime_depends" ||
      fail "$rel needs $lib from package $pkg, which lightbus's Depends does not name"
  done < <(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done <"$work/runtime.files"
((${#needed_packages[@]} > 0)) || fail "found no ELF file with dependencies in the lightbus package"
printf 'needed: %s\n' "$(printf '%s\n' "${needed_packages[@]}" | sort -u | tr '\n' ' ')"
# Files read at run time, not linked: `lightbus dashboard` serves Chart.js from libjs-chart.js.
grep -qxF libjs-chart.js <<<"$runtime_depends" ||
  fail "lightbus dashboard serves /usr/share/javascript/chart.js/chart.min.js, but lightbus's Depends does not name libjs-chart.js"
[[ -z $(grep -E '\.(so|a)$' "$work/dev.files" | grep -v '\.a$' || true) ]] ||
  fail "liblightbus-dev holds shared objects; its Depends are not checked for them"

step "liblightbus-dev: Depends covers the headers the packaged headers include"
dev_field=$(field "$dev_deb" Depends)
grep -qE "(^|, )lightbus \(= ${version//./\\.}\)(,|$)" <<<"$dev_field" ||
  fail "liblightbus-dev's Depends ($dev_field) lacks 'lightbus (= $version)'"
# "HEADER INCLUDED" pairs, then each included name classified once.
while read -r rel; do
  [[ $rel == usr/include/* && -f $root/$rel ]] || continue
  sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p' "$root/$rel" |
    sed "s|^|$rel |"
done <"$work/dev.files" | sort -u >"$work/includes"
[[ -s $work/includes ]] || fail "found no #include in the packaged headers"
multiarch=$("$cxx" -print-multiarch 2>/dev/null || true)
while read -r inc; do
  [[ -e $root/usr/include/$inc ]] && continue # ours
  found=""
  for dir in /usr/include ${multiarch:+/usr/include/$multiarch}; do
    if [[ -e $dir/$inc ]]; then
      found=$dir/$inc
      break
    fi
  done
  if [[ -z $found ]]; then
    # The C++ standard library (libstdc++-dev comes with g++): not a dependency of ours.
    "$cxx" -std=c++17 -x c++ -E -include "$inc" /dev/null >/dev/null 2>&1 ||
      fail "a packaged header includes <$inc>, which is not installed here and not standard"
    continue
  fi
  pkg=$(package_of "$found")
  [[ -n $pkg ]] || fail "a packaged header includes <$inc> ($found), which no Debian package holds"
  grep -qxF "$pkg" <<<"$dev_depends" && continue
  # The test kit (lightbus/testing*) needs GoogleTest only in programs that use it.
  users=$(awk -v i="$inc" '$2 == i {print $1}' "$work/includes")
  if ! grep -qv '^usr/include/lightbus/testing' <<<"$users" && grep -qxF "$pkg" <<<"$dev_recommends"; then
    continue
  fi
  fail "$(head -n1 <<<"$users") includes <$inc> from package $pkg, which liblightbus-dev's Depends does not name"
done < <(cut -d' ' -f2 "$work/includes" | sort -u)
echo "headers include: $(cut -d' ' -f2 "$work/includes" | cut -d/ -f1 | sort -u | tr '\n' ' ')"

step "every package named in Depends and Recommends exists"
for pkg in $runtime_depends $dev_depends $runtime_recommends $dev_recommends; do
  [[ $pkg == lightbus ]] && continue
  if ! dpkg-query -W "$pkg" >/dev/null 2>&1 && ! apt-cache show "$pkg" >/dev/null 2>&1; then
    fail "package $pkg (named in Depends or Recommends) is unknown to dpkg and apt"
  fi
done

# -- 3. the unpacked command ------------------------------------------------------------------
step "unpacked lightbus version"
lightbus=$root/usr/bin/lightbus
out=$(env -u LD_LIBRARY_PATH "$lightbus" version) || fail "the unpacked lightbus version failed"
echo "$out"
[[ $out == "lightbus (C++) ${version%-*},"* ]] || fail "lightbus version printed '$out', expected ${version%-*}"

# -- 4. man page and unit ------------------------------------------------------------------
step "lightbus(1)"
man_page=$root/usr/share/man/man1/lightbus.1.gz
gzip -t "$man_page" || fail "lightbus.1.gz is not gzip"
LC_ALL=C.UTF-8 MANWIDTH=200 man --warnings -l "$man_page" >"$work/man.txt" 2>"$work/man.err" ||
  fail "man -l lightbus.1.gz failed: $(cat "$work/man.err")"
[[ ! -s $work/man.err ]] || fail "man -l warns: $(cat "$work/man.err")"
# man writes plain text to a pipe; strip any overstrike left anyway.
sed -i 's/.\x08//g' "$work/man.txt"
subcommands=$(env -u LD_LIBRARY_PATH "$lightbus" --help |
  sed -n '/^Subcommands:/,$ s/^  \([a-z][a-z-]*\) .*/\1/p')
[[ -n $subcommands ]] || fail "lightbus --help lists no subcommands"
for sub in $subcommands; do
  grep -qE "^   $sub\$" "$work/man.txt" || fail "lightbus(1) has no section for the subcommand '$sub'"
  for opt in $(env -u LD_LIBRARY_PATH "$lightbus" "$sub" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    [[ $opt == --help ]] && continue
    grep -qF -- "$opt" "$work/man.txt" || fail "lightbus(1) does not mention '$sub $opt'"
  done
done
echo "subcommands described: $(tr '\n' ' ' <<<"$subcommands")"

step "lightbus@.service"
unit=$root/usr/lib/systemd/system/lightbus@.service
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[[ $exec_start == /usr/bin/lightbus && -x $root$exec_start ]] ||
  fail "the unit's ExecStart ($exec_start) is not the packaged /usr/bin/lightbus"
module_pattern=$(sed -n 's/^Environment=LIGHTBUS_MODULE=//p' "$unit")
for m in auth image price_monitor store; do
  [[ -f $root${module_pattern//%i/$m} ]] || fail "lightbus@$m would load ${module_pattern//%i/$m}: not in the package"
done
grep -qx 'Restart=on-failure' "$unit" || fail "the unit does not restart on failure"
stop_timeout=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
((stop_timeout >= 5)) || fail "TimeoutStopSec=$stop_timeout is not above the worker's ~2 s stop"
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants the unit's ExecStart to exist: check it in a copy of the unit pointing there.
  mkdir -p "$work/unit"
  sed "s|/usr/bin/lightbus|$lightbus|" "$unit" >"$work/unit/lightbus@.service"
  SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$work/unit/lightbus@auth.service" \
    >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "systemd-analyze verify failed"; }
  if [[ -s $work/verify.log ]]; then # it warns (unknown keys, groups) and still exits 0
    cat "$work/verify.log" >&2
    fail "systemd-analyze verify complains about lightbus@.service"
  fi
  echo "systemd-analyze verify: no complaint"
else
  echo "systemd-analyze is not installed: the unit is not verified by systemd"
fi

# -- 5. consumers --------------------------------------------------------------------------
step "the consumer project against the unpacked CMake package"
consumer=$source_dir/tests/install/consumer
args=(-S "$consumer" -B "$work/consumer" -G "$generator" -DCMAKE_PREFIX_PATH="$root/usr"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_CXX_COMPILER="$cxx")
[[ -n $launcher ]] && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
cmake "${args[@]}" >"$work/consumer-configure.log" 2>&1 ||
  { cat "$work/consumer-configure.log" >&2; fail "the consumer does not configure against the package"; }
lightbus_dir=$(sed -n 's/^lightbus_DIR:PATH=//p' "$work/consumer/CMakeCache.txt")
[[ $lightbus_dir == "$root/usr/lib/cmake/lightbus" ]] ||
  fail "find_package(lightbus) found $lightbus_dir, not the unpacked package"
cmake --build "$work/consumer" -j2 >"$work/consumer-build.log" 2>&1 ||
  { cat "$work/consumer-build.log" >&2; fail "the consumer does not build against the package"; }
[[ -f $work/consumer/greeter.so && -x $work/consumer/greeter-client && -x $work/consumer/greeter-blocking ]] ||
  fail "greeter.so, greeter-client or greeter-blocking (lightbus::lightbus) missing after the build"

step "pkg-config"
export PKG_CONFIG_PATH=$root/usr/lib/pkgconfig
pc_version=$(pkg-config --modversion lightbus) || fail "pkg-config does not find lightbus.pc"
[[ $pc_version == "${version%-*}" ]] || fail "lightbus.pc says version $pc_version"
pc_flags=$(pkg-config --cflags --libs lightbus) || fail "pkg-config --cflags --libs lightbus failed"
echo "pkg-config --cflags --libs lightbus: $pc_flags"
pc_libdir=$(pkg-config --variable=libdir lightbus)
pc_includedir=$(pkg-config --variable=includedir lightbus)
[[ $(readlink -f "$pc_libdir") == "$root/usr/lib" && $(readlink -f "$pc_includedir") == "$root/usr/include" ]] ||
  fail "lightbus.pc points at $pc_libdir and $pc_includedir, not into the unpacked root"
compile=("$cxx")
[[ -n $launcher ]] && compile=("$launcher" "$cxx")
# shellcheck disable=SC2086 # pkg-config's output is a list of flags
"${compile[@]}" -std=c++17 -o "$work/greeter-client-pc" "$consumer/client.cpp" $pc_flags \
  >"$work/pc-build.log" 2>&1 ||
  { cat "$work/pc-build.log" >&2; fail "the client does not build with pkg-config's flags"; }
"${compile[@]}" -std=c++17 -o "$work/greeter-blocking-pc" "$consumer/blocking_client.cpp" $pc_flags \
  >"$work/pc-blocking-build.log" 2>&1 ||
  { cat "$work/pc-blocking-build.log" >&2; fail "the blocking client does not build with pkg-config's flags"; }
unset PKG_CONFIG_PATH

# -- 6. run on a private Redis ---------------------------------------------------------------
step "run the packaged and the consumer's modules"
# shellcheck source=scripts/redis disable=SC1091
source "$source_dir/scripts/redis"
lightbus_redis_start 0
url=$LIGHTBUS_TEST_REDIS_URL
# The packaged example config for lightbus@NAME, pointed at this Redis.
sed "s|redis://127.0.0.1:6379/0|$url|" "$root/usr/share/doc/lightbus/instance.yaml" >"$work/instance.yaml"
grep -qF "$url" "$work/instance.yaml" || fail "instance.yaml names no Redis URL to replace"
export LIGHTBUS_CONFIG=$work/instance.yaml
unset LD_LIBRARY_PATH

workers=()
stop_workers() {
  local pid
  for pid in "${workers[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  workers=()
}
lightbus_on_exit stop_workers
LIGHTBUS_SERVICE_NAME=auth LIGHTBUS_MODULE=$root/usr/lib/lightbus/modules/auth.so \
  "$lightbus" run >"$work/auth.out" 2>"$work/auth.err" &
workers+=($!)
LIGHTBUS_SERVICE_NAME=greeter "$lightbus" run --bus "$work/consumer/greeter.so" \
  >"$work/greeter.out" 2>"$work/greeter.err" &
workers+=($!)

show_logs() { tail -n 20 "$work"/auth.err "$work"/greeter.err >&2 || true; }
# The first call of each waits in the queue until its worker reads it (up to rpc_timeout).
answer=$("$lightbus" call accounts.register '{"username": "pkg", "email": "pkg@example.com", "password": "secret1"}') ||
  { show_logs; fail "lightbus call accounts.register (packaged auth.so) failed"; }
answer=$("$lightbus" call auth.check_password '{"username": "pkg", "password": "secret1"}') ||
  { show_logs; fail "lightbus call auth.check_password failed"; }
[[ $answer == true ]] || fail "auth.check_password answered '$answer', expected true"
echo "packaged auth.so: accounts.register then auth.check_password -> $answer"

# The pkg-config build has no RUNPATH (pkg-config gives none): installed, its libraries are in
# /usr/lib, on the loader's default path; unpacked, LD_LIBRARY_PATH stands for that.
for client in "$work/consumer/greeter-client" "$work/greeter-client-pc" \
  "$work/consumer/greeter-blocking" "$work/greeter-blocking-pc"; do
  ld_path=""
  [[ $client == *-pc ]] && ld_path=$pc_libdir
  out=$(LD_LIBRARY_PATH=$ld_path "$client" pkg) || { show_logs; fail "$client failed"; }
  grep -qx 'Hello, pkg!' <<<"$out" || fail "$client printed: $out"
  echo "$(basename "$client"): $(head -n1 <<<"$out")"
done

for i in "${!workers[@]}"; do
  kill -TERM "${workers[i]}"
  rc=0
  wait "${workers[i]}" || rc=$?
  ((rc == 0)) || { show_logs; fail "a lightbus run worker exited $rc after SIGTERM"; }
done
workers=()
echo "== package test passed: $(basename "$runtime_deb") $(basename "$dev_deb")"
