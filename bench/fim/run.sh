#!/bin/bash
# Benchmark fim against nngeometry: the exact Fisher of MLP classifiers in the diag, kfac and
# dense representations, both sides on the same models, inputs, precision and one thread.
#
# Usage: bench/fim/run.sh NNGEOMETRY_DIR [BUILD_DIR]
#   NNGEOMETRY_DIR  a checkout of github.com/tfjgeorge/nngeometry (used from there, never copied)
#   BUILD_DIR       scorekit build directory with bin/fim (default: build)
# Environment: WORK (default /tmp/fim-bench), REPEATS (3), PYTHON (/usr/bin/python3),
#              PRECISIONS ("float64 float32").
#
# Prints one row per case. fim_wall_s is fim's process wall time from start to exit, including
# LibTorch loading and HDF5 output, and fim_compute_s its compute time from its -v log. nngeom_s
# is nngeometry's in-process time for the FIM call. Then come the ratios nngeometry / fim and the
# largest relative difference of the values.
set -eu
NNG=${1:?usage: run.sh NNGEOMETRY_DIR [BUILD_DIR]}
BUILD=${2:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/fim-bench}
REPEATS=${REPEATS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
PRECISIONS=${PRECISIONS:-"float64 float32"}
DIGITS=${DIGITS:-$HERE/../../../shared/data/digits.csv.gz}
FIM=$(cd "$BUILD" && pwd)/bin/fim
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

mkdir -p "$WORK"
[ -f "$WORK/inputs.h5" ] || "$PYTHON" "$HERE/prepare.py" "$DIGITS" "$WORK"

# run_fim MODEL INPUTS REPRESENTATION PRECISION: sets fim_wall and fim_compute (minimum over repeats).
run_fim() {
    local single="" start end wall compute
    [ "$4" = float32 ] && single="--single"
    fim_wall=inf fim_compute=inf
    for _ in $(seq "$REPEATS"); do
        start=$(date +%s.%N)
        "$FIM" -m "$WORK/$1.pt" -i "$WORK/inputs.h5:/$2" -e exact -r "$3" --reduction mean --batch-size 128 \
            --threads 1 $single -v -o "$WORK/fim_$3.h5" > /dev/null 2> "$WORK/fim.log"
        end=$(date +%s.%N)
        wall=$(echo "$end - $start" | bc -l)
        compute=$(sed -n 's/.*computed in \([0-9.e+-]*\) s.*/\1/p' "$WORK/fim.log")
        fim_wall=$(echo "$wall $fim_wall" | awk '{ print ($1 < $2 || $2 == "inf") ? $1 : $2 }')
        fim_compute=$(echo "$compute $fim_compute" | awk '{ print ($1 < $2 || $2 == "inf") ? $1 : $2 }')
    done
}

printf "%-13s %-7s %-5s %-8s %10s %11s %11s %9s %9s %10s\n" model inputs rep dtype fim_wall_s fim_compute_s \
    nngeom_s ratio_wall ratio_comp max_rel_err
for precision in $PRECISIONS; do
    for case in "digits_mlp digits diag" "digits_mlp digits kfac" "wide_mlp random diag" "wide_mlp random kfac" \
                "digits_small digits dense"; do
        set -- $case
        run_fim "$1" "$2" "$3" "$precision"
        theirs=$("$PYTHON" "$HERE/nngeometry_side.py" "$NNG" "$WORK" "$1" "$2" "$3" "$precision" "$REPEATS" \
                 "$WORK/nngeometry_$3.h5")
        error=$("$PYTHON" "$HERE/compare.py" "$WORK/fim_$3.h5" "$WORK/nngeometry_$3.h5" "$3")
        printf "%-13s %-7s %-5s %-8s %10.3f %11.3f %11.3f %9.2f %9.2f %10s\n" "$1" "$2" "$3" "$precision" \
            "$fim_wall" "$fim_compute" "$theirs" "$(echo "$theirs / $fim_wall" | bc -l)" \
            "$(echo "$theirs / $fim_compute" | bc -l)" "$error"
    done
done
