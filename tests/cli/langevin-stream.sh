# langevin streams its kept samples to the output. The outputs must equal, value for value, those
# of the version that kept all samples in memory until the end (digests below, from commit
# fe25e36), for every method, thinning, shards, text, HDF5 and standard output. A resumed run must
# equal an uninterrupted one also after rows were streamed. A failure midway leaves no output
# file, and memory does not grow with the kept samples.
. "$(dirname "$0")/lib.sh"
L="$BIN/langevin"
cd "$WORK" || exit 1
gmm='gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1'
gauss16="gaussian:mean=$(printf '0,%.0s' $(seq 15))0;cov=1"

# A trained MLP score model of D = 2 with fixed weights. The defaults give blocks of 65,536
# chains in D = 2, so its 70,000 chains run in two blocks.
/usr/bin/python3 - model-mlp.h5 <<'PY' || fail "could not write the MLP model file"
import sys, h5py, numpy as np
rng = np.random.default_rng(3)
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("model")
    g.attrs["kind"] = "mlp-score"
    g.attrs["activation"] = "tanh"
    for key, value in {"dim": 2, "width": 8, "depth": 1, "num_levels": 3}.items():
        g.attrs[key] = np.int64(value)
    g.attrs["sigma_max"] = 2.0
    g.attrs["sigma_min"] = 0.2
    g["sigmas"] = np.array([2.0, 0.63245553203367588, 0.2])
    g["data_mean"] = np.array([0.5, -0.25])
    g["data_std"] = np.array([1.5, 0.75])
    g["layers.0.weight"] = rng.normal(0, 0.5, (8, 3)).astype(np.float32)
    g["layers.0.bias"] = rng.normal(0, 0.1, 8).astype(np.float32)
    g["layers.1.weight"] = rng.normal(0, 0.5, (2, 8)).astype(np.float32)
    g["layers.1.bias"] = rng.normal(0, 0.1, 2).astype(np.float32)
PY

# digest FILE: SHA-256 of a text file, or of an HDF5 file's datasets (values as little-endian
# float64) and their attributes except the provenance at the root, which names the command line.
digest() {
    case "$1" in
    *.h5) /usr/bin/python3 -c '
import hashlib, sys, h5py, numpy as np
h = hashlib.sha256()
with h5py.File(sys.argv[1], "r") as f:
    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            h.update(name.encode())
            h.update(np.asarray(item[()], dtype="<f8").tobytes())
            h.update(repr(item.chunks).encode())
            h.update(repr(item.fletcher32).encode())
        for key in sorted(item.attrs):
            h.update(repr((name, key, item.attrs[key])).encode())
    f.visititems(visit)
print(h.hexdigest())
' "$1" ;;
    *) sha256sum < "$1" | cut -d' ' -f1 ;;
    esac
}

# NAME DIGEST OUTPUT OPTIONS...: OUTPUT is a file name, or - for standard output.
while read -r name expected output options; do
    [ -n "$name" ] || continue
    read -r -a args <<< "$options"
    model=$gmm
    case "$name" in mlp-*) model=model-mlp.h5 ;; d16-*) model=$gauss16 ;; esac
    run_case "same output: $name" 0 '' -- "$L" -m "$model" "${args[@]}" -o "$output" -q
    result=${output%%:*}
    [ "$output" = - ] && result=$WORK/out
    actual=$(digest "$result")
    [ "$actual" = "$expected" ] || fail "same output: $name: digest $actual, expected $expected"
done <<'CASES'
ula-stdout           726d8f16e9dc2313cd3bca89d6c214da1a9def68235bba84d513f4289d2c618d   -            --chains 37 --steps 23 --burn-in 3 --thin 4 --seed 3
ula-text             726d8f16e9dc2313cd3bca89d6c214da1a9def68235bba84d513f4289d2c618d     ula.tsv      --chains 37 --steps 23 --burn-in 3 --thin 4 --seed 3
mala-h5              d66ece3cf8a032263a0d852559663b0fbff4ffb4a793c48f806363fbe405df0c      mala.h5:/g/s --method mala --chains 41 --steps 30 --thin 5 --seed 9
annealed-text        46142ff23c9ceeb6539fcea9c8c7586010eb397f05f34c03357b8f9256810b3d     ann.tsv      --method annealed --sigma-max 3 --sigma-min 0.3 --levels 4 --chains 29 --steps 7 --denoise --seed 2
annealed-h5          868326055b1b5cb9487bd6e93734decd65a2e130f6015887cc24b218a4921211       ann.h5       --method annealed --sigma-max 3 --sigma-min 0.3 --levels 4 --chains 29 --steps 7 --seed 2
shard-text           b3a3dca883ddba17a97624fad24096ded68891d0a7f14673341d5958ccac3cb7   shard.tsv    --chains 50 --steps 12 --thin 3 --shard 1/3 --seed 4
shard-h5             d1a6cd1ea7c46bed47b7bff95c8a7c7ffc2e0ffce8c1cb31c82cfd23d756f475     shard.h5     --method mala --chains 50 --steps 12 --thin 3 --shard 2/3 --seed 4
mlp-ula-blocks       23337f5765516219c8f87b2c3dc3c888bd1de1fa26232bfe66ddd5cb50f2693a      mlp.h5       --chains 70000 --steps 4 --thin 2 --seed 6
mlp-annealed-blocks  db37e4805b5c074237eeef67ecfa4e171f6828dfbf17b585856f5d63baf68323      mlpa.h5      --method annealed --chains 70000 --steps 2 --denoise --seed 6
d16-mala-blocks      fae3133e0d2f7053f818c7af932cd5a7300092e65e4e241b567d61af82ecd7f3     -            --method mala --chains 9000 --steps 3 --step-size 0.1 --seed 8
CASES

