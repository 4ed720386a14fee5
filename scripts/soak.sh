#!/usr/bin/env bash
# Soak run (not part of CI): the bus and the journal at half their measured
# capacity for a while, with churn and retention, sampled into a CSV and
# plotted into bench/soak.png. Fails when anonymous memory, the backlog
# (async queue depth plus durable lag) or the journal file (data.mdb, while
# retention trims) keeps growing over the second half of the run.
#
# Usage: scripts/soak.sh [SECONDS] [-- soak options]
#        scripts/soak.sh --help
#   SECONDS   paced run time after about 4 s of calibration
#             (default: $CEBUS_SOAK_SECONDS, else 150)
#   options   passed to the soak program (bench/soak.cpp), for example
#             --load 0.5 (fraction of the measured capacity), --producers 2,
#             --retain-events 100000, --max-memory-slope 2048 (KiB/min),
#             --max-backlog-slope N (events/min), --max-file-slope 2048
#             (KiB/min); --help prints them all with their defaults.
# Environment:
#   CEBUS_BUILD_DIR   build folder (default: build); configured with the
#                     project's default buildtype, debugoptimized
#   CEBUS_JOBS        parallel compile jobs (default: ninja's choice)
#   CEBUS_SOAK_OUT    folder for soak.csv, soak.json and soak.log
#                     (default: BUILD/soak)
#   CEBUS_SOAK_PLOT   the picture (default: bench/soak.png)
# Exit status: 0 when every series stays flat, 1 when one grows, 2 on a
# usage or setup error.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${CEBUS_BUILD_DIR:-build}

if [[ ${1:-} == --help || ${1:-} == -h ]]; then
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
  if [[ -x $build_dir/bench/soak ]]; then
    echo
    "$build_dir/bench/soak" --help
  else
    echo
    echo "(build the program to list its options: ninja -C $build_dir bench/soak)"
  fi
  exit 0
fi

seconds=${CEBUS_SOAK_SECONDS:-150}
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
[[ ${1:-} == -- ]] && shift
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 10)); then
  echo "soak: SECONDS must be a whole number of at least 10, not \"$seconds\"" >&2
  exit 2
fi

out=${CEBUS_SOAK_OUT:-$build_dir/soak}
plot=${CEBUS_SOAK_PLOT:-bench/soak.png}

bash scripts/deps.sh gnuplot-nox

if [[ ! -f $build_dir/build.ninja ]]; then
  meson setup "$build_dir" >/dev/null
fi
# A folder set up by another script may have left the benchmarks out.
if ! meson introspect --targets "$build_dir" | grep -q '"name": "soak"'; then
  meson configure "$build_dir" -Dbenchmarks=true -Djournal=enabled >/dev/null
fi
jobs=()
[[ -n ${CEBUS_JOBS:-} ]] && jobs=(-j "$CEBUS_JOBS")
ninja -C "$build_dir" "${jobs[@]}" bench/soak
mkdir -p "$out" "$(dirname "$plot")"

# Sample often enough that the second half holds a dozen points.
interval=$(python3 -c "print(max(1, min(5, round($seconds / 30))))")

status=0
"$build_dir/bench/soak" --seconds "$seconds" --interval "$interval" --csv "$out/soak.csv" \
  --json "$out/soak.json" "$@" 2>&1 | tee "$out/soak.log" || status=$?

if [[ -s $out/soak.csv ]] && (($(wc -l <"$out/soak.csv") > 1)); then
  verdict=$( ((status == 0)) && echo "OK" || echo "FAILED (exit $status)")
  offered=$(python3 -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["offered_rate"]))' \
    "$out/soak.json" 2>/dev/null || echo "?")
  # Columns of soak.csv: 1 t_s, 2 rss_kb, 3 anon_kb, 4 rate, 5 async_depth,
  # 6 durable_lag, 7 journal_events, 8 journal_file_kb, 9-10 sync p50/p99,
  # 11-13 async p50/p99/max, 14-16 durable p50/p99/max, 17 dropped,
  # 18 subscriptions, 19 trimmed, 20 stored_kb (record bytes retained).
  gnuplot <<GNUPLOT
set datafile separator ','
set terminal pngcairo noenhanced size 1200,1300 font 'sans,10'
set output '$plot'
set key below horizontal
# Fixed margins keep the time axes of the four panels aligned.
set lmargin at screen 0.08
set rmargin at screen 0.92
set autoscale xfixmax
set multiplot layout 4,1 title 'cebus soak: $(uname -m), $(nproc) cores, ${seconds} s at ${offered} events/s (scripts/soak.sh), $(date -u +%Y-%m-%d): ${verdict}'
set xlabel 'time (s)'
set grid
set ylabel 'memory (MiB)'
set yrange [0:*]
plot '$out/soak.csv' using 1:(\$2/1024) with linespoints title 'resident', \
     '' using 1:(\$3/1024) with linespoints title 'anonymous (excludes the LMDB map)'
set ylabel 'journal file data.mdb (MiB)'
set y2label 'events stored'
set y2range [0:*]
set y2tics
plot '$out/soak.csv' using 1:(\$8/1024) with linespoints title 'data.mdb size', \
     '' using 1:7 axes x1y2 with lines title 'events stored (retention bound)'
unset y2label
unset y2tics
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
  echo "soak: plot in $plot; samples in $out/soak.csv, verdict in $out/soak.json"
fi
exit $status
