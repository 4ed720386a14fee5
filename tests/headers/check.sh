#!/usr/bin/env bash
# Checks that every public header compiles on its own: for each header under
# include/cebus and each compiler, a translation unit that includes the header
# first (twice, to check its include guard) must compile with
# -Wall -Wextra -Wpedantic -Werror. A last unit includes every header
# together. Headers are found when the check runs, so new ones are covered
# without touching the build files. Headers of parts this build left out (the
# journal, the I/O Events bridge) are skipped.
#
# Usage: check.sh SOURCE_DIR BUILD_DIR [COMPILER...]   (default: g++ clang++)
# Ends with "test cases: N | P passed | F failed" for scripts/test.sh.
set -uo pipefail

source_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)
shift 2
compilers=("$@")
((${#compilers[@]})) || compilers=(g++ clang++)

config_h=$build_dir/cebus_config.h
have() { grep -q "^#define $1 1" "$config_h"; }

cd "$source_dir/include"
headers=()
while IFS= read -r h; do
  case $h in
    cebus/io_events/*) have CEBUS_HAVE_IO_EVENTS || continue ;;
    cebus/journal.hpp | cebus/journal/*) have CEBUS_HAVE_JOURNAL || continue ;;
  esac
  headers+=("$h")
done < <(find cebus \( -name '*.hpp' -o -name '*.h' \) -type f | LC_ALL=C sort)
if ((${#headers[@]} == 0)); then
  echo "no public headers found under $source_dir/include/cebus"
  exit 1
fi

# The include paths a consumer has: the installed include folder (here the
# source tree plus the generated cebus_config.h) and the dependencies' flags.
deps=(nlohmann_json)
have CEBUS_HAVE_JOURNAL && deps+=(lmdb)
have CEBUS_HAVE_IO_EVENTS && deps+=(libcurl openssl cpp-httplib)
read -r -a dep_flags < <(pkg-config --cflags "${deps[@]}")
flags=(-std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror
  -I"$source_dir/include" -I"$build_dir/packaging" -I"$build_dir" "${dep_flags[@]}")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One job per (compiler, header); "*" stands for all headers in one unit.
jobs=()
for cxx in "${compilers[@]}"; do
  if ! command -v "$cxx" >/dev/null; then
    echo "compiler $cxx not found: install it (scripts/deps.sh lists the packages)"
    exit 1
  fi
  for h in "${headers[@]}" "*"; do
    jobs+=("$cxx $h")
  done
done

compile_one() {
  local cxx=$1 header=$2 unit
  local log=$work/$(echo "$cxx-$header" | tr '/*' '_A').log
  if [[ $header == "*" ]]; then
    unit=$(printf '#include <%s>\n' "${headers[@]}")
  else
    unit=$(printf '#include <%s>\n#include <%s>\n' "$header" "$header")
  fi
  if printf '%s\nint main() { return 0; }\n' "$unit" |
    "$cxx" "${flags[@]}" -x c++ - -o /dev/null >"$log" 2>&1; then
    echo "ok     $cxx $header"
  else
    echo "FAILED $cxx $header"
    sed 's/^/    /' "$log"
  fi
}
export -f compile_one
export work
export flags_file=$work/flags headers_file=$work/headers
printf '%s\n' "${flags[@]}" >"$flags_file"
printf '%s\n' "${headers[@]}" >"$headers_file"

# Arrays do not cross into xargs' shells, so each job reads them back.
run_job() {
  local -a flags headers
  mapfile -t flags <"$flags_file"
  mapfile -t headers <"$headers_file"
  compile_one "$@"
}
export -f run_job

results=$(printf '%s\n' "${jobs[@]}" |
  xargs -P "$(nproc)" -L 1 bash -c 'run_job "$@"' _)
echo "$results"

# A typed handler whose type has no from_json must fail to compile with
# the bus's own message, not pages of nlohmann template errors.
no_from_json_unit='#include <cebus/bus.hpp>
struct NoJson { int x = 0; };
int main() {
    cebus::Bus bus;
    auto s = bus.subscribe(cebus::Filter(), [](const NoJson&) {});
    return 0;
}'
cxx=${compilers[0]}
if printf '%s\n' "$no_from_json_unit" |
  "$cxx" "${flags[@]}" -x c++ - -o /dev/null >"$work/no_from_json.log" 2>&1; then
  extra="FAILED $cxx typed handler without from_json compiled"
elif grep -q "needs a from_json" "$work/no_from_json.log"; then
  extra="ok     $cxx typed handler without from_json is rejected"
else
  extra="FAILED $cxx typed handler without from_json: no clear message"
  extra+=$'\n'$(head -20 "$work/no_from_json.log" | sed 's/^/    /')
fi
echo "$extra"
results+=$'\n'$extra

passed=$(grep -c '^ok ' <<<"$results")
failed=$(grep -c '^FAILED ' <<<"$results")
echo "test cases: $((passed + failed)) | $passed passed | $failed failed"
((failed == 0 && passed == ${#jobs[@]} + 1))
