# Black-box tests of metric-eval: closed-form values (stein algebra, outer degeneracy), output
# formats and error handling.
. "$(dirname "$0")/lib.sh"
exe="$BIN/metric-eval"

# near VALUE EXPECTED TOLERANCE NAME: fails unless |VALUE - EXPECTED| <= TOLERANCE.
near() {
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }' ||
        fail "$4: got $1, expected $2 +- $3"
}

# column NAME: the value of the named column in the first data row of $WORK/out.
column() {
    awk -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } NR == 2 { print $c }' "$WORK/out"
}

# Stein algebra at the origin: mu = (1, -1), Sigma = [[2, .5], [.5, 1]], lambda = 0.5.
gaussian='gaussian:mean=1,-1;cov=2,0.5,0.5,1'
echo "0 0" > "$WORK/origin.txt"
run_case "stein tensor" 0 "" -- "$exe" -m "$gaussian" --lambda 0.5 --tensor --inverse --logdet --eigenvalues --volume --score "$WORK/origin.txt"
near "$(column s1)" 0.857142857142857 1e-14 "score s1"
near "$(column g1_1)" 1.36734693877551 1e-14 "g11 = 67/49"
near "$(column g1_2)" -0.612244897959184 1e-14 "g12 = -30/49"
near "$(column g2_2)" 2.02040816326531 1e-14 "g22 = 99/49"
near "$(column ginv1_2)" 0.256410256410256 1e-14 "g^-1 12 = 10/39"
near "$(column logdet)" 0.870353636687130 1e-14 "log det g = log(117/49)"
near "$(column eig2)" 2.38775510204082 1e-14 "largest eigenvalue 117/49"
near "$(column volume)" 1.54523626091314 1e-13 "volume element"

# Default output is log det g alone; points arrive on standard input.
run_case_stdin "default output" 0 "" "$WORK/origin.txt" -- "$exe" -m "$gaussian" --lambda 0.5
[ "$(head -1 "$WORK/out")" = "logdet" ] || fail "default output: header '$(head -1 "$WORK/out")'"

# Norms and inner products: |(1, 1)|^2 = 106/49 and <e1, e2> = -30/49.
echo "1 1" > "$WORK/v.txt"
echo "0 1" > "$WORK/w.txt"
run_case "vectors" 0 "" -- "$exe" -m "$gaussian" --lambda 0.5 --vectors "$WORK/v.txt" --vectors2 "$WORK/w.txt" "$WORK/origin.txt"
near "$(column norm)" 1.4708043058552858 1e-14 "norm sqrt(106/49)"
echo "1 0" > "$WORK/e1.txt"
run_case "inner product" 0 "" -- "$exe" -m "$gaussian" --lambda 0.5 --vectors "$WORK/e1.txt" --vectors2 "$WORK/w.txt" "$WORK/origin.txt"
near "$(column inner)" -0.612244897959184 1e-14 "inner <e1, e2>"

# outer: a polygon inscribed in the unit circle around the mean of N(0, I) has length zero,
# while stein gives it about the Euclidean length pi / 2.
awk 'BEGIN { for (k = 0; k <= 32; k++) { a = 3.14159265358979 / 2 * k / 32; printf "0 %g %.17g %.17g\n", k / 32, cos(a), sin(a) } }' > "$WORK/arc.txt"
run_case "outer arc" 0 "" -- "$exe" -m 'gaussian:mean=0,0;cov=1' --metric outer --curves "$WORK/arc.txt"
near "$(column curve_length)" 0 1e-14 "outer arc length"
run_case "stein arc" 0 "" -- "$exe" -m 'gaussian:mean=0,0;cov=1' --curves "$WORK/arc.txt"
near "$(column curve_length)" 1.5705 1e-3 "stein arc length"

