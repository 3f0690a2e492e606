# Black-box tests of langevin. Bad inputs and models give one error line and no output file.
# Text and HDF5 outputs carry the samples, and runs are reproducible with --seed.
. "$(dirname "$0")/lib.sh"
L="$BIN/langevin"
OUT="$WORK/samples.h5"
normal='gaussian:mean=0;cov=1'

printf '0.5\n1\n' > "$WORK/init1d.txt"
printf '0.5 1\n' > "$WORK/init2d.txt"
echo "not a model" > "$WORK/model.txt"

run_case "missing model option"   2 'model'                               -- "$L" --steps 5
expect_one_line_error "missing model option"
run_case "bad model spec"         2 'invalid model "gaussian:mean=0;cov=x"' -- "$L" -m 'gaussian:mean=0;cov=x' -o "$OUT"
expect_no_file "bad model spec" "$OUT"
run_case "missing model file"     1 'cannot open model "[^"]*none.h5"'     -- "$L" -m "$WORK/none.h5" -o "$OUT"
run_case "not a model file"       1 'model.txt".*neither'                  -- "$L" -m "$WORK/model.txt" -o "$OUT"
run_case "bad method"             2 'invalid --method "hmc".*ula, mala, annealed' -- "$L" -m "$normal" --method hmc
run_case "annealed without levels" 1 'no noise levels.*--sigma-max'       -- "$L" -m "$normal" --method annealed -o "$OUT"
expect_no_file "annealed without levels" "$OUT"
# MALA needs a log-density, which a trained MLP score model lacks: the error names the model file
# given to -m, not the kind of model.
/usr/bin/python3 - "$WORK/mlp.h5" <<'PY' || fail "could not write the MLP model file"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("model")
    g.attrs["kind"] = "mlp-score"
    g.attrs["activation"] = "tanh"
    for key, value in {"dim": 2, "width": 4, "depth": 1, "num_levels": 2}.items():
        g.attrs[key] = np.int64(value)
    g.attrs["sigma_max"] = 1.0
    g.attrs["sigma_min"] = 0.1
    g["sigmas"] = np.array([1.0, 0.1])
    g["data_mean"] = np.zeros(2)
    g["data_std"] = np.ones(2)
    g["layers.0.weight"] = np.full((4, 3), 0.1, dtype=np.float32)
    g["layers.0.bias"] = np.zeros(4, dtype=np.float32)
    g["layers.1.weight"] = np.full((2, 4), 0.1, dtype=np.float32)
    g["layers.1.bias"] = np.zeros(2, dtype=np.float32)
PY
run_case "mala without log-density" 1 'cannot run MALA with model "[^"]*mlp.h5": the model has no log-density' -- \
    "$L" -m "$WORK/mlp.h5" --method mala --steps 5 -o "$OUT"
expect_one_line_error "mala without log-density"
expect_no_file "mala without log-density" "$OUT"
run_case "annealed names the model" 1 "cannot run annealed Langevin with model \"$normal\": the model has no noise levels" -- \
    "$L" -m "$normal" --method annealed --steps 5
run_case "init dimension"         1 'dimension 2, the model expects 1'     -- "$L" -m "$normal" --init "$WORK/init2d.txt"
run_case "negative sigma"         2 'invalid --sigma "-1": must be 0 or positive' -- "$L" -m "$normal" --sigma -1
expect_one_line_error "negative sigma"
run_case "burn-in too long"       2 'invalid --burn-in'                    -- "$L" -m "$normal" --steps 10 --burn-in 10
run_case "thin keeps nothing"     2 'invalid --thin "10": it keeps no sample of the 5 steps' -- "$L" -m "$normal" --thin 10 --steps 5
expect_one_line_error "thin keeps nothing"
run_case "diverging step size"    1 'sampler diverged.*lower --step-size'  -- "$L" -m "$normal" --step-size 50 --steps 300 -o "$OUT"
expect_one_line_error "diverging step size"
expect_no_file "diverging step size" "$OUT"
# A huge step size grows the chains by a factor 1e10 per step: reported, not written as 1e100.
run_case "absurd step size"       1 'sampler diverged at step 10: chains moved beyond' -- "$L" -m "$normal" --step-size 1e10 --steps 10
expect_one_line_error "absurd step size"
[ ! -s "$WORK/out" ] || fail "absurd step size: samples written to stdout"
while read -r option value pattern; do
    run_case "$option $value" 2 "invalid $option \"$value\": $pattern" -- "$L" -m "$normal" "$option" "$value"
    expect_one_line_error "$option $value"
