#!/bin/sh
# The full I/O Events fault run: 100,000 events forwarded to the emulator on
# loopback while it injects 429s, 5xx and dropped connections and the host
# process is killed and restarted six times. CI runs a 2,000-event version as
# the io_fault_run test.
#
# usage: scripts/io-events-fault-run.sh [BUILD_DIR] [EVENTS]
set -eu
build=${1:-build}
events=${2:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
ninja -C "$build" tests/test_io_fault_run
CEBUS_TEST_DATA="$root/tests/data" CEBUS_IO_FAULT_EVENTS="$events" \
    "$build/tests/test_io_fault_run" "fault run loses no event" --durations yes
