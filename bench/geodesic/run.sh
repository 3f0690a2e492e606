#!/bin/bash
# Geodesic benchmark: scorekit's geodesic against Stochman, side by side in one run.
#
# 200 boundary-value geodesics between random pairs of faithful.csv points under the stein
# metric (lambda = 1) of the same analytic two-component Gaussian mixture (fitted here to the two
# eruption clusters). Accuracy is the relative length error against a fine reference: scorekit
# with 801 and 1601 nodes, Richardson-extrapolated. Both sides run single-threaded.
#
# Usage: bench/geodesic/run.sh BUILD_BIN STOCHMAN_DIR [PAIRS]
#   BUILD_BIN     directory with the built geodesic tool
#   STOCHMAN_DIR  an unpacked copy of github.com/MachineLearningLifeScience/stochman, used only
#                 for measurement (never committed)
#   STOCHMAN_FIRST=1 in the environment runs Stochman's settings before scorekit's, so that
#                 repeated runs can alternate which side meets the machine's load first.
# Stochman runs with Debian's python3-torch (/usr/bin/python3). Times are wall seconds and CPU
# seconds (user + system): scorekit's for the whole process, Stochman's for the solve only.
set -eu
bin=${1:?usage: run.sh BUILD_BIN STOCHMAN_DIR [PAIRS]}
stochman=${2:?usage: run.sh BUILD_BIN STOCHMAN_DIR [PAIRS]}
count=${3:-200}
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../share/data/faithful.csv"
work=$(mktemp -d "${TMPDIR:-/tmp}/geodesic-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
python=/usr/bin/python3

. "$here/faithful_mixture.sh"
spec=$(faithful_mixture "$data")
faithful_pairs "$data" "$count" > "$work/pairs.txt"
echo "model: $spec"
echo "pairs: $count random pairs of faithful.csv points; machine: $(nproc) cores, $(uname -m)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# seconds COMMAND...: runs a command (a shell function that times itself through `timed`) and
# prints the wall and CPU (user + system) seconds of its timed program as "WALL CPU".
seconds() {
    "$@" > "$work/stdout"
    awk '{ printf "%.3f %.3f", $1, $2 + $3 }' "$work/time"
}

# timed PROGRAM...: runs PROGRAM under GNU time, which writes "WALL USER SYSTEM" to $work/time.
timed() {
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$@"
}

ours() {  # ours NODES PAIRS_FILE OUTPUT: lengths to OUTPUT, converged flags to OUTPUT.flags
    timed "$bin/geodesic" -m "$spec" --pairs "$2" --nodes "$1" -q --allow-unconverged > "$work/table"
    awk 'NR > 1 { print $2 }' "$work/table" > "$3"
    awk 'NR > 1 { print $5 }' "$work/table" > "$3.flags"
}

# error_stats LENGTHS: median and max relative error against the reference.
error_stats() {
    paste "$1" "$work/reference.txt" | awk '{ e = ($1 - $2) / $2; if (e < 0) e = -e; print e }' | sort -g |
        awk '{ v[NR] = $1 } END { printf "%.2e %.2e", v[int((NR + 1) / 2)], v[NR] }'
}

ours 801 "$work/pairs.txt" "$work/r801.txt"
ours 1601 "$work/pairs.txt" "$work/r1601.txt"
paste "$work/r801.txt" "$work/r1601.txt" | awk '{ printf "%.17g\n", (4 * $2 - $1) / 3 }' > "$work/reference.txt"

# Fixed cost of one geodesic run (process start, shared libraries, one trivial pair).
echo "0 0 1 1" > "$work/one.txt"
echo "scorekit start-up (one trivial pair), wall and CPU s: $(seconds ours 3 "$work/one.txt" "$work/scratch.txt")"
echo "errors: |L - L_ref| / L_ref over the pairs; scorekit times include start-up;"
echo "Stochman times cover the solve only (after imports), its lengths are measured on 4000 segments"

# Each row: label, wall seconds, CPU seconds, median and max relative error, pairs flagged
# unconverged.
printf '\n%-52s %8s %8s %11s %11s %8s\n' "solver" "wall s" "CPU s" "median err" "max err" "flagged"
: > "$work/results"
report() {  # report LABEL "WALL CPU" LENGTHS FLAGGED
    local stats
    stats=$(error_stats "$3")
    printf '%-52s %8s %8s %11s %11s %8s\n' "$1" $2 $stats "$4"
    printf '%s\t%s\t%s\t%s\n' "$1" "$(echo $2 | tr ' ' '\t')" "$(echo $stats | tr ' ' '\t')" "$4" >> "$work/results"
}
scorekit_side() {
    for nodes in 17 33 65 129 257 385 513; do
        times=$(seconds ours "$nodes" "$work/pairs.txt" "$work/ours$nodes.txt")
        report "scorekit geodesic, $nodes nodes" "$times" "$work/ours$nodes.txt" \
            "$(grep -c '^0' "$work/ours$nodes.txt.flags" || true)"
    done
}
stochman_side() {
    for setting in "5 20 150" "9 40 500" "17 80 1000"; do
        set -- $setting
        # The script prints: solve wall seconds, solve CPU seconds, pairs flagged converged.
        result=($($python "$here/stochman_side.py" "$stochman" "$spec" "$work/pairs.txt" "$1" "$2" "$3" "$work/st.txt"))
        report "Stochman spline $1 nodes, grid $2, $3 Adam steps" "${result[0]} ${result[1]}" "$work/st.txt" \
            "$([ "${result[2]}" -gt 0 ] && echo 0 || echo all)"
    done
}
if [ "${STOCHMAN_FIRST:-0}" = 1 ]; then
    stochman_side
    scorekit_side
else
    scorekit_side
    stochman_side
fi

# For each Stochman setting, the fastest scorekit run with median and max error no larger.
echo
echo "speed-up at equal or better accuracy (median and max error both no larger), wall and CPU:"
# The file is read twice: first for scorekit's rows, then for Stochman's, in either run order.
awk -F'\t' 'FNR == NR { if ($1 ~ /^scorekit/) { n++; label[n] = $1; t[n] = $2; c[n] = $3; med[n] = $4; top[n] = $5 }
                         next }
    $1 ~ /^scorekit/ { next }
    { best = 0; for (k = 1; k <= n; k++) if (med[k] <= $4 && top[k] <= $5 && (best == 0 || t[k] < t[best])) best = k
      if (best) printf "  %s: %s in %.3f s vs %.3f s wall, ratio %.1f; CPU %.3f s vs %.3f s, ratio %.1f\n",
                       $1, label[best], t[best], $2, $2 / t[best], c[best], $3, $3 / c[best]
      else printf "  %s: no scorekit run reached its accuracy\n", $1 }' "$work/results" "$work/results"

echo
echo "scaling of scorekit with nodes T ($count pairs) and with pairs (33 nodes), wall and CPU s:"
for nodes in 33 65 129 257 513; do
    printf '  T = %-5s %s\n' "$nodes" "$(seconds ours "$nodes" "$work/pairs.txt" "$work/scratch.txt")"
done
for n in 50 100 200 400 800; do
    awk -v n="$n" 'NR <= n' "$work/pairs.txt" > "$work/some.txt"
    while [ "$(wc -l < "$work/some.txt")" -lt "$n" ]; do cat "$work/pairs.txt" >> "$work/some.txt"; done
    head -n "$n" "$work/some.txt" > "$work/n.txt"
    printf '  pairs = %-5s %s\n' "$n" "$(seconds ours 33 "$work/n.txt" "$work/scratch.txt")"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
