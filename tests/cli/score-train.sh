# Black-box tests of score-train. Bad inputs give one error line, the documented status and no
# output file. A short run writes a model that langevin can read. SIGINT writes a checkpoint,
# and --resume from it reaches the same model as an uninterrupted run.
. "$(dirname "$0")/lib.sh"
T="$BIN/score-train"
DATA="$SRC/share/data/faithful.csv"
OUT="$WORK/model.h5"
quick="--steps 40 --width 16 --batch-size 32 --seed 3"

printf '1 2\n3 4 5\n' > "$WORK/ragged.txt"
printf '1 2\nnan 4\n' > "$WORK/nan.txt"
printf '1 2\n3 abc\n' > "$WORK/word.txt"
printf '' > "$WORK/empty.txt"
gzip -c "$DATA" > "$WORK/full.gz"
head -c $(($(wc -c < "$WORK/full.gz") / 2)) "$WORK/full.gz" > "$WORK/truncated.gz"
"$BIN/langevin" -m 'gaussian:mean=0,0;cov=1' --chains 3 --steps 2 -o "$WORK/points.h5" 2> /dev/null
printf '\211HDF\r\n\032\n garbage' > "$WORK/truncated.h5"

#            name                 status  stderr pattern                          command
run_case "missing input"            1 'cannot open "[^"]*nope.csv"'      -- "$T" "$WORK/nope.csv" -o "$OUT" $quick
expect_no_file "missing input" "$OUT"
run_case "ragged rows"              1 'ragged.txt: line 2, column 3".*3 values, expected 2' -- "$T" "$WORK/ragged.txt" -o "$OUT" $quick
expect_one_line_error "ragged rows"
expect_no_file "ragged rows" "$OUT"
run_case "NaN value"                1 'line 2, column 1.*not finite'    -- "$T" "$WORK/nan.txt" -o "$OUT" $quick
expect_one_line_error "NaN value"
run_case "word in data"             1 '"abc" is not a number'           -- "$T" "$WORK/word.txt" -o "$OUT" $quick
run_case "empty input"              1 'no data rows'                    -- "$T" "$WORK/empty.txt" -o "$OUT" $quick
run_case "truncated gzip"           1 'truncated.gz".*truncated'        -- "$T" "$WORK/truncated.gz" -o "$OUT" $quick
expect_one_line_error "truncated gzip"
run_case "truncated HDF5"           1 'truncated.h5".*truncated or corrupt' -- "$T" "$WORK/truncated.h5" -o "$OUT" $quick
run_case "missing dataset"          1 'dataset not found.*points.h5:/nope' -- "$T" "$WORK/points.h5:/nope" -o "$OUT" $quick
expect_one_line_error "missing dataset"
run_case "no output file"           2 'no output file'                  -- "$T" "$DATA" $quick
expect_one_line_error "no output file"
run_case "bad activation"           2 'invalid --activation "relu6".*softplus, silu, tanh, elu' -- "$T" "$DATA" -o "$OUT" --activation relu6
run_case "bad schedule"             2 'invalid --lr-schedule "step"'    -- "$T" "$DATA" -o "$OUT" --lr-schedule step
run_case "negative steps"           2 'invalid --steps'                 -- "$T" "$DATA" -o "$OUT" --steps -5
# Every count, interval and size option is checked when the options are parsed, so that no value
# reaches the trainer as a division by zero or a loop that never ends.
while read -r option value pattern; do
    run_case "$option $value" 2 "invalid $option \"$value\": $pattern" -- "$T" "$DATA" -o "$OUT" "$option" "$value"
    expect_one_line_error "$option $value"