# HDF5 output: one dataset per output, the tensor as [N, D, D].
printf '0 0\n1 2\n' > "$WORK/two.txt"
run_case "hdf5 output" 0 "" -- "$exe" -m "$gaussian" --tensor --logdet "$WORK/two.txt" -o "$WORK/metric.h5"
expect_file "hdf5 output" "$WORK/metric.h5"
h5ls "$WORK/metric.h5" > "$WORK/ls" 2>&1 || fail "hdf5 output: h5ls failed"
grep -q "metric .*{2, 2, 2}" "$WORK/ls" || fail "hdf5 output: no metric [2, 2, 2] dataset: $(cat "$WORK/ls")"
grep -q "logdet .*{2}" "$WORK/ls" || fail "hdf5 output: no logdet [2] dataset"

# Conformal on the half-plane: g = I / y^2, so log det g = -4 log 2 at y = 2.
echo "0.3 2" > "$WORK/half.txt"
run_case "conformal half-plane" 0 "" -- "$exe" -m halfplane --metric conformal "$WORK/half.txt"
near "$(column logdet)" -2.77258872223978 1e-14 "half-plane log det"

# Errors: one line on stderr, no output file.
echo "0 -1" > "$WORK/outside.txt"
run_case "outside support" 1 "outside the model's support" -- "$exe" -m halfplane --metric conformal "$WORK/outside.txt" -o "$WORK/bad.h5"
expect_one_line_error "outside support"
expect_no_file "outside support" "$WORK/bad.h5"
run_case "wrong dimension" 1 "" -- "$exe" -m "$gaussian" "$WORK/arc.txt" -o "$WORK/bad.h5"
expect_one_line_error "wrong dimension"
expect_no_file "wrong dimension" "$WORK/bad.h5"
run_case "vectors2 alone" 2 "--vectors2" -- "$exe" -m "$gaussian" --vectors2 "$WORK/w.txt" "$WORK/origin.txt"
expect_one_line_error "vectors2 alone"
run_case "points and curves as text" 2 "HDF5" -- "$exe" -m "$gaussian" --curves "$WORK/arc.txt" "$WORK/origin.txt"
expect_one_line_error "points and curves as text"
# outer has no inverse: a usage error naming --inverse before any point is read. It was
# rejected as "invalid metric for geodesics" from inside the evaluation.
run_case "outer without inverse" 2 'invalid option "--inverse": the outer metric g = s s\^T has rank one' -- \
    "$exe" -m "$gaussian" --metric outer --inverse "$WORK/missing-points.txt"
expect_one_line_error "outer without inverse"
run_case "unknown metric" 2 "stein, outer, conformal or pullback" -- "$exe" -m "$gaussian" --metric fisher "$WORK/origin.txt"
expect_one_line_error "unknown metric"

# Messages name what is wrong with the file: the columns of curves, a directory, a byte that is
# not UTF-8 (escaped, never sent raw to the terminal).
printf '0 0\n1 2\n' > "$WORK/two-columns.txt"
run_case "curves with 2 columns" 1 'rows have 2 columns, expected 4: curve, t, then 2 coordinates' -- \
    "$exe" -m "$gaussian" --curves "$WORK/two-columns.txt"
expect_one_line_error "curves with 2 columns"
mkdir -p "$WORK/adir"
run_case "directory as input" 1 'cannot read points ".*adir": it is a directory' -- "$exe" -m "$gaussian" "$WORK/adir"
expect_one_line_error "directory as input"
printf '0 0\n1 \351\n' > "$WORK/latin1.txt"
run_case "latin-1 byte" 1 '"\\xE9" is not a number' -- "$exe" -m "$gaussian" "$WORK/latin1.txt"
expect_one_line_error "latin-1 byte"
LC_ALL=C grep -q $'\351' "$WORK/err" && fail "latin-1 byte: the raw byte reached stderr"

"$BIN/langevin" -m "$gaussian" --chains 3 --steps 2 -o "$WORK/three.h5" -q || fail "langevin for the stdin case failed"
run_case_stdin "HDF5 on stdin" 1 'cannot read points "standard input": it is an HDF5 file' "$WORK/three.h5" -- "$exe" -m "$gaussian" -
expect_one_line_error "HDF5 on stdin"

# The HDF5 output contains several datasets with fixed names, so a dataset suffix is rejected.
run_case "output with a dataset" 2 'invalid --output ".*me.h5:/grp": this output holds several datasets' -- \
    "$exe" -m "$gaussian" "$WORK/two.txt" -o "$WORK/me.h5:/grp"