# A run that fails after rows were streamed (the chains diverge, found at step 100 after the rows
# of steps 10 to 90 were kept) leaves neither the output nor a temporary file.
diverging=(-m 'gaussian:mean=0;cov=1' --chains 20 --steps 300 --thin 10 --step-size 50)
for output in fail.h5 fail.tsv fail-nested.h5:/g/s; do
    run_case "failure after streamed rows: $output" 1 'sampler diverged at step 100' -- "$L" "${diverging[@]}" -o "$output"
    expect_one_line_error "failure after streamed rows: $output"
    expect_no_file "failure after streamed rows: $output" "$WORK/${output%%:*}"
done
# Rows sent to standard output cannot be taken back: those of the 9 steps kept before the
# failure stay there, and exit status 1 marks the output as incomplete.
run_case "failure after rows on standard output" 1 'sampler diverged at step 100' -- "$L" "${diverging[@]}" -o -
[ "$(wc -l < out)" -eq 180 ] || fail "failure after rows on standard output: $(wc -l < out) rows, expected 180"

# Interrupted after kept rows were streamed, a resumed run writes the output of an uninterrupted
# run, to a text file and to standard output. The checkpoint's sample file contains the rows kept
# before it, which the resumed run writes first.
ula=(-m "$gmm" --chains 300 --steps 200000 --thin 20000 --seed 12)
run_case "uninterrupted text" 0 '' -- "$L" "${ula[@]}" -o whole.tsv -q
# kept_rows CHECKPOINT: the kept rows that a checkpoint records.
kept_rows() {
    /usr/bin/python3 -c 'import sys, h5py; print(int(h5py.File(sys.argv[1], "r")["checkpoint"].attrs["kept_rows"]))' "$1"
}
"$L" "${ula[@]}" -o part.tsv --checkpoint-every 1000 < /dev/null 2> sig.err &
signal_when INT $! test -s part.tsv.ckpt.samples
[ "$status" -eq 130 ] || fail "interrupted text: exit status $status, expected 130: $(cat sig.err)"
[ "$(kept_rows part.tsv.ckpt)" -gt 0 ] || fail "interrupted text: the checkpoint records no kept rows"
expect_no_file "interrupted text" "$WORK/part.tsv"
run_case "resumed text" 0 'resuming from part.tsv.ckpt' -- "$L" "${ula[@]}" -o part.tsv --resume part.tsv.ckpt
cmp -s whole.tsv part.tsv || fail "resumed text: output differs from the uninterrupted run"
[ ! -e part.tsv.ckpt ] && [ ! -e part.tsv.ckpt.samples ] || fail "resumed text: the checkpoint was not removed"

"$L" "${ula[@]}" -o - --checkpoint ck-out.h5 --checkpoint-every 1000 < /dev/null > part-out.tsv 2> sig.err &
signal_when INT $! test -s ck-out.h5.samples
[ "$status" -eq 130 ] || fail "interrupted standard output: exit status $status, expected 130: $(cat sig.err)"
[ -s part-out.tsv ] || fail "interrupted standard output: no rows were streamed before the signal"
run_case "resumed standard output" 0 'resuming from ck-out.h5' -- "$L" "${ula[@]}" -o - --checkpoint ck-out.h5 \
    --resume ck-out.h5
cmp -s whole.tsv out || fail "resumed standard output: output differs from the uninterrupted run"

# Memory grows with the chains, not with the kept samples: 200,000 chains in D = 16 that keep 10 states
# (256 MB of samples) run within 400 MB of address space. Keeping the samples in memory took about 700 MB.
run_case "kept samples beyond the memory limit" 0 '' -- bash -c 'ulimit -v 400000 && exec "$@"' limit \
    "$L" -m "$gauss16" --chains 200000 --steps 20 --thin 2 -o big.h5 -q
/usr/bin/python3 -c 'import sys, h5py; assert h5py.File(sys.argv[1], "r")["samples"].shape == (2000000, 16)' big.h5 2> /dev/null ||
    fail "kept samples beyond the memory limit: /samples is not [2000000, 16]"
rm -f big.h5
finish