done <<'CASES'
--log-every 0 must be a whole number of at least 1
--checkpoint-every -1 must be a whole number of at least 0
--batch-size 0 must be a whole number of at least 1
--steps 0 must be a whole number of at least 1
--steps 99999999999999999999 must be a whole number of at least 1
--steps 0x10 must be a whole number
--epochs -1 must be a whole number of at least 0
--epochs 1e12 must be a whole number of at least 0
--warmup -1 must be a whole number of at least 0
--width 0 must be a whole number from 1 to 2147483647
--width 2147483648 must be a whole number from 1 to 2147483647
--depth 0 must be a whole number from 1
--levels 0 must be a whole number from 1
--lr inf must be a finite number
--lr 0 must be positive
--beta1 1 must be in \[0, 1\)
--beta2 nan must be a finite number
--ema 1 must be in \[0, 1\)
--val-fraction -0.1 must be in \[0, 1\)
--sigma-min 0 must be positive
--sigma-max -1 must be 0 or positive
--seed -1 must be a whole number from 0 to 18446744073709551615
--seed 18446744073709551616 must be a whole number from 0
--threads -1 must be 0 or positive
CASES
expect_no_file "option checks" "$OUT"
run_case "non-numeric option"       2 'steps'                           -- "$T" "$DATA" -o "$OUT" --steps many
run_case "unwritable output"        1 'cannot write output "/nonexistent/m.h5"' -- "$T" "$DATA" -o /nonexistent/m.h5 $quick
expect_one_line_error "unwritable output"
# The output is checked before training: a run of 10^8 steps must end at once, not at the timeout.
run_case "output checked first"     1 'cannot write output'              -- timeout 120 "$T" "$DATA" -o /nonexistent/m.h5 --steps 100000000
run_case "unwritable checkpoint"    1 'cannot write output "/nonexistent/x.ckpt"' -- "$T" "$DATA" -o "$OUT" --checkpoint /nonexistent/x.ckpt $quick
expect_no_file "unwritable checkpoint" "$OUT"
# A checkpoint is a whole HDF5 file on disk: "-" would have been written as a file named "-".
run_case "checkpoint on stdout"     2 'invalid --checkpoint "-": a checkpoint must be an HDF5 file on disk' -- "$T" "$DATA" -o "$OUT" --checkpoint - $quick
expect_one_line_error "checkpoint on stdout"
run_case "resume from stdin"        2 'invalid --resume "-": a checkpoint must be an HDF5 file on disk' -- "$T" "$DATA" -o "$OUT" --resume - $quick
# A text file given as the checkpoint got the point reader's advice about :/dataset suffixes.
run_case "resume from a text file"  1 'cannot resume from ".*faithful.csv": not an HDF5 file; give a checkpoint written by score-train' -- \
    "$T" "$DATA" -o "$OUT" --resume "$DATA" $quick
expect_one_line_error "resume from a text file"
run_case "output is a directory"    1 'cannot write output ".*": it is a directory' -- "$T" "$DATA" -o "$WORK" $quick
expect_no_file "all failures" "$OUT"
cp "$WORK/points.h5" "$WORK/same.h5"
run_case "output is the input"      2 'invalid --output ".*same.h5": it is the same file as input' -- \
    "$T" "$WORK/same.h5" -o "$WORK/same.h5" $quick
h5dump -H "$WORK/same.h5" > /dev/null 2>&1 || fail "output is the input: the input file was damaged"
# Output, checkpoint and inputs must be different files, also before any of them exists; the
# checkpoint may be the file that --resume reads.
run_case "checkpoint is the output" 2 'invalid --checkpoint ".*y.h5": it is the same file as --output' -- \
    "$T" "$DATA" -o "$WORK/y.h5" --checkpoint "$WORK/y.h5" $quick
expect_one_line_error "checkpoint is the output"
expect_no_file "checkpoint is the output" "$WORK/y.h5"
run_case "checkpoint via another path" 2 'invalid --checkpoint' -- \
    "$T" "$DATA" -o "$WORK/y.h5" --checkpoint "$WORK/../$(basename "$WORK")/y.h5" $quick
run_case "default checkpoint is the input" 2 'invalid --checkpoint ".*same.h5.ckpt": it is the same file as input' -- \
    "$T" "$WORK/same.h5.ckpt" -o "$WORK/same.h5" $quick