expect_one_line_error "output with a dataset"
expect_no_file "output with a dataset" "$WORK/me.h5"

# A named pipe and a process substitution are read once, like standard input. Sniffing them for
# HDF5 or gzip magic used to consume their first bytes, and a pipe then hung or read as empty.
printf '0 0\n1 1\n' > "$WORK/two.txt"
"$exe" -m "$gaussian" "$WORK/two.txt" > "$WORK/from-file" 2> /dev/null || fail "two points from a file failed"
"$exe" -m "$gaussian" <(cat "$WORK/two.txt") > "$WORK/from-substitution" 2> "$WORK/err" ||
    fail "process substitution: $(cat "$WORK/err")"
cmp -s "$WORK/from-file" "$WORK/from-substitution" || fail "process substitution: output differs from the file's"
mkfifo "$WORK/pipe"
cat "$WORK/two.txt" > "$WORK/pipe" &
timeout 20 "$exe" -m "$gaussian" "$WORK/pipe" > "$WORK/from-fifo" 2> "$WORK/err" || fail "named pipe: status $?: $(cat "$WORK/err")"
wait
cmp -s "$WORK/from-file" "$WORK/from-fifo" || fail "named pipe: output differs from the file's"

# Pullback at 20,000 points in 64 dimensions: N(0, I) has J = -I, so g = 2 I and log det g =
# 64 log 2 everywhere. The points are evaluated and written chunk by chunk, so the D x D
# Jacobians and tensors of all points (1.3 GB together) are never held at once. With --tensor the
# whole output (655 MB) was kept until the end, and the peak was 679 MiB.
awk 'BEGIN { srand(3); for (i = 0; i < 20000; i++) { for (j = 0; j < 64; j++) printf "%s%.4f", (j ? " " : ""), 2 * rand() - 1; print "" } }' \
    > "$WORK/p64.txt"
mean64=$(awk 'BEGIN { for (j = 0; j < 64; j++) printf "%s0", (j ? "," : "") }')
gauss64="gaussian:mean=$mean64;cov=1"
run_case "pullback in 64 dimensions" 0 "" -- "$exe" -m "$gauss64" --metric pullback --tensor --logdet "$WORK/p64.txt" \
    -o "$WORK/p64.h5"
/usr/bin/python3 - "$WORK/p64.h5" <<'PY' || fail "pullback in 64 dimensions: g is not 2 I or log det g is not 64 log 2 in every row"
import sys, h5py, numpy
f = h5py.File(sys.argv[1], "r")
g, logdet = f["metric"], f["logdet"][...]
assert g.shape == (20000, 64, 64)
assert logdet.shape == (20000,)
for first in range(0, 20000, 2000):
    assert (g[first:first + 2000] == 2 * numpy.eye(64)).all()
assert numpy.abs(logdet - 64 * numpy.log(2)).max() <= 1e-12
PY
rm -f "$WORK/p64.h5"
peak=$(sed -n 's/.*peak memory \([0-9.]*\) MiB.*/\1/p' "$WORK/err")
awk -v peak="$peak" 'BEGIN { exit !(peak > 0 && peak < 150) }' ||
    fail "pullback in 64 dimensions: peak memory ${peak:-unknown} MiB, expected under 150"

# A full disk fails the run at the chunk that meets it, with one line and no output left behind.
run_case_full_disk "text output on a full disk" 2000 'cannot write ".*full\.tsv": File too large' -- \
    "$exe" -m "$gauss64" --metric pullback --eigenvalues "$WORK/p64.txt" -o "$WORK/full.tsv"
expect_one_line_error "text output on a full disk"
expect_no_file "text output on a full disk" "$WORK/full.tsv"
expect_no_file "text output on a full disk" "$WORK/full.tsv.ckpt"
run_case_full_disk "HDF5 output on a full disk" 2000 'cannot write (dataset|HDF5 file) ".*full\.h5(:/eigenvalues)?": File too large; raise the file size limit' -- \
    "$exe" -m "$gauss64" --metric pullback --eigenvalues "$WORK/p64.txt" -o "$WORK/full.h5"
