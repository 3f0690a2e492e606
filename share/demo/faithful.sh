#!/bin/sh
# The scorekit demo on the Old Faithful data: fit a score model, draw 2,000 samples with annealed
# Langevin dynamics, evaluate the learned score field on a grid, and draw all three in one PNG.
#
# Usage: faithful.sh [BIN_DIR] [OUT_DIR]
#   BIN_DIR  directory with score-train, langevin and metric-eval (default: build/bin)
#   OUT_DIR  where the model, samples and picture go (default: build/demo)
# About a minute on 2 cores.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/bin}
out=${2:-build/demo}
data="$here/../data/faithful.csv"
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1

echo "demo: [1/4] fitting a score model to $data"
"$bin/score-train" "$data" -o "$out/faithful-model.h5" --steps 10000 --batch-size 256 --seed 1

echo "demo: [2/4] drawing 2000 samples with annealed Langevin dynamics"
"$bin/langevin" -m "$out/faithful-model.h5" --method annealed --chains 2000 --steps 100 --denoise --seed 1 \
    -q > "$out/faithful-samples.tsv"

echo "demo: [3/4] evaluating the learned score on a grid"
awk 'BEGIN { for (i = 0; i <= 24; i++) for (j = 0; j <= 24; j++) printf "%.4f\t%.4f\n", 1.3 + i * 0.16, 40 + j * 2.3 }' \
    > "$out/faithful-grid.tsv"
"$bin/metric-eval" -m "$out/faithful-model.h5" --score -q "$out/faithful-grid.tsv" > "$out/faithful-score.tsv"
paste "$out/faithful-grid.tsv" "$out/faithful-score.tsv" > "$out/faithful-field.tsv"

echo "demo: [4/4] drawing $out/faithful.png"
tail -n +2 "$data" | tr ',' '\t' > "$out/faithful-data.tsv"
gnuplot -e "datafile='$out/faithful-data.tsv'; samples='$out/faithful-samples.tsv'; field='$out/faithful-field.tsv'; output='$out/faithful.png'" \
    "$here/faithful.gp"
echo "demo: done; open $out/faithful.png"