run_case "resume is the output"     2 'invalid --output ".*y.h5": it is the same file as --resume' -- \
    "$T" "$DATA" -o "$WORK/y.h5" --resume "$WORK/y.h5" $quick
run_case "checkpoint is the input"  2 'invalid --checkpoint ".*faithful.csv": it is the same file as input' -- \
    "$T" "$DATA" -o "$WORK/y.h5" --checkpoint "$DATA" $quick
run_case "model with a dataset"     2 'invalid --output ".*m.h5:x": this output holds several datasets' -- \
    "$T" "$DATA" -o "$WORK/m.h5:x" $quick
expect_one_line_error "model with a dataset"
expect_no_file "model with a dataset" "$WORK/m.h5"
# A batch that cannot be allocated is one line, not LibTorch's stack trace.
run_case "batch beyond memory"      1 'out of memory "--batch-size 1000000000000.*lower --batch-size' -- \
    "$T" "$DATA" -o "$OUT" --batch-size 1000000000000 --steps 1
expect_one_line_error "batch beyond memory"
expect_no_file "batch beyond memory" "$OUT"

# Standard input with gzip, and a short run whose model langevin can sample.
gzip -c "$DATA" > "$WORK/faithful.csv.gz"
run_case_stdin "gzip on stdin" 0 'done: 40 steps' "$WORK/faithful.csv.gz" -- "$T" - -o "$OUT" $quick
expect_file "gzip on stdin" "$OUT"
run_case "sample trained model" 0 '' -- "$BIN/langevin" -m "$OUT" --method annealed --chains 5 --steps 10 --seed 1
[ "$(wc -l < "$WORK/out")" -eq 5 ] || fail "sample trained model: expected 5 rows, got $(wc -l < "$WORK/out")"

# SIGINT during training: exit 130, a checkpoint, no model; --resume then equals a full run.
common="--width 32 --batch-size 32 --log-every 1000"
long="$common --steps 200000 --seed 9"
"$T" "$DATA" -o "$WORK/int.h5" $long -v 2> "$WORK/int.err" &
pid=$!
for _ in $(seq 1 100); do
    grep -q "\[2/3\] training" "$WORK/int.err" 2>/dev/null && break
    sleep 0.1
done
sleep 0.5
kill -INT "$pid"
wait "$pid"
status=$?
[ "$status" -eq 130 ] || fail "SIGINT: exit status $status, expected 130: $(tail -2 "$WORK/int.err")"
grep -q 'continue with --resume .*int.h5.ckpt' "$WORK/int.err" || fail "SIGINT: no resume hint: $(tail -2 "$WORK/int.err")"
[ -s "$WORK/int.h5.ckpt" ] || fail "SIGINT: no checkpoint written"
[ ! -e "$WORK/int.h5" ] || fail "SIGINT: model written by an interrupted run"
if [ -s "$WORK/int.h5.ckpt" ]; then
    step=$(h5dump -a /checkpoint/step "$WORK/int.h5.ckpt" | awk '/\(0\)/ {print $2}')
    total=$((step + 300))
    # A cosine schedule depends on the step budget, so it cannot be resumed with another one.
    run_case "resume mismatch" 2 'lr_schedule is cosine' -- "$T" "$DATA" -o "$WORK/res.h5" $long --lr-schedule cosine \
        --resume "$WORK/int.h5.ckpt"
    run_case "resume" 0 'resuming from' -- "$T" "$DATA" -o "$WORK/res.h5" $common --seed 9 --steps "$total" \
        --resume "$WORK/int.h5.ckpt" -v
    run_case "resume before checkpoint" 2 "checkpoint is at step $step, beyond --steps 10" -- "$T" "$DATA" \
        -o "$WORK/early.h5" $common --seed 9 --steps 10 --resume "$WORK/int.h5.ckpt"
    run_case "uninterrupted" 0 '' -- "$T" "$DATA" -o "$WORK/full.h5" $common --seed 9 --steps "$total"
    for name in layers.0.weight layers.1.bias layers.2.weight; do
        h5diff -q "$WORK/res.h5" "$WORK/full.h5" "/model/$name" "/model/$name" ||
            fail "resume: /model/$name differs from the uninterrupted run"
    done
    # Negative control for the comparison: another seed must differ.
    run_case "other seed" 0 '' -- "$T" "$DATA" -o "$WORK/other.h5" $common --seed 10 --steps "$total"
    h5diff -q "$WORK/other.h5" "$WORK/full.h5" /model/layers.0.weight /model/layers.0.weight &&
        fail "resume: a different seed gave the same weights, so the comparison cannot fail"
