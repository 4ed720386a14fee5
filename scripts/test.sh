#!/usr/bin/env bash
# Installs what is missing, builds cebus and runs every test, then prints one
# closing line "N passed, N failed" (test cases, summed over all programs,
# plus one case per fuzz target when fuzzing is asked for).
#
# Environment:
#   CEBUS_BUILD_DIR     build folder (default: build)
#   CEBUS_WERROR=1      treat compiler warnings as errors (CI sets it)
#   CEBUS_SANITIZERS    "asan", "tsan" or "all": also run the suite under
#                       AddressSanitizer+UBSan (folder BUILD-asan) and/or
#                       ThreadSanitizer (BUILD-tsan)
#   CEBUS_SUITES        meson test suites to run, space-separated (core,
#                       journal, io_events, examples, packaging, docs;
#                       default: all). Every folder is still built whole.
#   CEBUS_JOBS          parallel compile jobs (default: ninja's choice)
#   CEBUS_TSAN_SUITES   meson test suites run under ThreadSanitizer
#                       (default: CEBUS_SUITES; CI names the concurrent ones)
#   CEBUS_FUZZ_SECONDS  when set, also run every fuzz target that long
#                       (scripts/fuzz.sh, clang, folder BUILD-fuzz)
#   CEBUS_TIME_BUDGET   seconds; a sanitizer or fuzz stage that would start
#                       after this much time is skipped with a message, so a
#                       slow machine cannot push CI past its hard limit
set -euo pipefail
cd "$(dirname "$0")/.."

# Checked before anything is built, so a typo costs no build time.
case ${CEBUS_SANITIZERS:-} in
  "" | asan | tsan | all) ;;
  *)
    echo "cebus: unknown CEBUS_SANITIZERS value \"$CEBUS_SANITIZERS\": use asan, tsan or all" >&2
    exit 2
    ;;
esac

bash scripts/deps.sh

# When meson finds ccache it compiles through it. Hashing paths relative to
# the clone lets a second clone (a CI run, say) reuse the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

build_dir=${CEBUS_BUILD_DIR:-build}
werror=false
[[ ${CEBUS_WERROR:-0} == 1 ]] && werror=true

# Sanitizer runtime options: stop at the first finding with a stack, so a
# finding fails its test instead of scrolling past. The suppression files
# list only findings inside dependencies, each with its reason.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:print_summary=1:detect_odr_violation=2}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/sanitizers/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/sanitizers/tsan.supp}

# Configures (or reconfigures) a build folder with the given extra options.
configure() {
  local dir=$1
  shift
  if [[ -f $dir/build.ninja ]]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
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
  ninja -C "$dir" ${CEBUS_JOBS:+-j "$CEBUS_JOBS"}
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

# Returns false, after saying so, when a stage would start past the budget.
started_at=$SECONDS
skipped_stages=()
within_budget() {
  local label=$1
  if [[ -n ${CEBUS_TIME_BUDGET:-} ]] && ((SECONDS - started_at > CEBUS_TIME_BUDGET)); then
    echo "== $label: SKIPPED, $((SECONDS - started_at)) s have passed of a ${CEBUS_TIME_BUDGET} s budget"
    skipped_stages+=("$label")
    return 1
  fi
  return 0
}

# Selected suites, as meson test arguments.
suite_args() {
  local suite
  for suite in "$@"; do
    printf -- '--suite\n%s\n' "$suite"
  done
}
mapfile -t selected_suites < <(suite_args ${CEBUS_SUITES:-})

MESON_TEST_ARGS=("${selected_suites[@]}")
run_suite "$build_dir" "default" -Dwerror=$werror

# The sanitizer builds use gcc like the default build. -Werror stays with the
# default build: gcc's flow analysis warns about std::regex and std::function
# internals once sanitizer instrumentation is inlined (-Wmaybe-uninitialized
# false positives), and the default build already holds the code to zero
# warnings. UBSan is made fatal at compile time too, so no runtime option can
# turn a finding into a log line. -O1 is the optimisation the sanitizer
# documentation suggests and compiles faster than -O2. Benchmarks are not
# built: they never run here.
sanitizer_options=(-Dwerror=false -Db_lundef=false -Dbenchmarks=false -Doptimization=1
                   -Dcpp_args=-fno-sanitize-recover=all -Dcpp_link_args=-fno-sanitize-recover=all)

case ${CEBUS_SANITIZERS:-} in
  asan | all)
    MESON_TEST_ARGS=("${selected_suites[@]}")
    within_budget "asan+ubsan" &&
    run_suite "$build_dir-asan" "asan+ubsan" -Db_sanitize=address,undefined "${sanitizer_options[@]}"
    ;;&
  tsan | all)
    mapfile -t MESON_TEST_ARGS < <(suite_args ${CEBUS_TSAN_SUITES:-${CEBUS_SUITES:-}})
    within_budget "tsan" &&
    run_suite "$build_dir-tsan" "tsan" -Db_sanitize=thread "${sanitizer_options[@]}"
    ;;
esac

if [[ -n ${CEBUS_FUZZ_SECONDS:-} ]] && within_budget "fuzz"; then
  echo "== fuzz: every target for ${CEBUS_FUZZ_SECONDS}s"
  fuzz_status=0
  CEBUS_FUZZ_BUILD_DIR=$build_dir-fuzz bash scripts/fuzz.sh "$CEBUS_FUZZ_SECONDS" | tee "$build_dir/fuzz.log" ||
    fuzz_status=$?
  fuzz_counts=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' "$build_dir/fuzz.log" | tail -1 || true)
  if [[ -z $fuzz_counts ]]; then
    total_failed=$((total_failed + 1))  # the fuzz build itself failed
  else
    fuzz_counts=${fuzz_counts#fuzz: }
    total_passed=$((total_passed + ${fuzz_counts%% *}))
    fuzz_failed=${fuzz_counts#*, }
    total_failed=$((total_failed + ${fuzz_failed%% *}))
  fi
  ((fuzz_status == 0)) || echo "== fuzz: failed (exit $fuzz_status)"
fi

if ((${#skipped_stages[@]} > 0)); then
  echo "== stages skipped for time: ${skipped_stages[*]}"
fi
echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