expect_one_line_error "HDF5 output on a full disk"
expect_no_file "HDF5 output on a full disk" "$WORK/full.h5"

# Checkpoints: a run of 31 chunks stopped by SIGTERM once its first checkpoint exists, then
# resumed, gives the bytes of an uninterrupted run (text, HDF5 and standard output), and the
# checkpoint is removed at the end. A resume with other options or inputs is a usage error.
"$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" -o "$WORK/whole.tsv" -q ||
    fail "uninterrupted text run failed"
"$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" -o "$WORK/parts.tsv" --checkpoint-every 1 \
    < /dev/null 2> "$WORK/err" &
signal_when TERM $! test -e "$WORK/parts.tsv.ckpt"
[ "$status" -eq 130 ] || fail "interrupted: exit status $status, expected 130: $(cat "$WORK/err")"
grep -Eq 'interrupted after [0-9]+ of 20000 points: checkpoint written to .*parts.tsv.ckpt; continue with --resume' \
    "$WORK/err" || fail "interrupted: no checkpoint message: $(cat "$WORK/err")"
expect_no_file "interrupted" "$WORK/parts.tsv"
resume_text() {  # NAME STATUS PATTERN ARGUMENTS...: resumes the text run with changed arguments
    local name=$1 status=$2 pattern=$3
    shift 3
    run_case "$name" "$status" "$pattern" -- "$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet \
        -o "$WORK/parts.tsv" --resume "$WORK/parts.tsv.ckpt" "$@"
    expect_one_line_error "$name"
}
resume_text "resume with another lambda" 2 'cannot resume from ".*parts.tsv.ckpt": lambda is 2 but the checkpoint has 1' \
    "$WORK/p64.txt" --lambda 2
resume_text "resume with other outputs" 2 'outputs is logdet but the checkpoint has logdet,eigenvalues' \
    "$WORK/p64.txt" --eigenvalues=false
head -n 19999 "$WORK/p64.txt" > "$WORK/fewer.txt"
resume_text "resume with fewer points" 2 'the run has 19999 points but the checkpoint has 20000' "$WORK/fewer.txt"
sed '7s/^[^ ]*/0.5/' "$WORK/p64.txt" > "$WORK/changed.txt"
resume_text "resume with other points" 2 'the points or vectors differ from those of the checkpoint; resume with the options' \
    "$WORK/changed.txt"
cp "$WORK/parts.tsv.ckpt" "$WORK/revision.ckpt"
/usr/bin/python3 -c 'import sys, h5py; h5py.File(sys.argv[1], "a")["checkpoint"].attrs["results_revision"] = 2' \
    "$WORK/revision.ckpt" || fail "cannot change the results revision of a checkpoint"
run_case "resume another revision" 1 \
    'cannot resume from ".*revision\.ckpt": written by scorekit .*, whose results differ from this build.s \(results revision 2, this build 1\)' -- \
    "$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" -o "$WORK/revision.tsv" --resume "$WORK/revision.ckpt"
expect_one_line_error "resume another revision"
expect_no_file "resume another revision" "$WORK/revision.tsv"
printf 'not a checkpoint\n' > "$WORK/text.ckpt"
run_case "resume from a text file" 1 \
    'cannot resume from ".*text\.ckpt": not an HDF5 file; give a checkpoint written by metric-eval \(OUTPUT\.ckpt\)$' -- \
    "$exe" -m "$gauss64" "$WORK/p64.txt" -o "$WORK/text.tsv" --resume "$WORK/text.ckpt"
expect_one_line_error "resume from a text file"
run_case "checkpoint on standard output" 2 'invalid --checkpoint "-"' -- "$exe" -m "$gauss64" "$WORK/p64.txt" --checkpoint -
expect_one_line_error "checkpoint on standard output"
run_case "negative checkpoint interval" 2 'invalid --checkpoint-every "-1": must be a whole number of at least 0' -- \
    "$exe" -m "$gauss64" "$WORK/p64.txt" --checkpoint-every -1
expect_one_line_error "negative checkpoint interval"
run_case "text resume" 0 "resuming from .*parts.tsv.ckpt: [0-9]+ of 20000 points already evaluated" -- \
    "$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" -o "$WORK/parts.tsv" \
    --resume "$WORK/parts.tsv.ckpt"