done <<'CASES'
--chains 0 must be a whole number of at least 1
--steps 99999999999999999999 must be a whole number of at least 1
--burn-in -1 must be a whole number of at least 0
--thin -1 must be a whole number of at least 0
--step-size inf must be a finite number
--step-size -1 must be 0 or positive
--sigma nan must be a finite number
--levels 0 must be a whole number from 1
CASES

# HDF5 dataset paths: FILE.h5:/GROUP/NAME creates the groups, FILE.h5:NAME means /NAME, and an
# invalid path fails before sampling.
run_case "nested dataset" 0 '' -- "$L" -m "$normal" --chains 4 --steps 5 -o "$WORK/nested.h5:/grp/samp"
/usr/bin/python3 -c 'import h5py, sys; assert h5py.File(sys.argv[1])["/grp/samp"].shape == (4, 1)' "$WORK/nested.h5" ||
    fail "nested dataset: no /grp/samp of 4 rows"
run_case "relative dataset" 0 '' -- "$L" -m "$normal" --chains 4 --steps 5 -o "$WORK/relative.h5:samp"
[ ! -e "$WORK/relative.h5:samp" ] || fail "relative dataset: wrote a file named relative.h5:samp"
/usr/bin/python3 -c 'import h5py, sys; assert h5py.File(sys.argv[1])["/samp"].shape == (4, 1)' "$WORK/relative.h5" ||
    fail "relative dataset: no /samp of 4 rows"
run_case "relative dataset read back" 0 '' -- "$BIN/metric-eval" -m "$normal" "$WORK/relative.h5:samp"
[ "$(wc -l < "$WORK/out")" -eq 5 ] || fail "relative dataset read back: expected a header and 4 rows"
run_case "empty group name" 2 'invalid dataset path ".*bad.h5:/grp//samp"' -- timeout 60 "$L" -m "$normal" --steps 100000000 \
    -o "$WORK/bad.h5:/grp//samp"
expect_one_line_error "empty group name"
expect_no_file "empty group name" "$WORK/bad.h5"

# An existing file with a colon in its name is that file, for outputs as for inputs. When such a
# name also reads as a dataset (taken.h5:samp is /samp of taken.h5), the output is rejected before
# sampling and neither file is touched. FILE.h5:/NAME writes the dataset, and a name that reads as
# no dataset (notes:1.tsv) replaces the existing file.
printf 'keep\n' > "$WORK/taken.h5:samp"
run_case "ambiguous output" 2 'ambiguous output ".*taken.h5:samp": a file of this name exists, and the name also reads as dataset "/samp" of ".*taken.h5"; write ".*taken.h5:/samp" for the dataset' -- \
    "$L" -m "$normal" --chains 4 --steps 5 -o "$WORK/taken.h5:samp"
expect_one_line_error "ambiguous output"
[ "$(cat "$WORK/taken.h5:samp")" = keep ] || fail "ambiguous output: the existing file changed"
expect_no_file "ambiguous output" "$WORK/taken.h5"
run_case "dataset beside a colon file" 0 '' -- "$L" -m "$normal" --chains 4 --steps 5 -o "$WORK/taken.h5:/samp"
/usr/bin/python3 -c 'import h5py, sys; assert h5py.File(sys.argv[1])["/samp"].shape == (4, 1)' "$WORK/taken.h5" ||
    fail "dataset beside a colon file: no /samp of 4 rows"
[ "$(cat "$WORK/taken.h5:samp")" = keep ] || fail "dataset beside a colon file: the colon file changed"
run_case "colon file as input" 1 'cannot read points ".*taken.h5:samp"' -- "$BIN/metric-eval" -m "$normal" "$WORK/taken.h5:samp"
printf 'old\n' > "$WORK/notes:1.tsv"
run_case "colon text output" 0 '' -- "$L" -m "$normal" --chains 4 --steps 5 -o "$WORK/notes:1.tsv"
[ "$(wc -l < "$WORK/notes:1.tsv")" -eq 4 ] || fail "colon text output: notes:1.tsv does not hold the 4 samples"

