#!/bin/sh
# Geodesics between the two Old Faithful clusters under a trained score model, drawn over a
# kernel density estimate of the data together with the straight segments they replace.
#
# Usage: faithful-geodesics.sh [BIN_DIR] [OUT_DIR] [MODEL] [SIGMA]
#   BIN_DIR  directory with score-train, geodesic and metric-eval (default: build/bin)
#   OUT_DIR  where the paths and picture go (default: build/demo)
#   MODEL    a score model of faithful.csv (default: OUT_DIR/faithful-model.h5, trained if missing)
#   SIGMA    noise level of the score in standardised units (default 0.1); the smallest trained
#            level gives a sharper metric with more winding paths
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/bin}
out=${2:-build/demo}
model=${3:-$out/faithful-model.h5}
sigma=${4:-0.1}
data="$here/../data/faithful.csv"
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1

if [ ! -f "$model" ]; then
    echo "geodesics: [0/3] fitting a score model to $data"
    "$bin/score-train" "$data" -o "$model" --steps 10000 --batch-size 256 --seed 1 -q
fi

# Pairs: the k-th short eruption (< 3 min) with the k-th long one, for the first six of each.
echo "geodesics: [1/3] solving 6 geodesics between the clusters under the stein metric at sigma $sigma"
awk -F, 'NR > 1 && $1 < 3 && s < 6 { short[++s] = $1 " " $2 } NR > 1 && $1 >= 3 && l < 6 { long[++l] = $1 " " $2 }
    END { for (k = 1; k <= 6; k++) print short[k], long[k] }' "$data" > "$out/faithful-pairs.txt"
"$bin/geodesic" -m "$model" --sigma "$sigma" --pairs "$out/faithful-pairs.txt" --paths "$out/faithful-geodesics.tsv" -q \
    > "$out/faithful-geodesic-lengths.tsv"
awk '{ for (k = 0; k <= 100; k++) { t = k / 100; printf "%d\t%g\t%.10g\t%.10g\n", NR - 1, t, $1 + t * ($3 - $1), $2 + t * ($4 - $2) } }' \
    "$out/faithful-pairs.txt" > "$out/faithful-straight.tsv"
"$bin/metric-eval" -m "$model" --sigma "$sigma" --curves "$out/faithful-straight.tsv" -q > "$out/faithful-straight-lengths.tsv"
echo "geodesics: lengths under the metric (geodesic vs straight segment):"
paste "$out/faithful-geodesic-lengths.tsv" "$out/faithful-straight-lengths.tsv" |
    awk 'NR > 1 { printf "  pair %d: %.3f vs %.3f\n", $1, $2, $6 }'

echo "geodesics: [2/3] estimating the data density on a grid"
awk -F, 'NR > 1 { n++; ex[n] = $1; wt[n] = $2 }
    END { for (i = 0; i <= 80; i++) for (j = 0; j <= 80; j++) {
              x = 1.3 + i * 0.04875; y = 40 + j * 0.7125; s = 0
              for (k = 1; k <= n; k++) { u = (x - ex[k]) / 0.25; v = (y - wt[k]) / 3; s += exp(-(u * u + v * v) / 2) }
              printf "%.5f\t%.5f\t%.6g\n", x, y, s / (n * 2 * 3.14159265 * 0.25 * 3) } }' "$data" > "$out/faithful-density.tsv"

echo "geodesics: [3/3] drawing $out/faithful-geodesics.png"
tail -n +2 "$data" | tr ',' '\t' > "$out/faithful-data.tsv"
gnuplot -e "density='$out/faithful-density.tsv'; datafile='$out/faithful-data.tsv'; geodesics='$out/faithful-geodesics.tsv'; straight='$out/faithful-straight.tsv'; output='$out/faithful-geodesics.png'" \
    "$here/faithful-geodesics.gp"
echo "geodesics: done; open $out/faithful-geodesics.png"