fi

# A resumed run writes the same loss log as an uninterrupted one, also with a schedule that
# depends on the step budget and a checkpoint between two log entries. The periodic checkpoint
# (step 220) stays after the run.
cosine="--width 16 --batch-size 32 --steps 300 --log-every 50 --lr-schedule cosine --seed 4"
run_case "cosine with checkpoints" 0 '' -- "$T" "$DATA" -o "$WORK/cos.h5" $cosine --checkpoint-every 110
mv "$WORK/cos.h5.ckpt" "$WORK/cos220.ckpt"
run_case "cosine resumed" 0 'resuming from .* at step 220 of 300' -- "$T" "$DATA" -o "$WORK/cos-res.h5" $cosine \
    --resume "$WORK/cos220.ckpt"
h5diff -q "$WORK/cos.h5" "$WORK/cos-res.h5" /training/log /training/log ||
    fail "resume: /training/log differs from the uninterrupted run: $(h5dump -d /training/log "$WORK/cos-res.h5" | grep -c ,)"
h5diff -q "$WORK/cos.h5" "$WORK/cos-res.h5" /model/layers.0.weight /model/layers.0.weight ||
    fail "resume: the cosine model differs from the uninterrupted run"
rows=$(/usr/bin/python3 -c 'import h5py, sys; print(h5py.File(sys.argv[1])["/training/log"].shape[0])' "$WORK/cos-res.h5")
[ "$rows" = 6 ] || fail "resume: /training/log has $rows rows, expected 6 (steps 50 to 300)"

# --distributed takes rank and world size from SLURM; without them it is a usage error, before
# any rendezvous. The data-parallel runs themselves are tested on a local cluster (tests/slurm).
run_case "distributed outside SLURM" 2 'invalid SLURM_NTASKS "\(not set\)"' -- \
    env -u SLURM_NTASKS -u SLURM_STEP_NUM_TASKS -u SLURM_PROCID "$T" "$DATA" -o "$WORK/dist.h5" $quick --distributed
expect_one_line_error "distributed outside SLURM"
run_case "distributed in a batch script" 2 'batch script without srun' -- \
    env SLURM_JOB_ID=5 SLURM_NTASKS=2 SLURM_PROCID=0 "$T" "$DATA" -o "$WORK/dist.h5" $quick --distributed
run_case "distributed without job id" 2 'no rendezvous file for --distributed' -- \
    env SLURM_NTASKS=2 SLURM_PROCID=0 "$T" "$DATA" -o "$WORK/dist.h5" $quick --distributed
run_case "distributed bad rank" 2 'invalid SLURM_PROCID "2"' -- \
    env SLURM_NTASKS=2 SLURM_PROCID=2 "$T" "$DATA" -o "$WORK/dist.h5" $quick --distributed --rendezvous "$WORK/store"
run_case "distributed batch too small" 2 'invalid --batch-size "1"' -- \
    env SLURM_NTASKS=2 SLURM_PROCID=0 "$T" "$DATA" -o "$WORK/dist.h5" --steps 40 --width 16 --batch-size 1 --distributed \
    --rendezvous "$WORK/store"
expect_no_file "distributed usage errors" "$WORK/dist.h5"