# A model file named like a model spec (halfplane) is ambiguous, so -m halfplane is rejected where
# such a file exists and the message shows ./halfplane. ./halfplane reads the file, a 1-D
# Gaussian, where the spec is the 2-D half-plane density.
mkdir -p "$WORK/specdir"
/usr/bin/python3 - "$WORK/specdir/halfplane" <<'PY' || fail "could not write the model file named halfplane"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("model")
    g.attrs["kind"] = "gaussian"
    g.attrs["dim"] = np.int64(1)
    g["weights"] = np.array([1.0])
    g["means"] = np.array([[5.0]])
    g["covariances"] = np.array([[[1.0]]])
PY
run_case "ambiguous model" 2 'ambiguous model "halfplane": it is a model spec and also the name of an existing file; write ./halfplane for the file' -- \
    env -C "$WORK/specdir" "$L" -m halfplane --chains 4 --steps 5
expect_one_line_error "ambiguous model"
run_case "model file as ./halfplane" 0 '' -- env -C "$WORK/specdir" "$L" -m ./halfplane --chains 4 --steps 5
[ "$(awk '{ print NF }' "$WORK/out" | sort -u)" = 1 ] || fail "model file as ./halfplane: expected 1-D samples of the file's model"
printf '0\t1\n0\t2\n' > "$WORK/upper.tsv"
run_case "halfplane spec elsewhere" 0 '' -- env -C "$WORK" "$L" -m halfplane --steps 5 --step-size 1e-4 --init "$WORK/upper.tsv"
[ "$(awk '{ print NF }' "$WORK/out" | sort -u)" = 2 ] || fail "halfplane spec elsewhere: expected 2-D samples of the spec"

# In a SLURM array (COUNT > 1) without --shard, every task would write one fixed -o file.
# The tools run in $WORK with relative names, so that a digit in the temporary directory's name
# cannot pass for the task id.
array=(env -C "$WORK" SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2)
run_case "array with one output" 2 'invalid --output ".*lv.tsv": every task of the SLURM array' -- \
    "${array[@]}" "$L" -m "$normal" --chains 10 --steps 5 -o "lv.tsv"
expect_one_line_error "array with one output"
expect_no_file "array with one output" "$WORK/lv.tsv"
run_case "array with {shard}" 0 'shard 1/2' -- "${array[@]}" "$L" -m "$normal" --chains 10 --steps 5 -o "lv-{shard}.h5"
/usr/bin/python3 -c 'import h5py, sys; assert h5py.File(sys.argv[1])["/samples"].attrs["shard"] in ("1/2", b"1/2")' \
    "$WORK/lv-0001.h5" || fail "array with {shard}: lv-0001.h5 is not shard 1/2"
run_case "array with task id" 0 'shard 1/2' -- "${array[@]}" "$L" -m "$normal" --chains 10 --steps 5 -o "samples-1.h5"
expect_file "array with task id" "$WORK/samples-1.h5"
run_case "array to stdout" 0 'shard 1/2' -- "${array[@]}" "$L" -m "$normal" --chains 10 --steps 5
run_case "explicit shard, one output" 0 'shard 1/2' -- "${array[@]}" "$L" -m "$normal" --chains 10 --steps 5 --shard 1/2 \
    -o "lv.tsv"

# An explicit --checkpoint follows the same rule as -o: tasks that shared one would overwrite
# each other's state. {shard} expands in --checkpoint and --resume, so the resumed shard equals
# the uninterrupted shard.
run_case "array with one checkpoint" 2 'invalid --checkpoint "ck.h5": every task of the SLURM array' -- \
    "${array[@]}" "$L" -m "$normal" --chains 10 --steps 5 -o "checkpointed-1.h5" --checkpoint ck.h5
