#!/bin/sh
# A geodesic between two handwritten digits (8x8 images, D = 64) under the stein metric of a
# score model trained on the digits, drawn as a row of images next to the straight (pixel-wise
# linear) interpolation between the same two images.
#
# Usage: digits-geodesic.sh [BIN_DIR] [OUT_DIR] [FROM_LABEL] [TO_LABEL]
#   BIN_DIR     directory with score-train, geodesic and metric-eval (default: build/bin)
#   OUT_DIR     where the model, path and picture go (default: build/demo)
#   FROM_LABEL  digit class of the start image, its first example in the data (default 1)
#   TO_LABEL    digit class of the end image (default 7)
# Training takes most of the time. The geodesic itself needs about a CPU second, because the
# trained network gives the solver exact Jacobian-vector products.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/bin}
out=${2:-build/demo}
from=${3:-1}
to=${4:-7}
data="$here/../data/digits.csv.gz"
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1

# Grey levels are integers 0..16 and some pixels are always 0, so uniform noise in [0, 1)
# (dequantisation) gives a continuous density and no constant column.
echo "digits: [1/4] training a score model on 1797 dequantised 8x8 digits"
gzip -dc "$data" | awk -F, 'BEGIN { srand(1); OFS = "," } { for (i = 1; i <= 64; i++) $i = $i + rand(); NF = 64; print }' \
    > "$out/digits-train.csv"
"$bin/score-train" "$out/digits-train.csv" -o "$out/digits-model.h5" --steps 5000 --width 256 --seed 1 -q

echo "digits: [2/4] solving the geodesic from the first $from to the first $to"
gzip -dc "$data" | awk -F, -v a="$from" -v b="$to" '
    $65 == a && first == "" { for (i = 1; i <= 64; i++) first = first ($i + 0.5) " " }
    $65 == b && last == "" { for (i = 1; i <= 64; i++) last = last ($i + 0.5) " " }
    END { print first last }' > "$out/digits-pair.txt"
"$bin/geodesic" -m "$out/digits-model.h5" --sigma 0.2 --nodes 65 --pairs "$out/digits-pair.txt" \
    --paths "$out/digits-geodesic.tsv" -q > "$out/digits-geodesic-length.tsv"

echo "digits: [3/4] measuring the straight interpolation under the same metric"
awk '{ for (k = 0; k <= 64; k++) { t = k / 64; printf "0\t%g", t
          for (i = 1; i <= 64; i++) printf "\t%.6g", $i + t * ($(i + 64) - $i); printf "\n" } }' \
    "$out/digits-pair.txt" > "$out/digits-straight.tsv"
"$bin/metric-eval" -m "$out/digits-model.h5" --sigma 0.2 --curves "$out/digits-straight.tsv" -q \
    > "$out/digits-straight-length.tsv"
echo "digits: length of the geodesic $(awk 'NR == 2 { print $2 }' "$out/digits-geodesic-length.tsv"), of the straight interpolation $(awk 'NR == 2 { print $1 }' "$out/digits-straight-length.tsv")"

echo "digits: [4/4] drawing $out/digits-geodesic.png"
# Nine frames per row (t = 0, 1/8, .., 1), each as an 8 x 8 matrix block: frame f, row r is
# line f * 9 + r of a matrix file that gnuplot reads with `matrix`.
frames() {
    awk -F'\t' '$1 != "pair" && ($2 * 8) == int($2 * 8) { for (r = 0; r < 8; r++) {
            for (c = 1; c <= 8; c++) printf "%s%.4g", (c > 1 ? " " : ""), $(2 + r * 8 + c); printf "\n" }
        printf "\n\n" }' "$1"
}
frames "$out/digits-geodesic.tsv" > "$out/digits-geodesic-frames.txt"
frames "$out/digits-straight.tsv" > "$out/digits-straight-frames.txt"
gnuplot -e "geodesic='$out/digits-geodesic-frames.txt'; straight='$out/digits-straight-frames.txt'; output='$out/digits-geodesic.png'" \
    "$here/digits-geodesic.gp"
echo "digits: done; open $out/digits-geodesic.png"
