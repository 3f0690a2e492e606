#!/usr/bin/env bash
# Benchmark metric-eval against the same computation in PyTorch (metric_reference.py), side by side.
#
# Usage: bench/metric/run.sh BIN_DIR [--rounds N] [--quick]
#
# BIN_DIR contains the built score-train and metric-eval; this script builds nothing. It trains two
# score models with score-train (Old Faithful, D = 2, and dequantised 8x8 digits, D = 64) and
# runs five workloads on both sides:
#   stein-2d, stein-64d        log det g and |v|_g for g = I + s s^T, one tangent vector per point
#   pullback-2d, pullback-64d  log det g for g = I + J^T J with the exact score Jacobian
#   curves-2d                  length and energy of 101-knot polylines, stein metric
# Each workload runs at a small and a large size; the rate is (large - small) / (time difference),
# so start-up (loading libraries, importing torch, training nothing) cancels out. Times are CPU
# seconds (user + system, GNU time); rounds alternate which side runs first; the table shows
# medians. Both sides use one thread (OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1,
# torch.set_num_threads(1)). The last lines compare the results of the large runs.
set -euo pipefail

usage() {
    echo "usage: $0 BIN_DIR [--rounds N] [--quick]" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
bin_dir=$(cd "$1" && pwd)
shift
rounds=3
quick=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        *) usage ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
data=$(cd "$here/../.." && pwd)/share/data
python=/usr/bin/python3  # Debian's python3-torch, because a python3 earlier on PATH may lack torch
for tool in score-train metric-eval; do
    [[ -x $bin_dir/$tool ]] || { echo "$0: $bin_dir/$tool not found: build it first" >&2; exit 1; }
done
"$python" -c 'import torch, h5py' || { echo "$0: $python cannot import torch and h5py" >&2; exit 1; }

export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
work=$(mktemp -d /tmp/scorekit-bench-metric.XXXXXX)
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv  # workload, side, round, size, CPU s

# Sizes (small, large) per workload; --quick only checks that the script runs.
declare -A small large
if [[ $quick == 1 ]]; then
    train_steps=200
    small=([stein-2d]=1000 [pullback-2d]=1000 [stein-64d]=200 [pullback-64d]=50 [curves-2d]=20)
    large=([stein-2d]=5000 [pullback-2d]=5000 [stein-64d]=1000 [pullback-64d]=250 [curves-2d]=100)
else
    train_steps=2000
    small=([stein-2d]=100000 [pullback-2d]=20000 [stein-64d]=10000 [pullback-64d]=1000 [curves-2d]=200)
    large=([stein-2d]=1100000 [pullback-2d]=220000 [stein-64d]=110000 [pullback-64d]=11000 [curves-2d]=10200)
fi
workloads=(stein-2d pullback-2d stein-64d pullback-64d curves-2d)

echo "training the Old Faithful and digits models ($train_steps steps each)" >&2
gzip -dc "$data/digits.csv.gz" | awk -F, 'BEGIN { srand(1); OFS = "," } { for (i = 1; i <= 64; i++) $i = $i + rand(); NF = 64; print }' \
    >"$work/digits.csv"
"$bin_dir/score-train" "$data/faithful.csv" -o "$work/model-2d.h5" --steps $train_steps --seed 1 -q
"$bin_dir/score-train" "$work/digits.csv" -o "$work/model-64d.h5" --steps $train_steps --width 256 --seed 1 -q

# Inputs: points near the data (a data row plus Gaussian noise of a tenth of each column's spread),
# one standard normal tangent vector per point, and polylines between two such points whose inner
# knots are pushed off the chord.
"$python" - "$work" "$data/faithful.csv" "$work/digits.csv" \
    "${large[stein-2d]}" "${large[pullback-2d]}" "${large[stein-64d]}" "${large[pullback-64d]}" "${large[curves-2d]}" \
    "${small[stein-2d]}" "${small[pullback-2d]}" "${small[stein-64d]}" "${small[pullback-64d]}" "${small[curves-2d]}" <<'EOF'
import sys
import h5py
import numpy as np

work, faithful, digits = sys.argv[1:4]
names = ["stein-2d", "pullback-2d", "stein-64d", "pullback-64d", "curves-2d"]
large = dict(zip(names, map(int, sys.argv[4:9])))
small = dict(zip(names, map(int, sys.argv[9:14])))
rng = np.random.default_rng(1)
tables = {"2d": np.loadtxt(faithful, delimiter=",", skiprows=1), "64d": np.loadtxt(digits, delimiter=",")}

def near_data(table, count):
    rows = table[rng.integers(0, len(table), count)]
    return rows + 0.1 * table.std(axis=0) * rng.standard_normal(rows.shape)

for name in names:
    table = tables[name.split("-")[1]]
    if name.startswith("curves"):
        ends = near_data(table, 2 * large[name]).reshape(large[name], 2, -1)
        t = np.linspace(0, 1, 101)[None, :, None]
        bend = np.sin(np.pi * t) * 0.2 * table.std(axis=0) * rng.standard_normal((large[name], 1, table.shape[1]))
        arrays = {"curves": ends[:, :1] * (1 - t) + ends[:, 1:] * t + bend}
    else:
        points = near_data(table, large[name])
        arrays = {"points": points, "vectors": rng.standard_normal(points.shape)}
    for size, count in (("small", small[name]), ("large", large[name])):
        with h5py.File(f"{work}/{name}-{size}.h5", "w") as file:
            for key, values in arrays.items():
                file[key] = values[:count]