expect_one_line_error "array with one checkpoint"
expect_no_file "array with one checkpoint" "$WORK/checkpointed-1.h5"
expect_no_file "array with one checkpoint" "$WORK/ck.h5"
sharded_mala=(-m 'gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1' --method mala --chains 400 --steps 20000 --thin 1000 --seed 6)
run_case "array shard uninterrupted" 0 'shard 1/2' -- "${array[@]}" "$L" "${sharded_mala[@]}" -o "whole-1.h5"
env -C "$WORK" SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2 "$L" "${sharded_mala[@]}" -o "part-1.h5" \
    --checkpoint "ck-{shard}.h5" --checkpoint-every 2000 < /dev/null 2> "$WORK/array-sig.err" &
signal_when INT $! test -e "$WORK/ck-0001.h5"
[ "$status" -eq 130 ] || fail "array shard SIGINT: exit status $status, expected 130: $(cat "$WORK/array-sig.err")"
grep -q "checkpoint written to ck-0001.h5; continue with --resume ck-0001.h5" "$WORK/array-sig.err" \
    || fail "array shard SIGINT: $(cat "$WORK/array-sig.err")"
run_case "array shard resumed" 0 'resuming from ck-0001.h5' -- "${array[@]}" "$L" "${sharded_mala[@]}" -o "part-1.h5" \
    --checkpoint "ck-{shard}.h5" --resume "ck-{shard}.h5"
h5diff "$WORK/whole-1.h5" "$WORK/part-1.h5" /samples /samples || fail "array shard resumed: samples differ"

# Text output: one row per chain and kept step, tab-separated, reproducible.
run_case "text output" 0 '' -- "$L" -m "$normal" --chains 7 --steps 20 --burn-in 10 --thin 5 --seed 4
[ "$(wc -l < "$WORK/out")" -eq 14 ] || fail "text output: expected 14 rows, got $(wc -l < "$WORK/out")"
cp "$WORK/out" "$WORK/first.tsv"
run_case "same seed" 0 '' -- "$L" -m "$normal" --chains 7 --steps 20 --burn-in 10 --thin 5 --seed 4 --threads 3
cmp -s "$WORK/out" "$WORK/first.tsv" || fail "same seed and other thread count gave other samples"
run_case "other seed" 0 '' -- "$L" -m "$normal" --chains 7 --steps 20 --burn-in 10 --thin 5 --seed 5
cmp -s "$WORK/out" "$WORK/first.tsv" && fail "other seed gave the same samples"

# Initial points set the chains; HDF5 output carries the settings and MALA's acceptance rate.
run_case "mala to HDF5" 0 'acceptance rate' -- "$L" -m "$normal" --method mala --init "$WORK/init1d.txt" \
    --steps 50 --step-size 0.5 -o "$OUT"
expect_file "mala to HDF5" "$OUT"
h5dump -A "$OUT" > "$WORK/attrs.txt" 2>&1 || fail "mala to HDF5: h5dump failed"
for attribute in acceptance_rate method scorekit_tool command_line seed; do
    grep -q "ATTRIBUTE \"$attribute\"" "$WORK/attrs.txt" || fail "mala to HDF5: no attribute $attribute"
done
h5dump -H -d /samples "$OUT" | grep -q 'DATASPACE  SIMPLE { ( 2, 1 )' || fail "mala to HDF5: /samples is not [2, 1]"

run_case "annealed with levels" 0 '' -- "$L" -m 'gmm:weights=0.5,0.5;means=-3/3;covs=1' --method annealed \
    --sigma-max 10 --sigma-min 0.5 --levels 5 --steps 20 --step-size 0.05 --chains 3 --denoise
[ "$(wc -l < "$WORK/out")" -eq 3 ] || fail "annealed with levels: expected 3 rows"

# Shards of chains: rows of shard 1/2 are the last chains of the whole run (one row per chain).
run_case "all chains" 0 '' -- "$L" -m 'gaussian:mean=0;cov=1' --chains 5 --steps 10 --seed 3
cp "$WORK/out" "$WORK/all.tsv"
run_case "shard 1/2" 0 'shard 1/2: chains \[2, 5\) of 5' -- "$L" -m 'gaussian:mean=0;cov=1' --chains 5 --steps 10 \
    --seed 3 --shard 1/2