cmp -s "$WORK/whole.tsv" "$WORK/parts.tsv" || fail "text resume: the output differs from the uninterrupted run"
[ ! -e "$WORK/parts.tsv.ckpt" ] || fail "text resume: the checkpoint was not removed after the run"
expect_no_file "text resume scratch rows" "$WORK/parts.tsv.ckpt"

# The same for HDF5: every dataset and attribute but the command line is equal.
"$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" -o "$WORK/whole.h5" -q ||
    fail "uninterrupted HDF5 run failed"
"$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" -o "$WORK/parts.h5" --checkpoint-every 1 \
    < /dev/null 2> "$WORK/err" &
signal_when TERM $! test -e "$WORK/parts.h5.ckpt"
[ "$status" -eq 130 ] || fail "HDF5 interrupted: exit status $status, expected 130: $(cat "$WORK/err")"
expect_no_file "HDF5 interrupted" "$WORK/parts.h5"
run_case "HDF5 resume" 0 "resuming from .*parts.h5.ckpt: [0-9]+ of 20000 points already evaluated" -- \
    "$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" -o "$WORK/parts.h5" \
    --resume "$WORK/parts.h5.ckpt"
/usr/bin/python3 - "$WORK/whole.h5" "$WORK/parts.h5" <<'PY' || fail "HDF5 resume: the output differs from the uninterrupted run"
import sys, h5py
a, b = (h5py.File(name, "r") for name in sys.argv[1:])
assert sorted(a) == sorted(b) == ["eigenvalues", "logdet"]
for name in a:
    assert a[name].shape == b[name].shape, name
    assert a[name][...].tobytes() == b[name][...].tobytes(), name
skip = {"command_line"}
assert {k: v for k, v in a.attrs.items() if k not in skip} == {k: v for k, v in b.attrs.items() if k not in skip}
PY
[ ! -e "$WORK/parts.h5.ckpt" ] || fail "HDF5 resume: the checkpoint was not removed after the run"

# A run on standard output writes its checkpoint to --checkpoint, and the resumed run writes the
# whole output again.
"$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" --checkpoint "$WORK/stdout.ckpt" \
    --checkpoint-every 1 < /dev/null > /dev/null 2> "$WORK/err" &
signal_when INT $! test -e "$WORK/stdout.ckpt"
[ "$status" -eq 130 ] || fail "stdout interrupted: exit status $status, expected 130: $(cat "$WORK/err")"
run_case "resume to stdout" 0 "resuming from .*stdout.ckpt" -- \
    "$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" --resume "$WORK/stdout.ckpt"
cmp -s "$WORK/whole.tsv" "$WORK/out" || fail "resume to stdout: the output differs from the uninterrupted run"
[ ! -e "$WORK/stdout.ckpt" ] || fail "resume to stdout: the checkpoint was not removed after the run"

# A reader that exits ends a checkpointed run on standard output with 141, and its scratch copy
# of the rows goes with it.
mkdir "$WORK/piped"
bash -c '"$0" -m "$1" --metric pullback --logdet "$2" --checkpoint "$3" 2> "$4" | head -1 > /dev/null; exit "${PIPESTATUS[0]}"' \
    "$exe" "$gauss64" "$WORK/p64.txt" "$WORK/piped/run.ckpt" "$WORK/err"
status=$?
[ "$status" -eq 141 ] || fail "checkpointed run into a closed pipe: exit status $status, expected 141: $(cat "$WORK/err")"
leftover=$(ls -A "$WORK/piped")
[ -z "$leftover" ] || fail "checkpointed run into a closed pipe: files left behind: $leftover"

# Ctrl-C on `metric-eval | gzip` also ends the reader. The run still writes its checkpoint, from
# the scratch copy of its rows, and the resumed run gives the whole output.
rm -f "$WORK/received"
bash -c '"$0" -m "$1" --metric pullback --eigenvalues --logdet "$2" --checkpoint "$3" 2> "$4" | cat > "$5"; exit "${PIPESTATUS[0]}"' \
    "$exe" "$gauss64" "$WORK/p64.txt" "$WORK/piped/run.ckpt" "$WORK/err" "$WORK/received" &