EOF

# Runs one side of one workload under GNU time and appends its CPU seconds to the results.
measure() {
    local workload=$1 side=$2 round=$3 size=$4
    shift 4
    local log=$work/$workload.$side.$round.$size.log
    if ! /usr/bin/time -f '%U %S' -o "$log.time" "$@" >"$log" 2>&1; then
        echo "$0: command failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
    read -r user system <"$log.time"
    printf '%s\t%s\t%s\t%s\t%s\n' "$workload" "$side" "$round" "$size" "$(echo "$user + $system" | bc)" >>"$results"
}

run_scorekit() {  # workload round size
    local input=$work/$1-$3.h5 model=$work/model-${1##*-}.h5 out=$work/$1-$3-scorekit.h5
    case $1 in
        stein-*) args=("$input:/points" --vectors "$input:/vectors" --logdet) ;;
        pullback-*) args=("$input:/points" --metric pullback --logdet) ;;
        curves-*) args=(--curves "$input:/curves") ;;
    esac
    measure "$1" scorekit "$2" "$3" "$bin_dir/metric-eval" -m "$model" "${args[@]}" -o "$out" -q
}
run_pytorch() {
    local input=$work/$1-$3.h5 model=$work/model-${1##*-}.h5 out=$work/$1-$3-pytorch.h5
    measure "$1" pytorch "$2" "$3" "$python" "$here/metric_reference.py" -m "$model" --workload "${1%-*}" \
        --input "$input" -o "$out"
}

for ((round = 1; round <= rounds; ++round)); do
    echo "round $round of $rounds" >&2
    if ((round % 2)); then sides=(scorekit pytorch); else sides=(pytorch scorekit); fi
    for workload in "${workloads[@]}"; do
        for size in small large; do
            for side in "${sides[@]}"; do "run_$side" "$workload" "$round" "$size"; done
        done
    done
done

echo
echo "metric-eval vs PyTorch $("$python" -c 'import torch; print(torch.__version__)'), 1 thread, $rounds rounds," \
    "median; rate = points (curves) per CPU second"
sizes=$(for w in "${workloads[@]}"; do printf '%s=%s:%s ' "$w" "${small[$w]}" "${large[$w]}"; done)
awk -v sizes="$sizes" '
    function median(list,    n, values, i, j, t) {
        n = split(list, values, " ")
        for (i = 2; i <= n; ++i) for (j = i; j > 1 && values[j - 1] > values[j]; --j) {
            t = values[j]; values[j] = values[j - 1]; values[j - 1] = t
        }
        return n % 2 ? values[(n + 1) / 2] : (values[n / 2] + values[n / 2 + 1]) / 2
    }
    BEGIN {
        n = split(sizes, entries, " ")
        for (i = 1; i <= n; ++i) {
            split(entries[i], kv, "="); split(kv[2], counts, ":")
            order[i] = kv[1]; work[kv[1]] = counts[2] - counts[1]
        }
        count = n
    }
    { cpu[$1 SUBSEP $2 SUBSEP $3 SUBSEP $4] = $5; seen[$1 SUBSEP $2 SUBSEP $3] = 1 }
    END {
        printf "%-13s %16s %16s %8s   %s\n", "workload", "scorekit rate", "pytorch rate", "ratio", "per-round ratios"
        for (i = 1; i <= count; ++i) {
            w = order[i]; rates["scorekit"] = ""; rates["pytorch"] = ""; ratios = ""
            for (r = 1; ((w, "scorekit", r) in seen); ++r) {
                for (s = 0; s < 2; ++s) {
                    side = s ? "pytorch" : "scorekit"
                    t[side] = cpu[w, side, r, "large"] - cpu[w, side, r, "small"]
                    rates[side] = rates[side] " " work[w] / t[side]
                }
                ratios = ratios sprintf(" %.1f", t["pytorch"] / t["scorekit"])
            }
            a = median(rates["scorekit"]); b = median(rates["pytorch"])
            printf "%-13s %16.0f %16.0f %7.1fx  %s\n", w, a, b, a / b, ratios
        }
    }' "$results"

# Agreement of the large runs: the largest relative difference per output.
echo
"$python" - "$work" "${workloads[@]}" <<'EOF'
import sys
import h5py
import numpy as np

work, workloads = sys.argv[1], sys.argv[2:]
for workload in workloads:
    with h5py.File(f"{work}/{workload}-large-scorekit.h5", "r") as ours, \
         h5py.File(f"{work}/{workload}-large-pytorch.h5", "r") as theirs:
        for name in theirs:
            a, b = ours[name][:], theirs[name][:]
            worst = np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))
            print(f"{workload:13s} {name:13s} {len(b):8d} values, largest relative difference {worst:.2e}")
EOF