[ "$(head -n 1 "$WORK/out")" = "# shard 1/2: chains [2, 5) of 5" ] || fail "shard 1/2: first line is not the shard comment"
tail -n 3 "$WORK/all.tsv" | cmp -s - <(grep -v '^#' "$WORK/out") || fail "shard 1/2: rows differ from chains 2-4 of the whole run"
# With --init from HDF5, a shard reads only its own initial points: the same rows as from text,
# while a NaN in chain 1's point (shard 0/2) stops only shard 0/2, naming the row in the whole table.
printf '0.5\n-1\n2\n0.25\n-0.75\n' > "$WORK/init5.txt"
/usr/bin/python3 -c 'import h5py, numpy as np, sys
points = np.loadtxt(sys.argv[1]).reshape(-1, 1)
points[1, 0] = np.nan
h5py.File(sys.argv[2], "w")["points"] = points' "$WORK/init5.txt" "$WORK/init5.h5" || fail "init shard: cannot write init5.h5"
run_case "init shard text" 0 'shard 1/2: chains \[2, 5\) of 5' -- "$L" -m 'gaussian:mean=0;cov=1' --init "$WORK/init5.txt" \
    --steps 10 --seed 3 --shard 1/2
cp "$WORK/out" "$WORK/init-text.tsv"
run_case "init shard hdf5" 0 'shard 1/2: chains \[2, 5\) of 5' -- "$L" -m 'gaussian:mean=0;cov=1' --init "$WORK/init5.h5" \
    --steps 10 --seed 3 --shard 1/2
cmp -s "$WORK/init-text.tsv" "$WORK/out" || fail "init shard hdf5: rows differ from those with the text init"
run_case "init shard with NaN" 1 'init5.h5 row 1, column 0 \(from 0\)": value nan is not finite' -- \
    "$L" -m 'gaussian:mean=0;cov=1' --init "$WORK/init5.h5" --steps 10 --seed 3 --shard 0/2
expect_one_line_error "init shard with NaN"
run_case "negative checkpoint interval" 2 'invalid --checkpoint-every "-1": must be a whole number of at least 0' -- \
    "$L" -m 'gaussian:mean=0;cov=1' --checkpoint-every -1
expect_one_line_error "negative checkpoint interval"
# A checkpoint is a whole HDF5 file on disk: "-" would have been written as a file named "-",
# and a dataset suffix as a file named "x.h5:state".
run_case "checkpoint on stdout" 2 'invalid --checkpoint "-": a checkpoint must be an HDF5 file on disk' -- \
    "$L" -m 'gaussian:mean=0;cov=1' --checkpoint - -o "$WORK/dash.h5"
expect_one_line_error "checkpoint on stdout"
run_case "resume from stdin" 2 'invalid --resume "-": a checkpoint must be an HDF5 file on disk' -- \
    "$L" -m 'gaussian:mean=0;cov=1' --resume - -o "$WORK/dash.h5"
run_case "checkpoint with a dataset" 2 'invalid --checkpoint ".*x.h5:state": this output holds several datasets' -- \
    "$L" -m 'gaussian:mean=0;cov=1' --checkpoint "$WORK/x.h5:state" -o "$WORK/dash.h5"
expect_no_file "checkpoint with a dataset" "$WORK/dash.h5"
# Options of another method are usage errors rather than silently ignored.
run_case "denoise with ula" 2 'invalid option "--denoise": it applies to --method annealed only' -- \
    "$L" -m 'gaussian:mean=0;cov=1' --denoise
expect_one_line_error "denoise with ula"
for option in "--burn-in 5" "--thin 2" "--sigma 0.1"; do
    run_case "annealed $option" 2 "invalid option \"${option% *}\": it applies to --method ula and mala only" -- \
        "$L" -m 'gaussian:mean=0;cov=1' --method annealed --sigma-max 2 --sigma-min 0.1 $option
done
run_case "empty shard" 2 'gets none of the 2 chains' -- "$L" -m 'gaussian:mean=0;cov=1' --chains 2 --shard 0/3
expect_one_line_error "empty shard"
run_case "bad shard" 2 'invalid --shard "2/2"' -- "$L" -m 'gaussian:mean=0;cov=1' --shard 2/2
# SIGINT of a run that writes standard output ends it with one line that reports it and status 130.
"$L" -m 'gaussian:mean=0;cov=1' --chains 1000 --steps 100000000 > /dev/null 2> "$WORK/sig.err" &
pid=$!
# The signal handlers are in place once the first log line is out.
for _ in $(seq 1 300); do
    grep -q "sampling" "$WORK/sig.err" 2>/dev/null && break
    sleep 0.1