for _ in $(seq 600); do [ -s "$WORK/received" ] && break; sleep 0.05; done
evaluator=$(pgrep -n -f -- "--checkpoint $WORK/piped/run.ckpt")
reader=$(pgrep -n -x -P "$!" cat)
kill -INT "$evaluator"
kill -KILL "$reader"
wait "$!"
status=$?
[ "$status" -eq 130 ] || fail "interrupted pipeline: exit status $status, expected 130: $(cat "$WORK/err")"
grep -q 'checkpoint written to .*run\.ckpt' "$WORK/err" || fail "interrupted pipeline: stderr: $(cat "$WORK/err")"
run_case "resume an interrupted pipeline" 0 "resuming from .*run.ckpt" -- \
    "$exe" -m "$gauss64" --metric pullback --eigenvalues --logdet "$WORK/p64.txt" --resume "$WORK/piped/run.ckpt"
cmp -s "$WORK/whole.tsv" "$WORK/out" || fail "resume an interrupted pipeline: the output differs from the uninterrupted run"

# A point outside the support in a later chunk is named by its row in the input.
awk 'BEGIN { for (i = 1; i <= 1001; i++) { for (j = 1; j <= 64; j++) printf "%s%s", (j > 1 ? " " : ""), (i == 1001 && j == 64 ? -1 : 1); print "" } }' \
    > "$WORK/late.txt"
run_case "outside support in a later chunk" 1 'late\.txt row 1001 \(from 1\)": the score is not finite there' -- \
    "$exe" -m halfplane:dim=64 "$WORK/late.txt" -o "$WORK/late.h5"
# One line: the info line that used to precede the error is logged only with -v.
expect_one_line_error "outside support in a later chunk"
expect_no_file "outside support in a later chunk" "$WORK/late.h5"

# On standard output the rows of the earlier chunk used to be written before the error. Now
# nothing is written, and the temporary file of the rows is removed.
mkdir "$WORK/held"
TMPDIR="$WORK/held" run_case "later chunk on stdout" 1 'late\.txt row 1001 \(from 1\)": the score is not finite there' -- \
    "$exe" -m halfplane:dim=64 "$WORK/late.txt"
expect_one_line_error "later chunk on stdout"
[ ! -s "$WORK/out" ] || fail "later chunk on stdout: $(wc -l < "$WORK/out") lines written before the error"
[ -z "$(ls -A "$WORK/held")" ] || fail "later chunk on stdout: files left in TMPDIR: $(ls -A "$WORK/held")"
# Without the bad point every row arrives.
head -1000 "$WORK/late.txt" > "$WORK/good.txt"
TMPDIR="$WORK/held" run_case "two chunks on stdout" 0 '' -- "$exe" -m halfplane:dim=64 "$WORK/good.txt"
[ "$(wc -l < "$WORK/out")" -eq 1001 ] || fail "two chunks on stdout: $(wc -l < "$WORK/out") lines, expected 1001"
run_case "unwritable TMPDIR" 1 'cannot create a temporary file for standard output in "?/nonexistent' -- \
    env TMPDIR=/nonexistent "$exe" -m halfplane:dim=64 "$WORK/good.txt"
expect_one_line_error "unwritable TMPDIR"

# The same point in an HDF5 dataset is row 1000 as h5py indexes it (x[1000]); it was named row 1001.
/usr/bin/python3 -c 'import sys, h5py, numpy; h5py.File(sys.argv[2], "w")["points"] = numpy.loadtxt(sys.argv[1])' \
    "$WORK/late.txt" "$WORK/late-points.h5" || fail "could not write late-points.h5"
run_case "outside support, HDF5 row from 0" 1 'late-points\.h5 row 1000 \(from 0\)": the score is not finite there' -- \
    "$exe" -m halfplane:dim=64 "$WORK/late-points.h5" -o "$WORK/late.h5"

# score-train, which makes the model of the last cases, needs LibTorch.
if ! torch_layer_built; then
    finish
    exit
fi

