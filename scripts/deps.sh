#!/usr/bin/env bash
# Installs the Debian packages cebus needs, when any is missing. Sourced by
# quickstart.sh and test.sh; safe to run again. Extra package names may be
# passed as arguments (the sanitizer and fuzzing runs need clang).
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config python3
  nlohmann-json3-dev libconcurrentqueue-dev libboost-dev liblmdb-dev catch2
  libcurl4-openssl-dev libssl-dev libcpp-httplib-dev
  cmake clang doxygen # the packaging suite: consumer builds, header check, API docs
  ccache # optional for the build, but it makes repeated builds and CI much faster
  "$@"
)
# Optional, for benchmarks only: bench_journal compares with SQLite and is
# built only when libsqlite3-dev is present. CEBUS_BENCH_DEPS=1 installs it.
if [[ ${CEBUS_BENCH_DEPS:-0} == 1 ]]; then
  packages+=(libsqlite3-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "cebus: installing missing packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  echo "cebus: cannot install packages: not root and no password-less sudo." >&2
  echo "cebus: install them yourself, then run this script again:" >&2
  echo "  sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
