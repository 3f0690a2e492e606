#!/bin/bash
# Benchmark fim against nngeometry: the exact Fisher of MLP classifiers in the diag, kfac and
# dense representations, both sides on the same models, inputs, precision and one thread.
#
# Usage: bench/fim/run.sh NNGEOMETRY_DIR [BUILD_DIR]
#   NNGEOMETRY_DIR  a checkout of github.com/tfjgeorge/nngeometry (used from there, never copied)
#   BUILD_DIR       scorekit build directory with bin/fim (default: build)
# Environment: WORK (default /tmp/fim-bench), REPEATS (3), PYTHON (/usr/bin/python3),
#              PRECISIONS ("float64 float32"), CASES (all five cases, "MODEL:INPUTS:REP ...").
#
# Each side runs as its own process per repeat, and the sides alternate (odd repeats start with
# fim, even repeats with nngeometry), so both see the same load. Per case it prints two kinds of
# comparison, each as the minimum over the repeats with the maximum after a slash:
#   compute  CPU seconds (user + system) of the Fisher computation alone: fim's "computed in"
#            line of -v, nngeometry's FIM(...) call measured with time.process_time().
#   process  CPU seconds of the whole process from GNU time: fim loading LibTorch, the model and
#            the inputs, computing and writing HDF5; Python importing torch and nngeometry,
#            loading the same model and inputs, computing and writing HDF5.
# plus the whole-process wall seconds, the ratios nngeometry / fim of the minima, and the largest
# relative difference of the values.
set -eu
NNG=${1:?usage: run.sh NNGEOMETRY_DIR [BUILD_DIR]}
BUILD=${2:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/fim-bench}
REPEATS=${REPEATS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
PRECISIONS=${PRECISIONS:-"float64 float32"}
CASES=${CASES:-"digits_mlp:digits:diag digits_mlp:digits:kfac wide_mlp:random:diag wide_mlp:random:kfac digits_small:digits:dense"}
DIGITS=${DIGITS:-$HERE/../../../shared/data/digits.csv.gz}
FIM=$(cd "$BUILD" && pwd)/bin/fim
TIME=/usr/bin/time
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

mkdir -p "$WORK"
[ -f "$WORK/inputs.h5" ] || "$PYTHON" "$HERE/prepare.py" "$DIGITS" "$WORK"

# process_cpu FILE: user + system seconds from a GNU time -f "%e %U %S" file.
process_cpu() { awk '{ print $2 + $3 }' "$1"; }
process_wall() { awk '{ print $1 }' "$1"; }

# run_fim MODEL INPUTS REP PRECISION: appends "compute process_cpu process_wall" to $WORK/fim.times.
run_fim() {
    local single=""
    [ "$4" = float32 ] && single="--single"
    "$TIME" -f "%e %U %S" -o "$WORK/fim.time" "$FIM" -m "$WORK/$1.pt" -i "$WORK/inputs.h5:/$2" -e exact -r "$3" \
        --reduction mean --batch-size 128 --threads 1 $single -v -o "$WORK/fim_$3.h5" > /dev/null 2> "$WORK/fim.log"
    local compute
    compute=$(sed -n 's/.*computed in [0-9.e+-]* s wall, \([0-9.e+-]*\) s CPU.*/\1/p' "$WORK/fim.log")
    echo "$compute $(process_cpu "$WORK/fim.time") $(process_wall "$WORK/fim.time")" >> "$WORK/fim.times"
}

# run_nngeometry MODEL INPUTS REP PRECISION: appends the same three numbers to $WORK/nng.times.
run_nngeometry() {
    local output
    output=$("$TIME" -f "%e %U %S" -o "$WORK/nng.time" "$PYTHON" "$HERE/nngeometry_side.py" "$NNG" "$WORK" "$1" \
             "$2" "$3" "$4" "$WORK/nngeometry_$3.h5")
    echo "$(echo "$output" | awk '{ print $2 }') $(process_cpu "$WORK/nng.time") $(process_wall "$WORK/nng.time")" \
        >> "$WORK/nng.times"
}

# column FILE N: "min/max" of column N.
column() {
    awk -v n="$2" 'NR == 1 || $n < lo { lo = $n } NR == 1 || $n > hi { hi = $n } END { printf "%.3f/%.3f", lo, hi }' "$1"
}
# ratio THEIRS OURS: the ratio of the minima of two "min/max" fields.
ratio() { awk -v a="${1%%/*}" -v b="${2%%/*}" 'BEGIN { printf "%.2f", a / b }'; }

printf "%-12s %-5s %-7s | %-13s %-13s %5s | %-13s %-13s %5s | %-13s %-13s %5s | %s\n" model rep dtype \
    fim_comp_cpu nng_comp_cpu ratio fim_proc_cpu nng_proc_cpu ratio fim_proc_wall nng_proc_wall ratio max_rel_diff
for precision in $PRECISIONS; do
    for case in $CASES; do
        IFS=: read -r model inputs rep <<< "$case"
        rm -f "$WORK/fim.times" "$WORK/nng.times"
        for repeat in $(seq "$REPEATS"); do
            if [ $((repeat % 2)) -eq 1 ]; then
                run_fim "$model" "$inputs" "$rep" "$precision"
                run_nngeometry "$model" "$inputs" "$rep" "$precision"
            else
                run_nngeometry "$model" "$inputs" "$rep" "$precision"
                run_fim "$model" "$inputs" "$rep" "$precision"
            fi
        done
        error=$("$PYTHON" "$HERE/compare.py" "$WORK/fim_$rep.h5" "$WORK/nngeometry_$rep.h5" "$rep")
        fc=$(column "$WORK/fim.times" 1) nc=$(column "$WORK/nng.times" 1)
        fp=$(column "$WORK/fim.times" 2) np=$(column "$WORK/nng.times" 2)
        fw=$(column "$WORK/fim.times" 3) nw=$(column "$WORK/nng.times" 3)
        printf "%-12s %-5s %-7s | %-13s %-13s %5s | %-13s %-13s %5s | %-13s %-13s %5s | %s\n" "$model" "$rep" \
            "$precision" "$fc" "$nc" "$(ratio "$nc" "$fc")" "$fp" "$np" "$(ratio "$np" "$fp")" "$fw" "$nw" \
            "$(ratio "$nw" "$fw")" "$error"
    done
done
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
