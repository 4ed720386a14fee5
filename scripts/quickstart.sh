#!/usr/bin/env bash
# Installs what is missing, builds cebus and runs the main example on the
# sample events in tests/data (or on the files given as arguments).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build_dir=${CEBUS_BUILD_DIR:-build}
if [[ ! -f $build_dir/build.ninja ]]; then
  meson setup "$build_dir" >/dev/null
fi
ninja -C "$build_dir" examples/quickstart
exec "$build_dir/examples/quickstart" "$@"