# A rank that cannot read its files (say, data on a node-local disk) stops the other ranks with
# its error at once. Before, they waited for it until the group's 10-minute timeout. Two ranks run
# by hand on loopback, with each rank failing in turn, and `timeout` bounds the wait of a regression.
for failing in 0 1; do
    rm -f "$WORK/dp-store"
    for rank in 0 1; do
        data=$DATA
        [ $rank = $failing ] && data=$WORK/not-on-this-node.csv
        (env GLOO_SOCKET_IFNAME=lo SLURM_NTASKS=2 SLURM_PROCID=$rank timeout 120 "$T" "$data" -o "$WORK/dp.h5" \
            $quick --threads 1 --distributed --rendezvous "$WORK/dp-store" 2> "$WORK/dp$rank.err"
         echo $? > "$WORK/dp$rank.rc") &
    done
    wait
    other=$((1 - failing))
    [ "$(cat "$WORK/dp$other.rc")" = 1 ] || fail "rank $other after rank $failing failed: exit $(cat "$WORK/dp$other.rc"), expected 1: $(cat "$WORK/dp$other.err")"
    grep -q "data-parallel rank $failing failed before training: cannot open \".*not-on-this-node.csv\"" "$WORK/dp$other.err" ||
        fail "rank $other did not name rank $failing's error: $(cat "$WORK/dp$other.err")"
    [ "$(cat "$WORK/dp$failing.rc")" = 1 ] || fail "failing rank $failing: exit $(cat "$WORK/dp$failing.rc"), expected 1"
    [ ! -e "$WORK/dp-store" ] || fail "the rendezvous file store was left behind after rank $failing failed"
done
expect_no_file "a rank failed" "$WORK/dp.h5"

# A rank whose peer never starts (a node that cannot see the rendezvous file, without srun's
# --kill-on-bad-exit) fails after --distributed-timeout seconds, not the default 10 minutes.
rm -f "$WORK/dp-store"
run_case "distributed timeout" 1 'cannot join the data-parallel group ".*dp-store": timed out after 2 s waiting for the other ranks .*raise --distributed-timeout' \
    -- env GLOO_SOCKET_IFNAME=lo SLURM_NTASKS=2 SLURM_PROCID=0 timeout 120 "$T" "$DATA" -o "$WORK/dp.h5" $quick \
    --threads 1 --distributed --rendezvous "$WORK/dp-store" --distributed-timeout 2
expect_one_line_error "distributed timeout"
expect_no_file "distributed timeout" "$WORK/dp.h5"
rm -f "$WORK/dp-store"
run_case "distributed timeout zero" 2 'invalid --distributed-timeout "0"' -- "$T" "$DATA" -o "$WORK/dp.h5" --distributed-timeout 0

# The same command writes the same bytes, also a second later: HDF5 records no object times.
run_case "first run" 0 '' -- "$T" "$DATA" -o "$WORK/same.h5" $quick
mv "$WORK/same.h5" "$WORK/first.h5"
sleep 1.1
run_case "second run" 0 '' -- "$T" "$DATA" -o "$WORK/same.h5" $quick
cmp -s "$WORK/first.h5" "$WORK/same.h5" || fail "the same command wrote different bytes a second later"

# Standardisation works at any scale: data near 1e-200 used to be rejected as a constant column
# (the variance underflowed), and data near 1e200 gave a model with data_std = inf. Scaled data
# standardise to the same training points, so the scores are the unit-scale scores over the scale.
awk -F, 'NR > 1 { print $1 "\t" $2 }' "$DATA" > "$WORK/unit.tsv"
printf '3.5\t70\n' > "$WORK/point-unit.tsv"
run_case "unit scale" 0 '' -- "$T" "$WORK/unit.tsv" -o "$WORK/unit.h5" $quick
"$BIN/metric-eval" -m "$WORK/unit.h5" --score -q "$WORK/point-unit.tsv" > "$WORK/score-unit.tsv" ||
    fail "metric-eval on the unit-scale model failed"
