#!/bin/bash
# Exponential-map benchmark: scorekit's `geodesic --exp` against SciPy's solve_ivp, side by side
# in one run.
#
# Shots from random faithful.csv points, each with the velocity that points at another random
# point, under the stein metric (lambda = 1) of the analytic two-component mixture of run.sh.
# Both sides use Dormand-Prince 5(4) with adaptive steps: scorekit at --ode-tolerance TOL,
# SciPy's RK45 at rtol = atol = TOL, one shot after the other (solve_ivp integrates one system).
# Accuracy is the end point's error against SciPy's DOP853 at rtol = atol = 1e-13, measured as
# max_j |x_j - x_ref,j| / (1 + |x_ref,j|). Stochman's own expmap needs torchdiffeq, which Debian
# does not package, and takes 4 fixed RK4 steps, so it is not run here.
#
# Usage: bench/geodesic/expmap.sh BUILD_BIN [SHOTS]
#   SCIPY_FIRST=1 in the environment runs SciPy before scorekit, so that repeated runs can
#   alternate which side meets the machine's load first.
# SciPy runs with Debian's /usr/bin/python3 and its python3-scipy and python3-numpy packages.
# Times are wall and CPU seconds (user + system): scorekit's for the whole process, SciPy's for
# the integration loop only (after imports and reading the shots).
set -eu
bin=${1:?usage: expmap.sh BUILD_BIN [SHOTS]}
count=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../share/data/faithful.csv"
work=$(mktemp -d "${TMPDIR:-/tmp}/expmap-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
python=/usr/bin/python3

. "$here/faithful_mixture.sh"
spec=$(faithful_mixture "$data")
faithful_pairs "$data" "$count" | awk '{ print $1, $2, $3 - $1, $4 - $2 }' > "$work/shots.txt"
echo "model: $spec"
echo "shots: $count from random faithful.csv points toward others; machine: $(nproc) cores, $(uname -m)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
$python "$here/scipy_expmap.py" "$spec" "$work/shots.txt" DOP853 1e-13 1e-13 "$work/reference.txt" > /dev/null

# error_stats ENDS: median and max over the shots of the end point's error (see above).
error_stats() {
    paste "$1" "$work/reference.txt" |
        awk '{ e = 0; for (j = 1; j <= 2; j++) { r = $(j + 2); a = ($j - r) / (1 + (r < 0 ? -r : r)); if (a < 0) a = -a; if (a > e) e = a }
               print e }' | sort -g | awk '{ v[NR] = $1 } END { printf "%.2e %.2e", v[int((NR + 1) / 2)], v[NR] }'
}

printf '\n%-40s %8s %8s %11s %11s\n' "integrator" "wall s" "CPU s" "median err" "max err"
: > "$work/results"
report() {  # report LABEL WALL CPU ENDS
    local stats
    stats=$(error_stats "$4")
    printf '%-40s %8s %8s %11s %11s\n' "$1" "$2" "$3" $stats
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$work/results"
}
scorekit_side() {
    for tolerance in 1e-6 1e-8 1e-10; do
        /usr/bin/time -f "%e %U %S" -o "$work/time" "$bin/geodesic" -q -m "$spec" --exp --pairs "$work/shots.txt" \
            --nodes 2 --ode-tolerance "$tolerance" -o "$work/ours.tsv"
        awk 'NR > 1 { print $2 "\t" $3 }' "$work/ours.tsv" > "$work/ours.txt"
        read -r wall user sys < "$work/time"
        report "scorekit geodesic --exp, tol $tolerance" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')" "$work/ours.txt"
    done
}
scipy_side() {
    for tolerance in 1e-6 1e-8 1e-10; do
        result=($($python "$here/scipy_expmap.py" "$spec" "$work/shots.txt" RK45 "$tolerance" "$tolerance" "$work/scipy.txt"))
        cut -f1,2 "$work/scipy.txt" > "$work/scipy-ends.txt"
        report "SciPy solve_ivp RK45, tol $tolerance" "${result[0]}" "${result[1]}" "$work/scipy-ends.txt"
    done
}
if [ "${SCIPY_FIRST:-0}" = 1 ]; then
    scipy_side
    scorekit_side
else
    scorekit_side
    scipy_side
fi

echo
echo "ratios at the same tolerance (SciPy / scorekit), wall and CPU:"
awk -F'\t' '{ n = split($1, words, " "); tol = words[n] }
    $1 ~ /^scorekit/ { w[tol] = $2; c[tol] = $3; next }
    { sw[tol] = $2; sc[tol] = $3; order[++count] = tol }
    END { for (k = 1; k <= count; k++) { t = order[k]
              printf "  tol %s: wall %.1fx, CPU %.1fx\n", t, sw[t] / w[t], sc[t] / c[t] } }' "$work/results"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
