#!/usr/bin/env bash
# Line coverage of src/ from the whole test suite: builds with --coverage
# (gcc, -O0), runs every test, and reports with gcovr. Prints the figure and
# writes BUILD/coverage/summary.txt (per file), BUILD/coverage/summary.json
# and an HTML report at BUILD/coverage/index.html.
#
# Usage: scripts/coverage.sh
# Environment:
#   CEBUS_COVERAGE_BUILD_DIR  build folder (default: build-cov)
#   CEBUS_JOBS                parallel compile jobs and test programs
#                             (default: ninja's choice; tests run 2 at once)
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${CEBUS_COVERAGE_BUILD_DIR:-build-cov}
bash scripts/deps.sh gcovr

if [[ ! -f $build_dir/build.ninja ]]; then
  # -O0 so every executed line maps to code; benchmarks never run in tests.
  meson setup "$build_dir" -Db_coverage=true -Dbuildtype=debug -Dbenchmarks=false >/dev/null
fi
jobs=()
[[ -n ${CEBUS_JOBS:-} ]] && jobs=(-j "$CEBUS_JOBS")
ninja -C "$build_dir" "${jobs[@]}"

# Counters from an earlier run would add up with this one.
find "$build_dir" -name '*.gcda' -delete

status=0
meson test -C "$build_dir" --num-processes "${CEBUS_JOBS:-2}" --print-errorlogs || status=$?
echo "== tests: $(python3 scripts/summarize_tests.py "$build_dir/meson-logs/testlog.json")"

out=$build_dir/coverage
mkdir -p "$out"
# Only the library counts: tools, tests, examples and headers of
# dependencies are filtered out; headers under include/cebus count because
# their inline code is the library's too.
gcovr --root . --object-directory "$build_dir" \
  --filter 'src/' --filter 'include/cebus/' \
  --txt "$out/summary.txt" --json-summary "$out/summary.json" --json-summary-pretty \
  --html-details "$out/index.html" --print-summary "$build_dir" | tail -3

python3 - "$out/summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
src = [f for f in summary["files"] if f["filename"].startswith("src/")]
covered = sum(f["line_covered"] for f in src)
total = sum(f["line_total"] for f in src)
print(f"line coverage of src/: {100.0 * covered / max(total, 1):.1f}% ({covered} of {total} lines)")
PY
exit $status