done
sleep 0.2
kill -INT "$pid"
wait "$pid"
status=$?
[ "$status" -eq 130 ] || fail "SIGINT: exit status $status, expected 130"
grep -q '^langevin: interrupted by a signal; unfinished output files were removed$' "$WORK/sig.err" ||
    fail "SIGINT: no interruption line: $(head -c 400 "$WORK/sig.err")"
# A run that writes a file writes OUTPUT.ckpt instead, after the current step, and leaves no
# output or temporary file; --resume then gives the samples of an uninterrupted run (MALA with
# thinning: kept samples and acceptance counts are part of the state) and removes the checkpoint.
mkdir -p "$WORK/sig"
mala=(-m 'gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1' --method mala --chains 500 --steps 20000 --thin 1000)
run_case "uninterrupted mala" 0 "" -- "$L" "${mala[@]}" --seed 4 -o "$WORK/whole.h5"
"$L" "${mala[@]}" --seed 4 -o "$WORK/sig/run.h5" --checkpoint-every 2000 < /dev/null 2> "$WORK/sig.err" &
signal_when INT $! test -e "$WORK/sig/run.h5.ckpt"
[ "$status" -eq 130 ] || fail "SIGINT with checkpoint: exit status $status, expected 130: $(cat "$WORK/sig.err")"
grep -Eq '^langevin: sampling interrupted after step [0-9]+ of 20000: checkpoint written to .*run.h5.ckpt; continue with --resume .*run.h5.ckpt$' \
    "$WORK/sig.err" || fail "SIGINT with checkpoint: no checkpoint line: $(head -c 400 "$WORK/sig.err")"
# The kept samples are appended to OUTPUT.ckpt.samples, so each checkpoint writes only the new ones.
[ "$(ls -A "$WORK/sig" | tr '\n' ' ')" = "run.h5.ckpt run.h5.ckpt.samples " ] ||
    fail "SIGINT with checkpoint: files left: $(ls -A "$WORK/sig")"
# A checkpoint of an earlier version, which kept the samples inside it, resumes the same way.
/usr/bin/python3 -c '
import h5py, numpy, shutil, sys
checkpoint, old = sys.argv[1], sys.argv[2]
shutil.copy(checkpoint, old)
with h5py.File(old, "a") as f:
    columns = f["checkpoint/z"].shape[1]
    rows = int(f["checkpoint"].attrs["kept_rows"])
    kept = numpy.fromfile(checkpoint + ".samples", dtype="<f8")
    assert kept.size >= rows * columns > 0
    f["checkpoint/kept"] = kept[: rows * columns].reshape(rows, columns)
    del f["checkpoint"].attrs["results_revision"], f["checkpoint"].attrs["written_by"]
' "$WORK/sig/run.h5.ckpt" "$WORK/old.ckpt" || fail "cannot write a checkpoint in the earlier layout"
run_case "resume an earlier checkpoint" 0 "resuming from" -- "$L" "${mala[@]}" --seed 4 -o "$WORK/from-old.h5" \
    --resume "$WORK/old.ckpt"
h5diff "$WORK/whole.h5" "$WORK/from-old.h5" /samples /samples || fail "resume an earlier checkpoint: samples differ"
run_case "resume with another seed" 2 'cannot resume from ".*run.h5.ckpt": seed is 5 but the checkpoint has 4' -- \
    "$L" "${mala[@]}" --seed 5 -o "$WORK/sig/run.h5" --resume "$WORK/sig/run.h5.ckpt"
expect_one_line_error "resume with another seed"
# A checkpoint of a build whose results differ is refused rather than mixed into the output.
cp "$WORK/sig/run.h5.ckpt" "$WORK/later.ckpt"
/usr/bin/python3 -c 'import h5py, sys; h5py.File(sys.argv[1], "a")["checkpoint"].attrs["results_revision"] = 7' \
    "$WORK/later.ckpt" || fail "cannot change the results revision of a checkpoint"
