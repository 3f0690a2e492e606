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
# Stochman runs with Debian's python3-torch (/usr/bin/python3).
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

# Two-component mixture: weight, mean and full covariance of each eruption cluster.
spec=$(awk -F, 'NR > 1 { c = ($1 < 3) ? 1 : 2; n[c]++; x[c] += $1; y[c] += $2; xx[c] += $1 * $1; yy[c] += $2 * $2; xy[c] += $1 * $2 }
    END { for (c = 1; c <= 2; c++) { mx = x[c] / n[c]; my = y[c] / n[c]
              w[c] = n[c]; m[c] = sprintf("%.6f,%.6f", mx, my)
              v[c] = sprintf("%.6f,%.6f,%.6f,%.6f", xx[c] / n[c] - mx * mx, xy[c] / n[c] - mx * my,
                             xy[c] / n[c] - mx * my, yy[c] / n[c] - my * my) }
          printf "gmm:weights=%d,%d;means=%s/%s;covs=%s/%s", w[1], w[2], m[1], m[2], v[1], v[2] }' "$data")
awk -F, -v count="$count" 'BEGIN { srand(1) } NR > 1 { p[NR - 1] = $1 " " $2 } END {
        for (k = 0; k < count; k++) { i = 1 + int(rand() * (NR - 1)); do j = 1 + int(rand() * (NR - 1)); while (j == i)
            print p[i], p[j] } }' "$data" > "$work/pairs.txt"
echo "model: $spec"
echo "pairs: $count random pairs of faithful.csv points; machine: $(nproc) cores, $(uname -m)"

# seconds COMMAND...: wall time of a command in seconds, its stdout to $work/stdout.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" > "$work/stdout"
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

ours() {  # ours NODES PAIRS_FILE OUTPUT: lengths to OUTPUT, converged flags to OUTPUT.flags
    "$bin/geodesic" -m "$spec" --pairs "$2" --nodes "$1" -q --allow-unconverged > "$work/table"
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
echo "scorekit start-up (one trivial pair): $(seconds ours 3 "$work/one.txt" /dev/null) s"
echo "errors: |L - L_ref| / L_ref over the pairs; scorekit times include start-up;"
echo "Stochman times cover the solve only (after imports), its lengths are measured on 4000 segments"

# Each row: label, wall seconds, median and max relative error, pairs flagged unconverged.
printf '\n%-52s %9s %12s %12s %9s\n' "solver" "wall s" "median err" "max err" "flagged"
: > "$work/results"
report() {  # report LABEL SECONDS LENGTHS FLAGGED
    local stats
    stats=$(error_stats "$3")
    printf '%-52s %9s %12s %12s %9s\n' "$1" "$2" $stats "$4"
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(echo $stats | tr ' ' '\t')" "$4" >> "$work/results"
}
for nodes in 17 33 65 129 257 513; do
    time_taken=$(seconds ours "$nodes" "$work/pairs.txt" "$work/ours$nodes.txt")
    report "scorekit geodesic, $nodes nodes" "$time_taken" "$work/ours$nodes.txt" \
        "$(grep -c '^0' "$work/ours$nodes.txt.flags" || true)"
done
for setting in "5 20 150" "9 40 500" "17 80 1000"; do
    set -- $setting
    result=$($python "$here/stochman_side.py" "$stochman" "$spec" "$work/pairs.txt" "$1" "$2" "$3" "$work/st.txt")
    converged=${result#* }
    report "Stochman spline $1 nodes, grid $2, $3 Adam steps" "${result%% *}" "$work/st.txt" \
        "$([ "$converged" -gt 0 ] && echo 0 || echo all)"
done

# For each Stochman setting, the fastest scorekit run with median and max error no larger.
echo
echo "speed-up at equal or better accuracy (median and max error both no larger):"
awk -F'\t' '$1 ~ /^scorekit/ { n++; label[n] = $1; t[n] = $2; med[n] = $3; top[n] = $4; next }
    { best = 0; for (k = 1; k <= n; k++) if (med[k] <= $3 && top[k] <= $4 && (best == 0 || t[k] < t[best])) best = k
      if (best) printf "  %s: %s in %.3f s vs %.3f s, ratio %.1f\n", $1, label[best], t[best], $2, $2 / t[best]
      else printf "  %s: no scorekit run reached its accuracy\n", $1 }' "$work/results"

echo
echo "scaling of scorekit with nodes T ($count pairs) and with pairs (33 nodes):"
for nodes in 33 65 129 257; do
    printf '  T = %-5s %8s s\n' "$nodes" "$(seconds ours "$nodes" "$work/pairs.txt" /dev/null)"
done
for n in 50 100 200 400 800; do
    awk -v n="$n" 'NR <= n' "$work/pairs.txt" > "$work/some.txt"
    while [ "$(wc -l < "$work/some.txt")" -lt "$n" ]; do cat "$work/pairs.txt" >> "$work/some.txt"; done
    head -n "$n" "$work/some.txt" > "$work/n.txt"
    printf '  pairs = %-5s %8s s\n' "$n" "$(seconds ours 33 "$work/n.txt" /dev/null)"
done
