#!/usr/bin/env bash
# Line coverage of src/ from the whole test suite: builds with --coverage
# (gcc, -O0), runs every test, and reports with gcovr. Prints the figure of
# src/ and one per folder (src/*, include/cebus, tools), and writes
# BUILD/coverage/summary.txt (per file), BUILD/coverage/summary.json and an
# HTML report at BUILD/coverage/index.html. Exits non-zero when a test fails,
# after reporting.
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
# The library's figure counts src/ only. Headers under include/cebus and
# the cebus tool in tools/ are reported on their own lines; tests, examples
# and headers of dependencies are filtered out.
gcovr --root . --object-directory "$build_dir" -j "${CEBUS_JOBS:-2}" \
  --filter 'src/' --filter 'include/cebus/' --filter 'tools/' \
  --txt "$out/summary.txt" --json-summary "$out/summary.json" --json-summary-pretty \
  --html-details "$out/index.html" "$build_dir"

python3 - "$out/summary.json" <<'PY'
import collections
import json
import sys

summary = json.load(open(sys.argv[1]))


def figure(files):
    covered = sum(f["line_covered"] for f in files)
    total = sum(f["line_total"] for f in files)
    return f"{100.0 * covered / max(total, 1):.1f}% ({covered} of {total} lines)"


groups = collections.defaultdict(list)
for f in summary["files"]:
    parts = f["filename"].split("/")
    # One line per folder under src/, one for include/cebus, one for tools.
    depth = 2 if parts[0] in ("src", "include") else 1
    groups["/".join(parts[:depth]) + "/"].append(f)
src = [f for f in summary["files"] if f["filename"].startswith("src/")]
for name in sorted(groups):
    print(f"  {name:<16} {figure(groups[name])}")
print(f"line coverage of src/: {figure(src)}")
PY
echo "coverage: per-file figures in $out/summary.txt, report in $out/index.html"
exit $status
