#!/bin/sh
# Plot the JSON figures that the bench programs write with --json FILE.
#
# usage: scripts/plot_benchmarks.sh OUTDIR FILE.json...
#
# Each FILE is recognised by its content: bench_codec ("benchmark": "codec"),
# bench_cesql ("benchmark": "cesql") or bench_bus (keys "sync_N", "async_*",
# "latency_*_us"). For each it writes PNG charts into OUTDIR:
#   codec.png          ns per event, cebus against nlohmann/json
#   cesql.png          ns per evaluation, CESQL against a hand-written predicate
#   bus_sync.png       ns per publish with N sync subscribers, against a
#                      std::function loop and Boost.Signals2
#   bus_async.png      events per second through one async subscriber, against
#                      a raw moodycamel queue and a mutex queue
#   bus_latency.png    publish-to-handler latency percentiles
# Needs python3 and gnuplot (Debian package gnuplot-nox). Exit status 0 when
# every file was plotted, 1 when a file could not be read or recognised, 2 on
# a usage error.
set -eu

if [ "$#" -lt 2 ]; then
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot_benchmarks.sh: gnuplot not found; install the Debian package gnuplot-nox" >&2
    exit 1
fi

outdir=$1
shift
mkdir -p "$outdir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Python turns each JSON file into data tables and gnuplot scripts; gnuplot
# draws them. Every chart is a clustered bar chart: one group per row, one bar
# per column.
python3 - "$outdir" "$work" "$@" <<'PY'
import json
import pathlib
import sys

outdir, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
failed = False


def chart(name, title, ylabel, columns, rows, logscale=False):
    data = work / f"{name}.dat"
    with data.open("w") as out:
        out.write("label " + " ".join(f'"{c}"' for c in columns) + "\n")
        for label, values in rows:
            out.write(f'"{label}" ' + " ".join(f"{v:.6g}" for v in values) + "\n")
    plot = ", ".join(
        f"'{data}' using {i + 2}:xtic(1) title columnheader({i + 2})" for i in range(len(columns)))
    script = work / f"{name}.gp"
    script.write_text(f"""
set terminal pngcairo size 900,480 font ",11"
set output '{outdir / (name + ".png")}'
set title "{title}"
set ylabel "{ylabel}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left
set yrange [0:*]
{"set logscale y; set yrange [*:*]" if logscale else ""}
plot {plot}
""")


for path in map(pathlib.Path, sys.argv[3:]):
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        print(f"plot_benchmarks.sh: cannot read {path}: {error}", file=sys.stderr)
        failed = True
        continue

    if isinstance(doc, dict) and doc.get("benchmark") == "codec":
        by_name = {r["name"]: r["ns_per_event"] for r in doc["results"]}
        names = list(by_name)
        decode = [n for n in names if "decode" in n or "parse" in n]
        encode = [n for n in names if n not in decode]
        rows = [("decode / parse", [by_name[n] for n in decode]),
                ("encode / dump", [by_name[n] for n in encode])]
        chart("codec", "Structured JSON: cebus against nlohmann/json (lower is better)",
              "ns per event", ["cebus", "nlohmann/json"], rows)
    elif isinstance(doc, dict) and doc.get("benchmark") == "cesql":
        rows = [(r["case"], [r["hand_written_ns"], r["matches_ns"], r["evaluate_ns"]]) for r in doc["results"]]
        chart("cesql", "CESQL against a hand-written C++ predicate (lower is better)",
              "ns per evaluation", ["hand-written", "matches()", "evaluate()"], rows)
    elif isinstance(doc, dict) and any(k.startswith("sync_") for k in doc):
        sync = sorted((k for k in doc if k.startswith("sync_")), key=lambda k: int(k.split("_")[1]))
        chart("bus_sync", "Sync publish (lower is better)", "ns per publish",
              ["cebus", "std::function loop", "Boost.Signals2"],
              [(k.split("_")[1] + (" subscriber" if k == "sync_1" else " subscribers"),
                [doc[k]["cebus_ns"], doc[k]["function_loop_ns"], doc[k]["signals2_ns"]]) for k in sync])
        asyncs = [k for k in doc if k.startswith("async_")]
        if asyncs:
            chart("bus_async", "Async 1 producer to 1 subscriber (higher is better)", "million events per second",
                  ["cebus", "raw moodycamel queue", "mutex queue"],
                  [(k.replace("async_", "events "), [doc[k]["cebus_per_s"] / 1e6, doc[k]["raw_moodycamel_per_s"] / 1e6,
                                                     doc[k]["mutex_queue_per_s"] / 1e6]) for k in asyncs])
        latency = [k for k in ("latency_spinning_us", "latency_parked_us") if k in doc]
        if latency:
            chart("bus_latency", "Publish-to-handler latency (lower is better)", "microseconds (log scale)",
                  ["p50", "p99", "p99.9"],
                  [(k.split("_")[1] + " worker", [doc[k]["p50"], doc[k]["p99"], doc[k]["p999"]]) for k in latency],
                  logscale=True)
    else:
        print(f"plot_benchmarks.sh: {path} is not the output of bench_codec, bench_cesql or bench_bus",
              file=sys.stderr)
        failed = True

(work / "failed").write_text("1" if failed else "0")
PY

for script in "$work"/*.gp; do
    [ -e "$script" ] || continue
    gnuplot "$script"
done
if [ "$(cat "$work/failed")" = 1 ]; then
    exit 1
fi