# A trained model file with a bad value is an invalid file (status 1), never a usage error or a
# sampler failure.
"$BIN/score-train" "$SRC/share/data/faithful.csv" -o "$WORK/model.h5" --steps 5 --width 8 -q || fail "score-train for the model cases failed"
# The conformal metric needs log p, which a trained model lacks: one error line naming the model
# file, and nothing on standard output, not even the header.
run_case "conformal without log p" 1 'cannot evaluate conformal metric "[^"]*model.h5": g = p\^\(-2 beta\) I needs log p' -- \
    "$exe" -m "$WORK/model.h5" --metric conformal "$WORK/two.txt"
expect_one_line_error "conformal without log p"
[ ! -s "$WORK/out" ] || fail "conformal without log p: output written: $(head -c 200 "$WORK/out")"
cat > "$WORK/damage.py" <<'PY'
import shutil, sys, h5py, numpy
source, kind, target = sys.argv[1:]
shutil.copy(source, target)
with h5py.File(target, "r+") as f:
    if kind == "activation":
        f["/model"].attrs["activation"] = "relu6"
    elif kind == "nan-weight":
        w = f["/model/layers.0.weight"][...]; w[0, 0] = numpy.nan; f["/model/layers.0.weight"][...] = w
    elif kind == "zero-std":
        s = f["/model/data_std"][...]; s[0] = 0; f["/model/data_std"][...] = s
    elif kind == "dim-array":
        f["/model"].attrs["dim"] = [2, 2]
    elif kind == "dim-fraction":
        f["/model"].attrs["dim"] = 2.5
    elif kind == "unsorted-sigmas":
        s = f["/model/sigmas"][...]; f["/model/sigmas"][...] = s[::-1]
PY
while read -r kind pattern; do
    /usr/bin/python3 "$WORK/damage.py" "$WORK/model.h5" "$kind" "$WORK/$kind.h5" || fail "could not damage the model ($kind)"
    run_case "model with $kind" 1 "invalid model file \".*$kind.h5.*$pattern" -- "$exe" -m "$WORK/$kind.h5" "$WORK/two.txt"
    expect_one_line_error "model with $kind"
    run_case "langevin, model with $kind" 1 "invalid model file" -- "$BIN/langevin" -m "$WORK/$kind.h5" --chains 2 --steps 3
done <<'CASES'
activation unknown activation "relu6"
nan-weight a weight or bias is not finite
zero-std data_std must be positive
CASES

# Attributes and datasets as h5py writes them when a user edits a model. An array attribute used
# to overrun the reader's one-value buffer, and a fractional dim was truncated. Levels stored
# smallest first made the tools evaluate the score at the largest level.
while read -r kind pattern; do
    /usr/bin/python3 "$WORK/damage.py" "$WORK/model.h5" "$kind" "$WORK/$kind.h5" || fail "could not damage the model ($kind)"
    run_case "model with $kind" 1 "$pattern" -- "$exe" -m "$WORK/$kind.h5" "$WORK/two.txt"
    expect_one_line_error "model with $kind"
done <<'CASES'
dim-array cannot read attribute ".*dim-array.h5:/model@dim": it holds 2 values, expected one
dim-fraction invalid attribute ".*dim-fraction.h5:/model@dim": 2.5 is not a whole number
unsorted-sigmas invalid noise levels ".*unsorted-sigmas.h5:/model/sigmas": level 2 .* sorted largest first
CASES

# TorchScript modules: the attributes dim and sigmas of the wrong type used to hit a LibTorch
# assertion, and an integer output truncated the score. sigmas may be a list of numbers.
cat > "$WORK/export.py" <<'PY'
import sys, torch
class Score(torch.nn.Module):
    def forward(self, x, sigma):
        return -x / (1 + sigma[:, None] ** 2)
class CudaForward(torch.nn.Module):
    def forward(self, x):
        return -x + torch.zeros(x.shape, device=torch.device("cuda"))
class IntegerScore(torch.nn.Module):
    def forward(self, x, sigma):
        return (-x).to(torch.int64)
def save(name, module, **attributes):
    for key, value in attributes.items():
        setattr(module, key, value)
    torch.jit.save(torch.jit.script(module), sys.argv[1] + "/" + name + ".pt")