run_case "resume a checkpoint of another results revision" 1 \
    'cannot resume from ".*later\.ckpt": written by scorekit [0-9.]+, whose results differ from this build.s \(results revision 7, this build 1\); run again without --resume, or finish the run with the build that wrote the checkpoint$' -- \
    "$L" "${mala[@]}" --seed 4 -o "$WORK/sig/later.h5" --resume "$WORK/later.ckpt"
expect_one_line_error "resume a checkpoint of another results revision"
expect_no_file "resume a checkpoint of another results revision" "$WORK/sig/later.h5"
run_case "checkpoint in a missing directory" 1 \
    'cannot write output ".*missing/run\.ckpt": cannot create a file in directory .*; create the directory or choose another --checkpoint$' -- \
    "$L" "${mala[@]}" --seed 4 -o "$WORK/sig/other.h5" --checkpoint "$WORK/missing/run.ckpt"
expect_one_line_error "checkpoint in a missing directory"
printf 'not a checkpoint\n' > "$WORK/text.ckpt"
run_case "resume from a text file" 1 \
    'cannot resume from ".*text\.ckpt": not an HDF5 file; give a checkpoint written by langevin \(OUTPUT\.ckpt\)$' -- \
    "$L" "${mala[@]}" --seed 4 -o "$WORK/sig/other.h5" --resume "$WORK/text.ckpt"
expect_one_line_error "resume from a text file"
# Mismatch messages show values as typed and options left unset by their meaning.
run_case "resume with another step size" 2 'step_size is 0\.3 but the checkpoint has 0\.01;' -- \
    "$L" "${mala[@]}" --seed 4 --step-size 0.3 -o "$WORK/sig/run.h5" --resume "$WORK/sig/run.h5.ckpt"
run_case "resume with a noise level" 2 "sigma is 0\.5 but the checkpoint has the model's default;" -- \
    "$L" "${mala[@]}" --seed 4 --sigma 0.5 -o "$WORK/sig/run.h5" --resume "$WORK/sig/run.h5.ckpt"
run_case "resume" 0 "resuming from .*run.h5.ckpt at step" -- "$L" "${mala[@]}" --seed 4 -o "$WORK/sig/run.h5" \
    --resume "$WORK/sig/run.h5.ckpt"
h5diff "$WORK/whole.h5" "$WORK/sig/run.h5" /samples /samples || fail "resume: samples differ from the uninterrupted run"
grep -h 'acceptance rate' "$WORK/err" > "$WORK/rate-resumed"
"$L" "${mala[@]}" --seed 4 -o "$WORK/whole2.h5" 2>&1 | grep -h 'acceptance rate' | cmp -s - "$WORK/rate-resumed" ||
    fail "resume: acceptance counts differ from the uninterrupted run"
[ "$(ls -A "$WORK/sig")" = "run.h5" ] || fail "resume: the checkpoint and its samples were not removed: $(ls -A "$WORK/sig")"
# A model file replaced under the same name (a retrained model) cannot continue the old run. The
# model file is compared by contents, not by how its path is written (./model.h5 here).
/usr/bin/python3 -c '
import h5py, sys
for path, mean in ((sys.argv[1], 0.0), (sys.argv[2], 1.0)):
    with h5py.File(path, "w") as f:
        f.create_group("model").attrs["kind"] = "gaussian"
        f["model/weights"] = [1.0]
        f["model/means"] = [[mean]]
        f["model/covariances"] = [[[1.0]]]
' "$WORK/model-a.h5" "$WORK/model-b.h5" || fail "cannot write the analytic model files"
mkdir -p "$WORK/retrain"
cp "$WORK/model-a.h5" "$WORK/retrain/model.h5"
"$L" -m "$WORK/retrain/model.h5" --chains 100 --steps 10000000 -o "$WORK/retrain/run.h5" --checkpoint-every 1000 \
    < /dev/null 2> /dev/null &
