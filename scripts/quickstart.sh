#!/usr/bin/env bash
# Installs what is missing, builds cebus and runs the main example on the
# sample events in tests/data (or on the event files given as arguments):
# in-memory subscribers, then the I/O Events bridge to an emulator on
# 127.0.0.1. Options go to the example: --console FILE targets the real
# service, --emulator-port N an emulator already running on that port.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build_dir=${CEBUS_BUILD_DIR:-build}
if [[ ! -f $build_dir/build.ninja ]]; then
  meson setup "$build_dir" >/dev/null
fi
ninja -C "$build_dir" examples/quickstart
exec "$build_dir/examples/quickstart" "$@"
