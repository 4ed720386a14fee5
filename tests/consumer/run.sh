#!/usr/bin/env bash
# Installs an already built cebus into a staging folder. Then it builds the
# consumer project in tests/consumer/project against it in each way a host
# project takes cebus: pkg-config with a plain compiler command, CMake's
# find_package(cebus), meson's dependency('cebus') through pkg-config, and
# meson with cebus as a subproject. Each consumer program must build with
# -Werror and exit 0 (it sends one event and checks that it arrives).
#
# Usage: run.sh BUILD_DIR SOURCE_DIR
# CEBUS_CONSUMER_CHECKS="cmake meson ..." runs only the named checks (and the
# install they all need), for work on one of them.
#
# Work happens in BUILD_DIR/packaging-test, cleared at the start. The paths
# stay the same from run to run so ccache can serve repeated compilations.
# Ends with "test cases: N | P passed | F failed" for scripts/test.sh.
set -uo pipefail

build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
work=$build_dir/packaging-test
project=$source_dir/tests/consumer/project

passed=0
failed=0
failures=()
check() {
  local name=$1
  shift
  if [[ -n ${CEBUS_CONSUMER_CHECKS:-} && $name != install && " $CEBUS_CONSUMER_CHECKS " != *" $name "* ]]; then
    return 0
  fi
  echo "--- $name"
  if "$@" >"$work/$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "ok: $name"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAILED: $name; its output:"
    sed 's/^/    /' "$work/$name.log"
  fi
}

# Nothing from the caller's environment may steer a consumer to another cebus.
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR CMAKE_PREFIX_PATH \
  LD_LIBRARY_PATH CPATH CPLUS_INCLUDE_PATH LIBRARY_PATH
launcher=()
command -v ccache >/dev/null && launcher=(ccache)

rm -rf "$work"
mkdir -p "$work"
stage=$work/stage