signal_when INT $! test -e "$WORK/retrain/run.h5.ckpt"
[ "$status" -eq 130 ] || fail "SIGINT before the model changed: exit status $status, expected 130"
cp "$WORK/model-b.h5" "$WORK/retrain/model.h5"
run_case "resume with a replaced model file" 2 'cannot resume from ".*run.h5.ckpt": model_checksum is [0-9a-f]{16} but the checkpoint has [0-9a-f]{16};' -- \
    "$L" -m "$WORK/retrain/./model.h5" --chains 100 --steps 10000000 -o "$WORK/retrain/run.h5" --checkpoint-every 1000 --resume "$WORK/retrain/run.h5.ckpt"
expect_one_line_error "resume with a replaced model file"
# A checkpoint beyond the file size limit fails like one on a full disk: one error line, status
# 1, and neither the output nor a temporary checkpoint left behind.
mkdir -p "$WORK/fsize"
run_case_full_disk "checkpoint over the file size limit" 64 \
    'cannot write checkpoint sample file ".*fsize/run\.h5\.ckpt\.samples": File too large' -- \
    "$L" "${mala[@]}" --seed 4 -o "$WORK/fsize/run.h5" --checkpoint-every 19000 -q
expect_one_line_error "checkpoint over the file size limit"
expect_no_file "checkpoint over the file size limit" "$WORK/fsize/run.h5"
expect_no_file "checkpoint over the file size limit" "$WORK/fsize/run.h5.ckpt"
expect_no_file "checkpoint over the file size limit" "$WORK/fsize/run.h5.ckpt.samples"
# -o through a symbolic link replaces the link's target and keeps the link. A FIFO and a device
# are written in place instead of being replaced by a regular file.
gauss='gaussian:mean=0;cov=1'
printf 'old\n' > "$WORK/target.tsv"
ln -s target.tsv "$WORK/link.tsv"
run_case "output through a link" 0 '' -- "$L" -m "$gauss" --chains 4 --steps 5 -o "$WORK/link.tsv"
[ -L "$WORK/link.tsv" ] || fail "output through a link: the link was replaced"
[ "$(wc -l < "$WORK/target.tsv")" -eq 4 ] || fail "output through a link: the target was not written"
mkfifo "$WORK/pipe"
timeout 60 cat "$WORK/pipe" > "$WORK/from-pipe.tsv" &
reader=$!
run_case "output to a FIFO" 0 '' -- "$L" -m "$gauss" --chains 4 --steps 5 -o "$WORK/pipe"
wait "$reader"
[ -p "$WORK/pipe" ] || fail "output to a FIFO: the FIFO was replaced by a regular file"
[ "$(wc -l < "$WORK/from-pipe.tsv")" -eq 4 ] || fail "output to a FIFO: the reader got $(wc -l < "$WORK/from-pipe.tsv") lines"
mknod "$WORK/null" c 1 3 || fail "mknod (the tests run as root) failed"
run_case "output to a device" 0 '' -- "$L" -m "$gauss" --chains 4 --steps 5 -o "$WORK/null"
[ -c "$WORK/null" ] || fail "output to a device: the device was replaced by a regular file"

if ! torch_layer_built; then
    finish
    exit
fi
# A score that is NaN at finite points (here for x > 1) is the model's fault. It was reported as
# a diverged sampler with advice to lower --step-size, which cannot help.
/usr/bin/python3 - "$WORK/nan-score.pt" <<'PY' || fail "could not export the NaN score module"
import sys, torch
class Score(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("dim", torch.tensor(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 1, torch.full_like(x, float("nan")), -x)
# Traced, because torch.jit.script needs the source file that a heredoc lacks.
torch.jit.trace(Score(), torch.zeros(3, 1)).save(sys.argv[1])
PY
for method in ula annealed; do
    extra=""
    [ $method = annealed ] && extra="--sigma-max 1 --sigma-min 0.1 --levels 3"
    run_case "NaN score, $method" 1 'invalid score for chain [0-9]+ at step [0-9]+.*: the model returned NaN or infinite values at a finite point; .*a smaller --step-size does not help' -- \
        "$L" -m "$WORK/nan-score.pt" --method $method $extra --chains 50 --steps 200 --step-size 0.01 -o "$WORK/nan.h5"
    expect_one_line_error "NaN score, $method"
    expect_no_file "NaN score, $method" "$WORK/nan.h5"
done
finish
