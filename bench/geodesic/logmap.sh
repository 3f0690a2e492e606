#!/bin/bash
# Log-map benchmark on float32 networks: `geodesic --log` on score-train models of Old Faithful
# and of iris, with the precision-derived default tolerances and, on Faithful, with the fixed
# double-precision ones (--ode-tolerance 1e-10 --shooting-tolerance 1e-9), side by side.
#
# Pairs: Faithful rows k and 100 + k for k = 1..20 (data rows, header excluded); iris rows
# (1, 51), (1, 101), (51, 101), (11, 61), (11, 111), (61, 111), pairs across the species.
# Models: score-train --steps 1500 --seed 1 on faithful.csv and on iris's four measurements.
#
# Usage: bench/geodesic/logmap.sh BUILD_BIN IRIS_CSV [REPEATS]
#   IRIS_CSV: Fisher's iris as R's datasets package exports it (header, 4 measurements, species).
# Prints, per run, the pairs converged and the CPU seconds (user + system) of the process.
set -eu
bin=${1:?usage: logmap.sh BUILD_BIN IRIS_CSV [REPEATS]}
iris=${2:?usage: logmap.sh BUILD_BIN IRIS_CSV [REPEATS]}
repeats=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../share/data/faithful.csv"
work=$(mktemp -d "${TMPDIR:-/tmp}/logmap-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

cut -d, -f1-4 "$iris" > "$work/iris.csv"
awk -F, 'NR > 1 { print $1, $2 }' "$data" > "$work/faithful-points.txt"
paste -d ' ' <(sed -n 1,20p "$work/faithful-points.txt") <(sed -n 101,120p "$work/faithful-points.txt") \
    > "$work/faithful-pairs.txt"
awk -F, 'NR > 1 { print $1, $2, $3, $4 }' "$work/iris.csv" > "$work/iris-points.txt"
for pair in "1 51" "1 101" "51 101" "11 61" "11 111" "61 111"; do
    set -- $pair
    echo "$(sed -n "${1}p" "$work/iris-points.txt") $(sed -n "${2}p" "$work/iris-points.txt")"
done > "$work/iris-pairs.txt"
"$bin/score-train" "$data" -o "$work/faithful.h5" --steps 1500 --seed 1 -q
"$bin/score-train" "$work/iris.csv" -o "$work/iris.h5" --steps 1500 --seed 1 -q
echo "machine: $(nproc) cores, $(uname -m); load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME MODEL PAIRS [OPTIONS...]: one --log run, its converged pairs and CPU seconds.
run() {
    local name=$1 model=$2 pairs=$3
    shift 3
    /usr/bin/time -f "%U %S" -o "$work/time" "$bin/geodesic" -q -m "$model" --log --pairs "$pairs" \
        --allow-unconverged -o "$work/out.tsv" "$@"
    local converged total
    converged=$(awk -F'\t' 'NR > 1 { n += $NF } END { print n + 0 }' "$work/out.tsv")
    total=$(($(wc -l < "$work/out.tsv") - 1))
    awk -v name="$name" -v c="$converged" -v t="$total" '{ printf "%-34s %2d of %2d converged, CPU %7.2f s\n", name, c, t, $1 + $2 }' \
        "$work/time"
}

for repeat in $(seq "$repeats"); do
    echo "repeat $repeat"
    run "faithful, default tolerances" "$work/faithful.h5" "$work/faithful-pairs.txt"
    run "faithful, 1e-10 and 1e-9" "$work/faithful.h5" "$work/faithful-pairs.txt" --ode-tolerance 1e-10 \
        --shooting-tolerance 1e-9
    run "iris, default tolerances" "$work/iris.h5" "$work/iris-pairs.txt"
done
