#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UBSan) and runs
# each one for a given time. Closes with "fuzz: N passed, N failed" (targets).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS   run time per target (default: $CEBUS_FUZZ_SECONDS, else 30)
#   TARGET    json, http, cesql, webhook (default: every target built)
# Environment:
#   CEBUS_FUZZ_BUILD_DIR  build folder (default: build-fuzz)
#   CEBUS_FUZZ_JOBS       parallel fuzzing processes per target (default 1)
#   CEBUS_JOBS            parallel compile jobs (default: ninja's choice)
#
# Seeds are derived from tests/data at every run (scripts/fuzz_seeds.py),
# together with fuzz/seeds/<target>/ and the saved crashes in
# tests/data/fuzz-regressions/<target>/. What a run learns stays in
# BUILD/fuzz-corpus/<target>/ for the next run. A crash is written to
# BUILD/fuzz-artifacts/<target>/; copy it to tests/data/fuzz-regressions/<target>/
# and tests/test_fuzz_regressions.cpp replays it in every test run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${CEBUS_FUZZ_SECONDS:-30}
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
build_dir=${CEBUS_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${CEBUS_FUZZ_JOBS:-1}

bash scripts/deps.sh clang libclang-rt-14-dev llvm python3-yaml

if [[ ! -f $build_dir/build.ninja ]]; then
  echo "== fuzz: configuring $build_dir with clang"
  # Tests, benchmarks and examples are built by the gcc folders; this one
  # holds the library, the tool and the fuzz targets only.
  CXX=${CEBUS_FUZZ_CXX:-clang++} meson setup "$build_dir" -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args=-fno-sanitize-recover=all -Dcpp_link_args=-fno-sanitize-recover=all \
    -Dtests=false -Dbenchmarks=false -Dexamples=false >/dev/null
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  for t in json http cesql webhook; do
    if meson introspect --targets "$build_dir" | grep -q "\"fuzz_$t\""; then
      targets+=("$t")
    fi
  done
fi
echo "== fuzz: building ${targets[*]}"
compile_jobs=()
[[ -n ${CEBUS_JOBS:-} ]] && compile_jobs=(-j "$CEBUS_JOBS")
ninja -C "$build_dir" "${compile_jobs[@]}" "${targets[@]/#/fuzz/fuzz_}"

seeds=$build_dir/fuzz-seeds
rm -rf "$seeds"
python3 scripts/fuzz_seeds.py tests/data "$seeds"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

passed=0
failed=0
for t in "${targets[@]}"; do
  corpus=$build_dir/fuzz-corpus/$t
  artifacts=$build_dir/fuzz-artifacts/$t
  log=$build_dir/fuzz-$t.log
  mkdir -p "$corpus" "$artifacts" "$seeds/$t"
  inputs=("$corpus" "$seeds/$t")
  for extra in "fuzz/seeds/$t" "tests/data/fuzz-regressions/$t"; do
    [[ -d $extra ]] && inputs+=("$extra")
  done
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
           -print_final_stats=1 -artifact_prefix="$artifacts/")
  [[ -f fuzz/$t.dict ]] && options+=(-dict="fuzz/$t.dict")
  if ((jobs > 1)); then
    options+=(-fork="$jobs")
  fi

  echo "== fuzz: $t for ${seconds}s"
  status=0
  "$build_dir/fuzz/fuzz_$t" "${options[@]}" "${inputs[@]}" >"$log" 2>&1 || status=$?
  grep -E '^stat::number_of_executed_units|^#[0-9]+ +DONE' "$log" | tail -2 | sed 's/^/   /' || true
  if ((status == 0)); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "== fuzz: $t FAILED (exit $status); log: $log"
    grep -E 'ERROR|SUMMARY|what\(\)|runtime error|Test unit written' "$log" | head -20 | sed 's/^/   /' || true
    echo "   save the input as a regression: cp $artifacts/<file> tests/data/fuzz-regressions/$t/"
  fi
done

echo "fuzz: $passed passed, $failed failed"
((failed == 0))
