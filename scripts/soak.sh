#!/usr/bin/env bash
# Soak run (not part of CI): the bus and the journal at half their measured
# capacity for a while, with churn and retention, sampled into a CSV and
# plotted into bench/soak.png. Fails when memory or the backlog keeps growing
# over the second half of the run.
#
# Usage: scripts/soak.sh [SECONDS] [-- extra soak options]
#   SECONDS   run time after calibration (default: $CEBUS_SOAK_SECONDS, else 150)
#   options   passed to the soak program: --load 0.5, --producers 2,
#             --interval S, --max-memory-slope KIB_PER_MIN, ... (soak --help)
# Environment:
#   CEBUS_BUILD_DIR   build folder (default: build); built with debugoptimized
#   CEBUS_SOAK_OUT    folder for soak.csv (default: BUILD/soak); the plot
#                     goes to bench/soak.png unless CEBUS_SOAK_PLOT names another file
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${CEBUS_SOAK_SECONDS:-150}
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
[[ ${1:-} == -- ]] && shift

build_dir=${CEBUS_BUILD_DIR:-build}
out=${CEBUS_SOAK_OUT:-$build_dir/soak}
plot=${CEBUS_SOAK_PLOT:-bench/soak.png}

bash scripts/deps.sh gnuplot-nox

if [[ ! -f $build_dir/build.ninja ]]; then
  meson setup "$build_dir" >/dev/null
fi
ninja -C "$build_dir" bench/soak
mkdir -p "$out"

# Sample often enough that the second half holds a dozen points.
interval=$(python3 -c "print(max(1, min(5, round($seconds / 30))))")

status=0
"$build_dir/bench/soak" --seconds "$seconds" --interval "$interval" --csv "$out/soak.csv" "$@" || status=$?

if [[ -s $out/soak.csv ]]; then
  gnuplot <<GNUPLOT
set datafile separator ','
set terminal pngcairo size 1200,1000 font 'sans,10'
set output '$plot'
set key autotitle columnhead top left
set multiplot layout 3,1 title 'cebus soak: $(uname -m), $(nproc) cores, ${seconds} s at half capacity (scripts/soak.sh)'
set xlabel 'time (s)'
set grid
set ylabel 'memory (MiB)'
set yrange [0:*]
plot '$out/soak.csv' using 1:(\$2/1024) with linespoints title 'resident', \
     '' using 1:(\$3/1024) with linespoints title 'anonymous (excludes the LMDB map)'
set ylabel 'events'
plot '$out/soak.csv' using 1:5 with linespoints title 'async queue depth', \
     '' using 1:6 with linespoints title 'durable lag (events)'
set ylabel 'latency (us)'
set logscale y
set yrange [*:*]
plot '$out/soak.csv' using 1:11 with linespoints title 'async p50', \
     '' using 1:12 with linespoints title 'async p99', \
     '' using 1:14 with linespoints title 'durable p50', \
     '' using 1:15 with linespoints title 'durable p99', \
     '' using 1:10 with lines title 'sync p99'
unset multiplot
GNUPLOT
  echo "soak: plot in $plot, samples in $out/soak.csv"
fi
exit $status
