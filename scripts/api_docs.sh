#!/usr/bin/env bash
# Builds the API reference with Doxygen and fails when Doxygen warns.
#
# Usage: api_docs.sh DOXYGEN DOXYFILE OUTPUT_DIR
# OUTPUT_DIR must be the Doxyfile's OUTPUT_DIRECTORY; its warnings.log is
# printed and must be empty. Ends with "test cases: 1 | ..." for test.sh.
set -uo pipefail
doxygen=$1
doxyfile=$2
out=$3

rm -rf "$out"
mkdir -p "$out"
status=0
"$doxygen" "$doxyfile" || status=$?
log=$out/warnings.log
if [[ -s $log ]]; then
  echo "Doxygen warnings (each names a header line to fix):"
  cat "$log"
  echo "$(grep -cE ': (warning|error): ' "$log") warnings"
  status=1
elif ((status != 0)); then
  echo "doxygen failed with status $status"
fi
if [[ ! -f $out/html/index.html ]]; then
  echo "no $out/html/index.html was written"
  status=1
fi
if ((status == 0)); then
  echo "API reference in $out/html/index.html, no warnings"
  echo "test cases: 1 | 1 passed | 0 failed"
else
  echo "test cases: 1 | 0 passed | 1 failed"
fi
exit $status