# Where the build installs: prefix, libdir and includedir from its options.
eval "$(python3 - "$build_dir" <<'EOF'
import json, subprocess, sys
build = sys.argv[1]
opts = json.loads(subprocess.check_output(["meson", "introspect", "--buildoptions", build]))
info = json.loads(subprocess.check_output(["meson", "introspect", "--projectinfo", build]))
value = {o["name"]: o["value"] for o in opts if not o.get("subproject")}
print(f'prefix={value["prefix"]!r}')
print(f'libdir={value["libdir"]!r}')
print(f'includedir={value["includedir"]!r}')
print(f'version={info["version"]!r}')
EOF
)"
root=$stage$prefix
lib=$root/$libdir
[[ $libdir == /* ]] && lib=$stage$libdir
inc=$root/$includedir
[[ $includedir == /* ]] && inc=$stage$includedir

config_h=$build_dir/cebus_config.h
have_journal=0
have_io_events=0
grep -q '^#define CEBUS_HAVE_JOURNAL 1' "$config_h" && have_journal=1
grep -q '^#define CEBUS_HAVE_IO_EVENTS 1' "$config_h" && have_io_events=1
full=0
((have_journal && have_io_events)) && full=1
echo "cebus $version: prefix $prefix, libdir $libdir, journal $have_journal, io_events $have_io_events"

# 1. Install into the staging folder and check the layout.
install_tree() {
  meson install -C "$build_dir" --no-rebuild --quiet --destdir "$stage" || return 1
  local want=(
    "$inc/cebus/event.hpp" "$inc/cebus/cebus_config.h"
    "$lib/libcebus.so" "$lib/pkgconfig/cebus.pc"
    "$lib/cmake/cebus/cebusConfig.cmake" "$lib/cmake/cebus/cebusConfigVersion.cmake"
  )
  if ((have_journal)); then
    want+=("$inc/cebus/journal.hpp" "$lib/libcebus-journal.so" "$lib/pkgconfig/cebus-journal.pc")
  fi
  if ((have_io_events)); then
    want+=("$inc/cebus/io_events/config.hpp" "$lib/libcebus-io-events.so"
      "$lib/pkgconfig/cebus-io-events.pc")
  fi
  local f missing=0
  for f in "${want[@]}"; do
    [[ -f $f ]] || { echo "not installed: $f"; missing=1; }
  done
  # No build-tree path may leak into what is installed.
  if grep -rl --binary-files=text "$build_dir" "$lib/pkgconfig" "$lib/cmake" "$inc"; then
    echo "installed files above name the build folder $build_dir"
    missing=1
  fi
  return $missing
}
check install install_tree

# Runs a consumer program against the staged libraries and checks that it
# loaded the staged libcebus, not some other copy.
run_consumer() {
  local exe=$1
  shift
  LD_LIBRARY_PATH=$lib "$exe" "$@" || return 1
  local loaded
  loaded=$(LD_LIBRARY_PATH=$lib ldd "$exe" | awk '/libcebus\.so/ {print $3}')
  [[ $loaded == "$lib/libcebus.so" ]] || {
    echo "$exe loaded libcebus from \"$loaded\", not from $lib"
    return 1
  }
}

# PKG_CONFIG_SYSROOT_DIR maps the prefix recorded in the .pc files into the
# staging folder, as for any staged install.
with_staged_pkgconfig() {
  PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage "$@"
}

# 2. pkg-config and a plain compiler command.
pkgconfig_build() {
  local out=$work/pkg-config
  mkdir -p "$out"
  [[ $(with_staged_pkgconfig pkg-config --modversion cebus) == "$version" ]] || {
    echo "pkg-config --modversion cebus is not $version"
    return 1
  }
  # shellcheck disable=SC2046
  "${launcher[@]}" g++ -std=c++20 -Wall -Wextra -Wpedantic -Werror \
    "$project/consumer.cpp" -o "$out/consumer" \
    $(with_staged_pkgconfig pkg-config --cflags --libs cebus) || return 1
  run_consumer "$out/consumer" "$version" || return 1
  if ((full)); then
    # shellcheck disable=SC2046
    "${launcher[@]}" g++ -std=c++20 -Wall -Wextra -Wpedantic -Werror \
      "$project/consumer_all.cpp" -o "$out/consumer_all" \
      $(with_staged_pkgconfig pkg-config --cflags --libs cebus-io-events) || return 1
    run_consumer "$out/consumer_all" || return 1
  fi
}
check pkg-config pkgconfig_build

# 3. CMake find_package(cebus).
cmake_build() {
  local out=$work/cmake
  cmake -S "$project" -B "$out" -G Ninja -DCMAKE_PREFIX_PATH="$root" \
    -DCMAKE_CXX_COMPILER_LAUNCHER="${launcher[*]}" -DCEBUS_CONSUMER_FULL=$((full ? 1 : 0)) ||
    return 1
  cmake --build "$out" || return 1
  run_consumer "$out/consumer" "$version" || return 1
  if ((full)); then
    run_consumer "$out/consumer_all" || return 1
  fi
}
check cmake cmake_build

# find_package must reject a version the installed one is not compatible with.
cmake_rejects_version() {
  local major=${version%%.*}
  local output
  if output=$(cmake -S "$project" -B "$work/cmake-reject" -G Ninja -DCMAKE_PREFIX_PATH="$root" \
    -DCEBUS_CONSUMER_VERSION=$((major + 1)).0 2>&1); then
    echo "$output"
    echo "find_package(cebus $((major + 1)).0) accepted cebus $version"
    return 1
  fi
  echo "$output"
  # It must have seen the installed package and turned it down for its
  # version. The lines are joined as in the component check below.
  local joined
  joined=$(tr -s ' \n' '  ' <<<"$output")
  grep -q "cebusConfig.cmake, version: $version" <<<"$joined"
}
check cmake-rejects-version cmake_rejects_version

# A component this installation does not have must fail find_package.
cmake_rejects_component() {
  local output
  if output=$(cmake -S "$project" -B "$work/cmake-reject-component" -G Ninja \
    -DCMAKE_PREFIX_PATH="$root" -DCEBUS_CONSUMER_COMPONENTS=no_such_part 2>&1); then
    echo "$output"
    echo "find_package(cebus COMPONENTS no_such_part) succeeded"
    return 1
  fi
  echo "$output"
  # CMake wraps the message at a width that depends on the path lengths in
  # it, so the lines are joined and spaces squeezed before matching.
  local joined
  joined=$(tr -s ' \n' '  ' <<<"$output")
  grep -q 'has no component "no_such_part"' <<<"$joined"
}
check cmake-rejects-component cmake_rejects_component

# 4. meson dependency('cebus') through the installed pkg-config files.
meson_installed_build() {
  local out=$work/meson
  with_staged_pkgconfig meson setup "$out" "$project" --wrap-mode=nofallback \
    -Dfull=$( ((full)) && echo enabled || echo disabled) || return 1
  ninja -C "$out" || return 1
  run_consumer "$out/consumer" "$version" || return 1
  if ((full)); then
    run_consumer "$out/consumer_all" || return 1
  fi
}
check meson meson_installed_build

# 5. meson with cebus as a subproject: the consumer's subprojects/cebus is a
# link to this source tree, and a wrap file lists the dependencies it
# provides. The subproject builds the core only (see project/meson.build).
meson_subproject_build() {
  local src=$work/meson-subproject-src out=$work/meson-subproject
  mkdir -p "$src/subprojects"
  cp "$project"/consumer.cpp "$project"/consumer_all.cpp "$project"/meson.build \
    "$project"/meson_options.txt "$src/"
  ln -s "$source_dir" "$src/subprojects/cebus"
  cat >"$src/subprojects/cebus.wrap" <<'WRAP'
[wrap-file]
directory = cebus

[provide]
dependency_names = cebus, cebus-journal, cebus-io-events
WRAP
  meson setup "$out" "$src" --force-fallback-for=cebus -Dfull=disabled || return 1
  grep -q "Executing subproject cebus" "$out/meson-logs/meson-log.txt" || {
    echo "meson did not use the subproject"
    return 1
  }
  ninja -C "$out" consumer || return 1
  "$out/consumer" "$version"
}
check meson-subproject meson_subproject_build

echo "test cases: $((passed + failed)) | $passed passed | $failed failed"
if ((failed)); then
  echo "failed: ${failures[*]}"
  exit 1
fi
