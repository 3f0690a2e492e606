# Black-box tests of the point tables that every geometry tool reads: semicolon-separated values
# with decimal commas, as spreadsheets in many locales export CSV, and tables stored transposed
# ([D, N]), which each tool names in the same words.
. "$(dirname "$0")/lib.sh"
L="$BIN/langevin"
ME="$BIN/metric-eval"
G="$BIN/geodesic"
FIM="$BIN/fim"
T="$BIN/score-train"
gauss='gaussian:mean=0,0;cov=1'
advice='if the table is stored transposed \(\[D, N\], as column-major writers such as MATLAB, R and Julia store it\), transpose it'

# --- Semicolons with decimal commas read as their comma-separated twins ---
printf 'x;y\n0,5;-1,25\n"2,0";3\n1e-1;0,75\n' > "$WORK/points-semicolon.csv"
printf 'x,y\n0.5,-1.25\n2.0,3\n1e-1,0.75\n' > "$WORK/points-comma.csv"
# same_output NAME COMMAND...: COMMAND gives the same standard output for both files, where
# FILE in the command stands for the file.
same_output() {
    local name=$1
    shift
    local semicolon=("${@//FILE/$WORK/points-semicolon.csv}") comma=("${@//FILE/$WORK/points-comma.csv}")
    run_case "$name, semicolons" 0 '' -- "${semicolon[@]}"
    mv "$WORK/out" "$WORK/semicolon.out"
    run_case "$name, commas" 0 '' -- "${comma[@]}"
    [ -s "$WORK/out" ] || fail "$name: no output"
    cmp -s "$WORK/out" "$WORK/semicolon.out" || fail "$name: the semicolon file gives other values: $(head -c 300 "$WORK/semicolon.out")"
}
same_output "metric-eval points" "$ME" -m "$gauss" --score --logdet FILE
same_output "langevin --init" "$L" -m "$gauss" --steps 3 --seed 2 -q --init FILE
same_output "geodesic --all-pairs" "$G" -m "$gauss" -q --all-pairs FILE
same_output "fim inputs" "$FIM" -m normal:mu=0,sigma=2 -e empirical -r dense -q -i FILE --labels last
printf 'x1;y1;x2;y2\n1;0;0;1\n-1,5;0,5;2;1\n' > "$WORK/pairs-semicolon.csv"
printf '1\t0\t0\t1\n-1.5\t0.5\t2\t1\n' > "$WORK/pairs.tsv"
run_case "geodesic --pairs, semicolons" 0 '' -- "$G" -m "$gauss" -q --pairs "$WORK/pairs-semicolon.csv"
mv "$WORK/out" "$WORK/semicolon.out"
run_case "geodesic --pairs, tabs" 0 '' -- "$G" -m "$gauss" -q --pairs "$WORK/pairs.tsv"
cmp -s "$WORK/out" "$WORK/semicolon.out" || fail "geodesic --pairs: the semicolon file gives other values"
if [ -x "$T" ]; then
    tr ',' ';' < "$SRC/share/data/faithful.csv" | sed 's/\./,/g' > "$WORK/faithful-semicolon.csv"
    run_case "score-train, semicolons" 0 '' -- "$T" "$WORK/faithful-semicolon.csv" --steps 20 --width 8 -q -o "$WORK/semicolon.h5"
    run_case "score-train, commas" 0 '' -- "$T" "$SRC/share/data/faithful.csv" --steps 20 --width 8 -q -o "$WORK/comma.h5"
    /usr/bin/python3 -c 'import h5py, numpy, sys; a, b = (h5py.File(f)["model/data_mean"][()] for f in sys.argv[1:]); sys.exit(0 if numpy.array_equal(a, b) else 1)' \
        "$WORK/semicolon.h5" "$WORK/comma.h5" || fail "score-train: the semicolon file gives another data mean"
fi
printf 'x;y\n1.234,5;2\n' > "$WORK/thousands.csv"
run_case "thousands separator" 1 'thousands\.csv: line 2, column 1": "1\.234,5" is not a number \(a thousands separator\?\); write numbers without thousands separators' -- \
    "$ME" -m "$gauss" "$WORK/thousands.csv"
expect_one_line_error "thousands separator"

# --- A transposed table: a warning where no model fixes the dimension, else named in the error ---
# Three points of dimension 2 stored as [2, 3].
printf '1\t2\t3\n4\t5\t6\n' > "$WORK/transposed.tsv"
run_case "metric-eval transposed points" 1 "the model expects 2; give points with 2 columns, or, $advice" -- \
    "$ME" -m "$gauss" "$WORK/transposed.tsv"
expect_one_line_error "metric-eval transposed points"
run_case "langevin transposed --init" 1 "the model expects 2; give points with 2 columns, or, $advice" -- \
    "$L" -m "$gauss" --steps 2 --init "$WORK/transposed.tsv"
run_case "geodesic transposed --all-pairs" 1 "the model expects 2; give points with 2 columns, or, $advice" -- \
    "$G" -m "$gauss" --all-pairs "$WORK/transposed.tsv"
# Two pairs of dimension 2 stored as [4, 2].
printf '1\t0\n0\t1\n0\t0\n1\t1\n' > "$WORK/pairs-transposed.tsv"
run_case "geodesic transposed --pairs" 1 "give rows of 4 columns, or, $advice" -- \
    "$G" -m "$gauss" --pairs "$WORK/pairs-transposed.tsv"
# fim's model of 3 inputs (make_archive_fixtures.py writes it) on 2 inputs stored as [3, 2].
if /usr/bin/python3 "$SRC/tests/fixtures/make_archive_fixtures.py" "$WORK/archives" > /dev/null 2> "$WORK/fixture.err"; then
    printf '1\t2\n3\t4\n5\t6\n' > "$WORK/inputs-transposed.tsv"
    run_case "fim transposed inputs" 1 "the model takes 3; give inputs of the model's input width, or, $advice" -- \
        "$FIM" -m "$WORK/archives/tanh_mlp.h5" -i "$WORK/inputs-transposed.tsv" --likelihood categorical -e exact -q
    expect_one_line_error "fim transposed inputs"
else
    fail "fixtures: make_archive_fixtures.py failed (needs python3-torch): $(tail -3 "$WORK/fixture.err")"
fi
if [ -x "$T" ]; then
    printf '1\t2\t3\t4\n4\t5\t6\t7\n' > "$WORK/wide.tsv"
    run_case "score-train transposed data" 0 "has 2 points of dimension 4, fewer points than dimensions: $advice" -- \
        "$T" "$WORK/wide.tsv" --steps 2 --width 4 --val-fraction 0 -o "$WORK/wide.h5"
fi
finish