for scale in 1e-200 1e200; do
    awk -v s="$scale" '{ printf "%.17g\t%.17g\n", $1 * s, $2 * s }' "$WORK/unit.tsv" > "$WORK/scaled.tsv"
    awk -v s="$scale" '{ printf "%.17g\t%.17g\n", $1 * s, $2 * s }' "$WORK/point-unit.tsv" > "$WORK/point.tsv"
    run_case "scale $scale" 0 '' -- "$T" "$WORK/scaled.tsv" -o "$WORK/scaled.h5" $quick
    "$BIN/metric-eval" -m "$WORK/scaled.h5" --score -q "$WORK/point.tsv" > "$WORK/score-scaled.tsv" 2> "$WORK/err" ||
        fail "scale $scale: metric-eval failed: $(cat "$WORK/err")"
    paste "$WORK/score-unit.tsv" "$WORK/score-scaled.tsv" | awk -v s="$scale" 'NR == 2 {
        for (i = 1; i <= 2; i++) { d = $(i + 2) * s / $i - 1; if (d < 0) d = -d; if (!(d < 1e-4)) exit 1 } }' ||
        fail "scale $scale: scores $(sed -n 2p "$WORK/score-scaled.tsv") are not those at unit scale $(sed -n 2p "$WORK/score-unit.tsv") over $scale"
done

# Every constant column is named at once, with its header name: digit images have three, and
# only the first used to be named. A table with fewer points than dimensions is probably stored
# transposed, which a warning suggests.
printf 'a,b,c,d\n1,2,0,5\n1,3,0,6\n1,4,0,5\n' > "$WORK/constant.csv"
run_case "constant columns" 1 'cannot train on ".*constant.csv": 2 columns are constant: 1 \("a"\), 3 \("c"\) \(counting from 1\)' \
    -- "$T" "$WORK/constant.csv" -o "$WORK/constant.h5" $quick
expect_one_line_error "constant columns"
awk 'BEGIN { for (i = 0; i < 3; i++) { for (j = 0; j < 5; j++) printf "%s%d", (j ? "\t" : ""), (i + 1) * (j + 2) % 7; print "" } }' \
    > "$WORK/wide.tsv"
run_case "fewer points than dimensions" 0 'warning: ".*wide.tsv" has 3 points of dimension 5, fewer points than dimensions: .*transposed' \
    -- "$T" "$WORK/wide.tsv" -o "$WORK/wide.h5" $quick

# Outliers: two points at +-1e4 among 6000 in [0, 1). They set the largest pairwise distance (110
# standard deviations). The automatic --sigma-max used to take it over the first 2000 training
# points only (55 here, from one of the two). They also inflate the deviation that standardises
# the data, which a warning names.
awk 'BEGIN { for (i = 0; i < 6000; i++) print (i == 2500 ? 1e4 : i == 4500 ? -1e4 : (i * 7919 % 6007) / 6007) }' > "$WORK/outliers.txt"
run_case "outliers" 0 'warning: ".*outliers.txt": the standard deviation of column 1 is up to [0-9]+ times the spread' \
    -- "$T" "$WORK/outliers.txt" -o "$WORK/outliers.h5" --val-fraction 0 $quick
sigma_max=$(h5dump -a /model/sigma_max "$WORK/outliers.h5" | awk '/\(0\)/ { print $2 }')
awk -v s="$sigma_max" 'BEGIN { exit !(s > 100 && s < 120) }' || fail "outliers: sigma_max $sigma_max, expected about 110"

# A model that does not fit on the disk (here: over a file size limit) fails with one line and
# exit 1, and leaves nothing behind. HDF5 used to crash at exit after the failed close.
run_case_full_disk "full disk" 4 'cannot write HDF5 file ".*nospace\.h5": File too large; raise the file size limit' -- \
    "$T" "$DATA" -o "$WORK/nospace.h5" $quick -q
expect_one_line_error "full disk"
expect_no_file "full disk" "$WORK/nospace.h5"
finish
