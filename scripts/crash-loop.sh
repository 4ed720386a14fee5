#!/usr/bin/env bash
# Runs the journal's kill -9 loop for longer than CI does.
#
# usage: scripts/crash-loop.sh [CYCLES] [READER_CYCLES]
#   CYCLES         append-and-kill cycles (default 5000; CI runs 200)
#   READER_CYCLES  killed-reader cycles (default 10000; CI runs 1000)
# Environment: CEBUS_BUILD_DIR (default build), CEBUS_CRASH_SEED to repeat a
# run (the test prints the seed it used), TMPDIR for the journal folder (use
# a real disk, not tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${CEBUS_BUILD_DIR:-build}
cycles=${1:-5000}
reader_cycles=${2:-10000}

if [[ ! -f $build_dir/build.ninja ]]; then
  meson setup "$build_dir" >/dev/null
fi
ninja -C "$build_dir" tests/test_journal_crash tests/journal_crash_child

export CEBUS_JOURNAL_CRASH_CHILD=$PWD/$build_dir/tests/journal_crash_child
export CEBUS_CRASH_CYCLES=$cycles
export CEBUS_READER_CYCLES=$reader_cycles
echo "crash-loop: $cycles append cycles, $reader_cycles reader cycles"
"$build_dir/tests/test_journal_crash" --durations yes
