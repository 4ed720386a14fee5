#!/usr/bin/env bash
# Installs what is missing, builds cebus and runs every test, then prints one
# closing line "N passed, N failed" (test cases, summed over all programs).
#
# Environment:
#   CEBUS_BUILD_DIR   build folder (default: build)
#   CEBUS_WERROR=1    treat compiler warnings as errors (CI sets it)
#   CEBUS_SANITIZERS  "asan", "tsan" or "all": also run the suite under
#                     AddressSanitizer+UBSan and/or ThreadSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

build_dir=${CEBUS_BUILD_DIR:-build}
werror=false
[[ ${CEBUS_WERROR:-0} == 1 ]] && werror=true

# Configures (or reconfigures) a build folder with the given extra options.
configure() {
  local dir=$1
  shift
  if [[ -f $dir/build.ninja ]]; then
    meson configure "$dir" -Dwerror=$werror "$@" >/dev/null
  else
    meson setup "$dir" -Dwerror=$werror "$@" >/dev/null
  fi
}

# Builds and runs one configuration; appends its counts to the totals.
total_passed=0
total_failed=0
run_suite() {
  local dir=$1 label=$2
  shift 2
  echo "== $label: building in $dir"
  configure "$dir" "$@"
  ninja -C "$dir"
  echo "== $label: running tests"
  local status=0
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${MESON_TEST_ARGS[@]}" || status=$?
  local counts
  counts=$(python3 scripts/summarize_tests.py "$dir/meson-logs/testlog.json")
  echo "== $label: $counts"
  total_passed=$((total_passed + ${counts%% *}))
  local failed=${counts#*, }
  total_failed=$((total_failed + ${failed%% *}))
  if ((status != 0 && ${failed%% *} == 0)); then
    # A program crashed or timed out without a Catch2 summary: count it.
    total_failed=$((total_failed + 1))
  fi
}

MESON_TEST_ARGS=()
run_suite "$build_dir" "default"

case ${CEBUS_SANITIZERS:-} in
  asan | all)
    run_suite "$build_dir-asan" "asan+ubsan" -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false
    ;;&
  tsan | all)
    MESON_TEST_ARGS=(--suite core --suite journal)
    run_suite "$build_dir-tsan" "tsan" -Db_sanitize=thread -Db_lundef=false -Dbenchmarks=false
    ;;
  "") ;;
  *)
    echo "cebus: unknown CEBUS_SANITIZERS value \"$CEBUS_SANITIZERS\": use asan, tsan or all" >&2
    exit 2
    ;;
esac

echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