save("list-sigmas", Score(), dim=2, sigmas=[1.0, 0.5, 0.1])
save("unsorted-sigmas", Score(), dim=2, sigmas=torch.tensor([0.1, 1.0]))
save("nan-sigmas", Score(), dim=2, sigmas=torch.tensor([1.0, float("nan")]))
save("fraction-dim", Score(), dim=2.5)
save("text-sigmas", Score(), dim=2, sigmas="1,0.1")
save("integer-output", IntegerScore(), dim=2)
save("cuda-forward", CudaForward(), dim=2)
# A module saved on a GPU: torch.jit.save records the device of each tensor storage in data.pkl.
# Debian's torch has no CUDA, so the CPU location is rewritten as a GPU machine writes it.
class LinearScore(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        with torch.no_grad():
            self.linear.weight.copy_(-torch.eye(2))
            self.linear.bias.zero_()
    def forward(self, x):
        return self.linear(x)
save("cpu-saved", LinearScore())
import zipfile
with zipfile.ZipFile(sys.argv[1] + "/cpu-saved.pt") as source, \
        zipfile.ZipFile(sys.argv[1] + "/gpu-saved.pt", "w") as target:
    for info in source.infolist():
        data = source.read(info.filename)
        if info.filename.endswith("/data.pkl"):
            assert b"X\x03\x00\x00\x00cpu" in data, "no CPU storage location in data.pkl"
            data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
        target.writestr(info, data)
PY
/usr/bin/python3 "$WORK/export.py" "$WORK" || fail "could not export the TorchScript modules"
printf '0.5 1\n' > "$WORK/half.txt"
run_case "sigmas as a list" 0 '' -- "$exe" -m "$WORK/list-sigmas.pt" --score "$WORK/half.txt"
# At the smallest level 0.1 the score is -x / 1.01.
[ "$(sed -n 2p "$WORK/out")" = "$(printf '%s\t%s' -0.49504950642585754 -0.99009901285171509)" ] ||
    fail "sigmas as a list: got $(sed -n 2p "$WORK/out"), expected the score at sigma 0.1"
# It failed to load ("Could not run 'aten::empty_strided' with arguments from the 'CUDA' backend").
run_case "module saved on a GPU" 0 '' -- "$exe" -m "$WORK/gpu-saved.pt" --score "$WORK/half.txt"
[ "$(sed -n 2p "$WORK/out")" = "$(printf '%s\t%s' -0.5 -1)" ] ||
    fail "module saved on a GPU: got $(sed -n 2p "$WORK/out"), expected -0.5 -1"
# With one input x and sigma 1, the diagonal of F is (x1^2, x2^2, x1^2, x2^2, 1, 1).
run_case "fim, module saved on a GPU" 0 '' -- \
    "$BIN/fim" -m "$WORK/gpu-saved.pt" -i "$WORK/half.txt" -e exact --likelihood gaussian -r diag
grep -q 'trace=4.5\b' "$WORK/out" || fail "fim, module saved on a GPU: $(cat "$WORK/out")"
while read -r name pattern; do
    run_case "TorchScript $name" 1 "$pattern" -- "$exe" -m "$WORK/$name.pt" "$WORK/half.txt"
    expect_one_line_error "TorchScript $name"
done <<'CASES'
unsorted-sigmas invalid noise levels ".*unsorted-sigmas.pt \(attribute sigmas\)": level 2 \(1\) is larger than level 1
nan-sigmas invalid noise levels ".*nan-sigmas.pt \(attribute sigmas\)": level 2 is nan
fraction-dim invalid TorchScript attribute ".*fraction-dim.pt \(attribute dim\)": it is 2.5, not a positive integer
text-sigmas invalid TorchScript attribute ".*text-sigmas.pt \(attribute sigmas\)": it is a str
integer-output invalid TorchScript output ".*integer-output.pt": forward returned a tensor of dtype Long
cuda-forward TorchScript forward failed ".*cuda-forward.pt": RuntimeError: Could not run .* from the 'CUDA' backend\. \(forward creates a tensor on a CUDA device.*; create tensors on x\.device
CASES
finish
