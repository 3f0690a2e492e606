# Black-box tests of fim on TorchScript modules, an MLP model file and the normal family. The
# fixtures and the reference matrices (PyTorch autograd in float64, independent of scorekit) are
# made by tests/fixtures/make_fim_fixtures.py with Debian's python3-torch.
. "$(dirname "$0")/lib.sh"
FIM="$BIN/fim"
PYTHON=${SCOREKIT_PYTHON:-/usr/bin/python3}
FX="$WORK/fixtures"

if ! "$PYTHON" "$SRC/tests/fixtures/make_fim_fixtures.py" "$FX" 2> "$WORK/fixture_err"; then
    fail "fixtures: make_fim_fixtures.py failed (needs python3-torch, python3-h5py): $(tail -3 "$WORK/fixture_err")"
    finish
fi

# compare_h5 NAME FILE DATASET REF_DATASET TOLERANCE: max |a - b| / max |b| below TOLERANCE.
compare_h5() {
    local name=$1 file=$2 dataset=$3 reference=$4 tolerance=$5 result
    result=$("$PYTHON" - "$file" "$dataset" "$FX/reference.h5" "$reference" "$tolerance" <<'PY'
import sys, h5py, numpy as np
got = h5py.File(sys.argv[1], "r")[sys.argv[2]][()]
ref = h5py.File(sys.argv[3], "r")[sys.argv[4]][()]
error = np.abs(got - ref).max() / np.abs(ref).max()
print("ok" if got.shape == ref.shape and error < float(sys.argv[5]) else f"shape {got.shape} vs {ref.shape}, relative error {error}")
PY
)
    [ "$result" = "ok" ] || fail "$name: $result"
}

# An nn.Sequential archive is read without LibTorch (tests/fixtures/make_archive_fixtures.py). One
# tanh network is read four ways, with the same results. These are the archive (tanh.pt), LibTorch
# as a stack (tanh_marked.pt, whose buffer the archive reader rejects), autograd as a custom module
# (tanh_custom.pt) and an MLP model file (tanh_mlp.h5). With Dropout and Flatten added
# (tanh_dropout.pt, scripted and traced) it is still the same stack, kfac included.
AX="$WORK/archives"
if ! "$PYTHON" "$SRC/tests/fixtures/make_archive_fixtures.py" "$AX" 2> "$WORK/fixture_err"; then
    fail "fixtures: make_archive_fixtures.py failed: $(tail -3 "$WORK/fixture_err")"
    finish
fi

# same_results NAME FILE REFERENCE [TOLERANCE]: every dataset under /fisher, in order, has the same
# shape and max |a - b| <= TOLERANCE (1e-12) max |b| (layer names differ between the files, so they
# are not compared).
same_results() {
    local result
    result=$("$PYTHON" - "$2" "$3" "${4:-1e-12}" <<'PY'
import sys, h5py, numpy as np
def datasets(path):
    found = []
    h5py.File(path, "r")["fisher"].visititems(lambda name, item: found.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return found
got, ref = datasets(sys.argv[1]), datasets(sys.argv[2])
if len(got) != len(ref) or not ref:
    print(f"{len(got)} datasets, expected {len(ref)}")
for a, b in zip(got, ref):
    if a.shape != b.shape or np.abs(a - b).max() > float(sys.argv[3]) * np.abs(b).max():
        print(f"shape {a.shape} vs {b.shape}, max difference {np.abs(a - b).max() if a.shape == b.shape else 'n/a'}")
        break
PY
)
    [ -z "$result" ] || fail "$1: $result"
}

# fim_tanh NAME MODEL ARGS...: fim with the categorical likelihood on the archive inputs, -o NAME.h5.
fim_tanh() {
    local name=$1 model=$2
    shift 2
    run_case "$name" 0 "" -- "$FIM" -m "$model" -i "$AX/labelled.tsv" --labels last --likelihood categorical "$@" \
        -o "$WORK/$name.h5"
}
# Shards of the inputs (a SLURM array) merged by merge-shards.py fisher equal one run: the stored
# matrices are sums over inputs, weighted by each shard's inputs for mean and for KFAC's G. mc:2
# checks that each input draws from the same stream in a shard as in the whole run.
MERGE="$SRC/share/slurm/merge-shards.py"
for request in "dense --reduction mean" "diag" "block" "kfac" "kfac --reduction mean"; do
    tag=shard_$(printf %s "$request" | tr -c 'a-z0-9' '_')
    # shellcheck disable=SC2086
    fim_tanh "$tag whole" "$AX/tanh.pt" -e mc:2 -r $request
    for shard in 0 1 2; do
        # shellcheck disable=SC2086
        run_case "$tag $shard/3" 0 "shard $shard/3: inputs \[" -- "$FIM" -m "$AX/tanh.pt" -i "$AX/labelled.tsv" \
            --labels last -e mc:2 -r $request --shard $shard/3 -o "$WORK/$tag-$shard.h5"
    done
    run_case "$tag merge" 0 "" -- "$PYTHON" "$MERGE" fisher -o "$WORK/$tag-merged.h5" "$WORK/$tag-0.h5" \
        "$WORK/$tag-1.h5" "$WORK/$tag-2.h5"
    same_results "$tag merged" "$WORK/$tag-merged.h5" "$WORK/$tag whole.h5"
done
# --stored gives the merged matrix the summaries that no shard can form: the same trace,
# eigenvalues and log det as one run.
for tag in "shard_dense___reduction_mean" "shard_kfac" "shard_block" "shard_diag"; do
    request=$(echo "${tag#shard_}" | sed 's/___/ --/; s/_/ /g')
    # shellcheck disable=SC2086
    run_case "$tag summaries" 0 "" -- "$FIM" -m "$AX/tanh.pt" -i "$AX/labelled.tsv" --labels last -e mc:2 \
        -r $request -k 3 --log-det --damping 0.1
    cp "$WORK/out" "$WORK/$tag-whole.txt"
    run_case "$tag stored" 0 "" -- "$FIM" --stored "$WORK/$tag-merged.h5" -k 3 --log-det --damping 0.1
    "$PYTHON" - "$WORK/$tag-whole.txt" "$WORK/out" <<'PY' || fail "$tag stored: summaries differ from one run"
import sys
def fields(path):
    line = open(path).read().split("\n")[0]
    return dict(item.split("=", 1) for item in line.split("\t"))
whole, stored = fields(sys.argv[1]), fields(sys.argv[2])
for key in ("trace", "frobenius", "top_eigenvalues", "log_det", "inputs", "parameters", "representation"):
    a, b = whole.get(key), stored.get(key)
    if a is None or b is None:
        sys.exit(f"{key}: {a} against {b}")
    for x, y in zip(a.split(","), b.split(",")):
        try:
            same = abs(float(x) - float(y)) <= 1e-10 * max(1.0, abs(float(x)))
        except ValueError:
            same = x == y
        if not same:
            sys.exit(f"{key}: {a} against {b}")
PY
done
# --solve and --vector on a stored matrix give what the live run gives: the same natural gradient
# and product, written to -o with the same layout.
for request in dense diag block kfac; do
    fim_tanh "stored $request matrix" "$AX/tanh.pt" -e mc:2 -r $request
    fim_tanh "live $request solve" "$AX/tanh.pt" -e mc:2 -r $request --solve "$AX/vector.tsv" --vector "$AX/vector.tsv" \
        --damping 0.1
    run_case "stored $request solve" 0 "" -- "$FIM" --stored "$WORK/stored $request matrix.h5" --solve "$AX/vector.tsv" \
        --vector "$AX/vector.tsv" --damping 0.1 -o "$WORK/stored-$request-solve.h5"
    "$PYTHON" - "$WORK/stored-$request-solve.h5" "$WORK/live $request solve.h5" <<'PY' || fail "stored $request solve: differs from the live run"
import sys, h5py, numpy as np
stored, live = (h5py.File(path, "r")["fisher"] for path in sys.argv[1:])
for name in ("natural_gradient", "gradient", "product", "vector"):
    a, b = stored[name][()], live[name][()]
    assert a.shape == b.shape, (name, a.shape, b.shape)
    assert np.abs(a - b).max() <= 1e-10 * np.abs(b).max(), (name, a, b)
for key in ("damping", "converged"):
    assert stored["natural_gradient"].attrs[key] == live["natural_gradient"].attrs[key], key
for key in ("representation", "estimator", "model", "num_inputs"):
    assert stored.attrs[key] == live.attrs[key], (key, stored.attrs[key], live.attrs[key])
PY
done
# Closed form: the normal family in (mu, log sigma) with sigma = 2 has F = diag(1/4, 2), so
# (F + 3/4 I)^-1 (1, 1) = (1, 4/11), and without damping (4, 1/2).
printf '1\t1\n' > "$WORK/ones.tsv"
for request in dense diag; do
    run_case "normal $request matrix" 0 "" -- "$FIM" -m normal:mu=0,sigma=2,parameters=mu-log-sigma -e exact -r $request \
        -q -o "$WORK/normal-$request.h5"
    for case in "0.75 1 0.36363636363636365" "0 4 0.5"; do
        set -- $case
        run_case "normal $request stored solve $1" 0 "" -- "$FIM" --stored "$WORK/normal-$request.h5" \
            --solve "$WORK/ones.tsv" --damping "$1" -o "$WORK/normal-$request-solve.h5"
        "$PYTHON" -c "import h5py,sys; x=h5py.File('$WORK/normal-$request-solve.h5','r')['fisher/natural_gradient'][()]; sys.exit(0 if abs(x[0] - $2) <= 1e-12 and abs(x[1] - $3) <= 1e-12 else 1)" ||
            fail "normal $request stored solve, damping $1: expected ($2, $3)"
    done
done
run_case "stored solve gradient" 2 'invalid --solve "gradient": the log-likelihood gradient needs the model' -- \
    "$FIM" --stored "$WORK/normal-dense.h5" --solve gradient -o "$WORK/gradient.h5"
expect_one_line_error "stored solve gradient"
expect_no_file "stored solve gradient" "$WORK/gradient.h5"
run_case "stored solve without -o" 2 'missing option "--output"' -- "$FIM" --stored "$WORK/normal-dense.h5" \
    --solve "$WORK/ones.tsv"
expect_one_line_error "stored solve without -o"
run_case "stored solve onto itself" 2 'invalid --output ".*normal-dense.h5": it is the same file as --stored' -- \
    "$FIM" --stored "$WORK/normal-dense.h5" --solve "$WORK/ones.tsv" -o "$WORK/normal-dense.h5"
run_case "stored solve wrong length" 1 'invalid vector ".*vector.tsv": .*the model has 2 parameters' -- \
    "$FIM" --stored "$WORK/normal-dense.h5" --solve "$AX/vector.tsv" -o "$WORK/wrong.h5"
expect_no_file "stored solve wrong length" "$WORK/wrong.h5"
# A file named like the normal: spec is ambiguous, and ./ names the file.
mkdir -p "$WORK/specdir"
cp "$AX/tanh_mlp.h5" "$WORK/specdir/normal:mu=0,sigma=2"
run_case "ambiguous normal spec" 2 'ambiguous model "normal:mu=0,sigma=2": .*write ./normal:mu=0,sigma=2 for the file' -- \
    env -C "$WORK/specdir" "$FIM" -m normal:mu=0,sigma=2 -e exact
expect_one_line_error "ambiguous normal spec"
run_case "file named like a spec" 0 '' -- env -C "$WORK/specdir" "$FIM" -m ./normal:mu=0,sigma=2 -i "$AX/inputs.tsv" \
    --likelihood categorical -e exact -q
grep -q "parameters=$(wc -w < "$AX/vector.tsv")\b" "$WORK/out" || fail "file named like a spec: not the tanh network's parameters"
# Class names as labels: the first name was taken for a header, and the error called the others
# a column of text to remove.
printf 'setosa\nsetosa\nversicolor\n' > "$WORK/names.txt"
head -n 3 "$AX/inputs.tsv" > "$WORK/three-inputs.tsv"
run_case "labels as class names" 1 'invalid labels ".*names.txt": "setosa" is not a number; labels are class indices 0 to K-1.*pandas.factorize' -- \
    "$FIM" -m "$AX/tanh.pt" -i "$WORK/three-inputs.tsv" --labels "$WORK/names.txt" --likelihood categorical -e empirical
expect_one_line_error "labels as class names"
# --blocks groups only the blocks of -r block; with kfac or dense it was ignored without a word.
for request in kfac dense diag; do
    run_case "blocks tensor with $request" 2 "invalid --blocks \"tensor\": it groups the blocks of --representation block, and the representation is $request" -- \
        "$FIM" -m "$AX/tanh.pt" -i "$AX/inputs.tsv" --likelihood categorical -e exact -r $request --blocks tensor
done
expect_one_line_error "blocks tensor with diag"
run_case "output onto the model" 2 'invalid --output ".*tanh_mlp.h5": it is the same file as --model' -- \
    "$FIM" -m "$AX/tanh_mlp.h5" -i "$AX/inputs.tsv" -e exact -o "$AX/tanh_mlp.h5"

run_case "stored shard" 1 'cannot summarise ".*shard_diag-0.h5": it holds shard 0/3' -- "$FIM" --stored "$WORK/shard_diag-0.h5"
expect_one_line_error "stored shard"
# A stored file with a damaged count (NaN, whose cast to an integer is undefined) names the attribute.
cp "$WORK/shard_diag-merged.h5" "$WORK/damaged-count.h5"
"$PYTHON" -c "import h5py; h5py.File('$WORK/damaged-count.h5', 'r+')['fisher'].attrs['num_inputs'] = float('nan')" ||
    fail "stored damaged count: h5py could not edit the file"
run_case "stored damaged count" 1 'invalid attribute ".*damaged-count.h5:/fisher@num_inputs": .* is not a whole number' -- \
    "$FIM" --stored "$WORK/damaged-count.h5"
expect_one_line_error "stored damaged count"
run_case "stored with a model" 2 'invalid --stored' -- "$FIM" --stored "$WORK/shard_diag-merged.h5" -m "$AX/tanh.pt"
run_case "shard merge out of order" 1 "is shard 1/3, but it is number 0" -- "$PYTHON" "$MERGE" fisher \
    -o "$WORK/disorder.h5" "$WORK/shard_diag-1.h5" "$WORK/shard_diag-0.h5" "$WORK/shard_diag-2.h5"
expect_no_file "shard merge out of order" "$WORK/disorder.h5"
run_case "shard with top-k" 2 'invalid shard "0/3": .*need the whole matrix' -- "$FIM" -m "$AX/tanh.pt" \
    -i "$AX/inputs.tsv" -e exact -r dense -k 2 --shard 0/3
expect_one_line_error "shard with top-k"
run_case "more shards than inputs" 2 'invalid shard "0/11": there are only 10 inputs' -- "$FIM" -m "$AX/tanh.pt" \
    -i "$AX/inputs.tsv" -e exact --shard 0/11
# A shard reads only its own rows of HDF5 inputs and labels, and gets the same matrices as from
# text. The NaN in row 9 belongs to shard 2/3 (inputs [6, 10)), so it stops only that shard, with
# the row counted in the whole table. Labels of another length stop every shard, also shard 0/3,
# whose own rows all have labels.
"$PYTHON" - "$AX/labelled.tsv" "$WORK/shard_inputs.h5" <<'PY' || fail "shard inputs: cannot write the HDF5 fixture"
import sys, h5py, numpy as np
table = np.loadtxt(sys.argv[1])
inputs, labels = table[:, :-1].copy(), table[:, -1:]
inputs[9, 0] = np.nan
with h5py.File(sys.argv[2], "w") as f:
    f["inputs"] = inputs
    f["labels"] = labels
    f["short_labels"] = labels[:-1]
PY
for shard in 0 1; do
    run_case "hdf5 shard $shard/3" 0 "shard $shard/3: inputs \[" -- "$FIM" -m "$AX/tanh.pt" \
        -i "$WORK/shard_inputs.h5:/inputs" --labels "$WORK/shard_inputs.h5:/labels" -e mc:2 -r diag \
        --shard $shard/3 -o "$WORK/hdf5_shard-$shard.h5"
    same_results "hdf5 shard $shard/3" "$WORK/hdf5_shard-$shard.h5" "$WORK/shard_diag-$shard.h5"
done
run_case "hdf5 shard with NaN" 1 'shard_inputs.h5:/inputs row 9, column 0 \(from 0\)": value nan is not finite' -- \
    "$FIM" -m "$AX/tanh.pt" -i "$WORK/shard_inputs.h5:/inputs" -e mc:2 -r diag --shard 2/3 -o "$WORK/nan_shard.h5"
expect_one_line_error "hdf5 shard with NaN"
for input in "$WORK/shard_inputs.h5:/inputs" "$AX/inputs.tsv"; do
    run_case "short labels $input" 1 'labels do not match the inputs ".*short_labels": it has 9 label rows for the 10 inputs of ' -- \
        "$FIM" -m "$AX/tanh.pt" -i "$input" --labels "$WORK/shard_inputs.h5:/short_labels" -e empirical -r diag \
        --shard 0/3 -o "$WORK/short_labels.h5"
    expect_one_line_error "short labels $input"
    expect_no_file "short labels $input" "$WORK/short_labels.h5"
done
# fim runs in $WORK with a relative name, so that a digit in the temporary directory's name
# cannot pass for the task id.
run_case "array with one output" 2 'invalid --output "fixed.h5": every task of the SLURM array' -- \
    env -C "$WORK" SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 "$FIM" -m "$AX/tanh.pt" -i "$AX/inputs.tsv" -e exact \
    -o "fixed.h5"
expect_one_line_error "array with one output"
expect_no_file "array with one output" "$WORK/fixed.h5"
run_case "array with {shard}" 0 "shard 1/3" -- env SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 "$FIM" \
    -m "$AX/tanh.pt" -i "$AX/inputs.tsv" -e exact -o "$WORK/array-{shard}.h5"
expect_file "array with {shard}" "$WORK/array-0001.h5"

# A build without LibTorch (-DSCOREKIT_WITH_TORCH=OFF) has no torch layer beside the core library:
# fim computes stacks, MLP files and the normal family, and rejects other modules with one line.
if ! torch_layer_built; then
    fim_tanh "archive kfac" "$AX/tanh.pt" -e exact -r kfac
    fim_tanh "mlp file kfac" "$AX/tanh_mlp.h5" -e exact -r kfac
    same_results "archive and mlp file, kfac" "$WORK/mlp file kfac.h5" "$WORK/archive kfac.h5"
    run_case "custom module without LibTorch" 1 \
        'cannot load TorchScript module ".*tanh_custom.pt": this scorekit was built without LibTorch' -- \
        "$FIM" -m "$AX/tanh_custom.pt" -i "$AX/inputs.tsv" -e exact
    expect_one_line_error "custom module without LibTorch"
    run_case "normal family without LibTorch" 0 "" -- "$FIM" -m normal:mu=0,sigma=2,parameters=mu-log-sigma -e exact -r dense -q
    finish
    exit
fi

# field NAME: the value of NAME=... in the summary line in $WORK/out.
field() { tr '\t' '\n' < "$WORK/out" | sed -n "s/^$1=//p"; }

# near NAME GOT EXPECTED TOLERANCE
near() {
    awk -v g="$2" -v e="$3" -v t="$4" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(g != "" && d <= t) }' ||
        fail "$1: got '$2', expected $3 +- $4"
}

# Softmax regression: trace 15/4, eigenvalues 9/4 and 3/2 (float32 parameters, so 1e-6).
run_case "softmax exact dense" 0 "" -- "$FIM" -m "$FX/softmax.pt" -i "$FX/softmax_input.tsv" -e exact -r dense -k 2 -q
near "softmax trace" "$(field trace)" 3.75 1e-6
near "softmax top eigenvalue" "$(field top_eigenvalues | cut -d, -f1)" 2.25 1e-6
near "softmax second eigenvalue" "$(field top_eigenvalues | cut -d, -f2)" 1.5 1e-6
[ "$(wc -l < "$WORK/out")" -eq 1 ] || fail "softmax: expected one summary line on stdout"

# The same network scripted, traced and as a custom module matches the autograd reference.
for module in mlp.pt mlp_traced.pt custom.pt; do
    run_case "$module exact dense" 0 "" -- "$FIM" -m "$FX/$module" -i "$FX/inputs.tsv" -e exact -r dense -o "$WORK/$module.h5"
    compare_h5 "$module dense" "$WORK/$module.h5" /fisher/matrix mlp 1e-10
done

# float16 and bfloat16 modules are computed in float64 from their stored values (the archive
# reader for the nn.Sequential, LibTorch for the custom module), and a notice names both dtypes.
# --single computes in float32, and the notice names float32.
for case in "mlp_float16.pt float16" "custom_bfloat16.pt bfloat16"; do
    set -- $case
    run_case "$2 module" 0 "^fim: \".*$1\" has $2 parameters; computing in float64 \(--single: float32\), which represents them exactly$" -- \
        "$FIM" -m "$FX/$1" -i "$FX/inputs.tsv" -e exact -r dense -o "$WORK/$1.h5"
    compare_h5 "$2 module dense" "$WORK/$1.h5" /fisher/matrix "mlp_$2" 1e-10
    "$PYTHON" -c "import h5py,sys; p=h5py.File('$WORK/$1.h5','r')['parameters']; sys.exit(0 if all(p[n].attrs['dtype'] == '$2' for n in p) else 1)" ||
        fail "$2 module: /parameters does not record dtype $2"
    run_case "$2 module --single" 0 "has $2 parameters; computing in float32 \(--single\), which represents them exactly$" -- \
        "$FIM" -m "$FX/$1" -i "$FX/inputs.tsv" -e exact -r dense --single -o "$WORK/$1-single.h5"
    compare_h5 "$2 module --single" "$WORK/$1-single.h5" /fisher/matrix "mlp_$2" 1e-5
done
run_case "float32 module has no notice" 0 "" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact -r diag
! grep -q "parameters; computing in" "$WORK/err" || fail "float32 module: unexpected dtype notice: $(cat "$WORK/err")"

# diag and implicit products agree with the dense reference.
run_case "mlp diag" 0 "" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact -r diag -o "$WORK/diag.h5"
"$PYTHON" - "$WORK/diag.h5" "$FX/reference.h5" <<'PY' || fail "mlp diag: differs from the reference diagonal"
import sys, h5py, numpy as np
got = h5py.File(sys.argv[1], "r")["/fisher/diagonal"][()]
ref = np.diag(h5py.File(sys.argv[2], "r")["mlp"][()])
sys.exit(0 if np.abs(got - ref).max() < 1e-10 * np.abs(ref).max() else 1)
PY
run_case "custom implicit product" 0 "" -- "$FIM" -m "$FX/custom.pt" -i "$FX/inputs.tsv" -e exact -r implicit \
    --vector "$FX/vector.tsv" -o "$WORK/product.h5"
"$PYTHON" - "$WORK/product.h5" "$FX/reference.h5" <<'PY' || fail "custom implicit product: F v differs from the reference"
import sys, h5py, numpy as np
got = h5py.File(sys.argv[1], "r")["/fisher/product"][()]
ref = h5py.File(sys.argv[2], "r")
expected = ref["mlp"][()] @ ref["vector"][()]
sys.exit(0 if np.abs(got - expected).max() < 1e-10 * np.abs(expected).max() else 1)
PY

# The HDF5 output maps entries back to layers and records the estimator and reduction.
"$PYTHON" - "$WORK/mlp.pt.h5" <<'PY' || fail "mlp output: metadata or parameter table wrong"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
a = f["fisher"].attrs
assert a["estimator"] == "exact", a["estimator"]
assert a["reduction"] == "sum", a["reduction"]
assert a["quantity"] == "Fisher information", a["quantity"]
assert a["parameter_names"].split("\n") == ["0.weight", "0.bias", "2.weight", "2.bias"]
p = f["parameters"]
assert list(p["2.weight"][()]) == [3, 8], p["2.weight"][()]
assert p["2.weight"].attrs["offset"] == 40, p["2.weight"].attrs["offset"]
assert p["2.bias"].attrs["offset"] == 64, p["2.bias"].attrs["offset"]
assert f.attrs["scorekit_tool"] == "fim"
PY

# The MLP model file with the gaussian likelihood.
run_case "mlp model file gaussian" 0 "" -- "$FIM" -m "$FX/mlp_model.h5" -i "$FX/network_inputs.tsv" \
    --likelihood gaussian --sigma 0.5 -e exact -r dense -o "$WORK/model.h5"
compare_h5 "mlp model file dense" "$WORK/model.h5" /fisher/matrix mlp_model_gaussian 1e-10

# Without --likelihood, a score-train model file uses gaussian, the likelihood of its least-squares
# training, and records it. A TorchScript module keeps categorical (the softmax case above).
run_case "mlp model file default likelihood" 0 "" -- "$FIM" -m "$FX/mlp_model.h5" -i "$FX/network_inputs.tsv" \
    --sigma 0.5 -e exact -r dense -o "$WORK/model_default.h5"
compare_h5 "mlp model file default likelihood" "$WORK/model_default.h5" /fisher/matrix mlp_model_gaussian 1e-10
"$PYTHON" -c "import h5py,sys; a=h5py.File('$WORK/model_default.h5','r')['fisher'].attrs; sys.exit(0 if a['likelihood'] == 'gaussian' and a['sigma'] == 0.5 else 1)" ||
    fail "mlp model file default likelihood: HDF5 does not record gaussian with sigma 0.5"
"$PYTHON" -c "import h5py,sys; a=h5py.File('$WORK/mlp.pt.h5','r')['fisher'].attrs; sys.exit(0 if a['likelihood'] == 'categorical' else 1)" ||
    fail "TorchScript default likelihood: HDF5 does not record categorical"

# kfac on a stack, with its factors; a natural-gradient solve from the labels' gradient.
run_case "mlp kfac" 0 "" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/labelled.tsv" --labels last -e mc:4 -r kfac -k 3 \
    --solve gradient --damping 1e-3 -o "$WORK/kfac.h5"
[ "$(field estimator)" = "mc:4" ] || fail "mlp kfac: estimator not recorded in the summary line"
"$PYTHON" - "$WORK/kfac.h5" <<'PY' || fail "mlp kfac: factors or natural gradient missing"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f["fisher/kfac/0/A"].shape == (5, 5), f["fisher/kfac/0/A"].shape
assert f["fisher/kfac/2/G"].shape == (3, 3), f["fisher/kfac/2/G"].shape
assert f["fisher/natural_gradient"].shape == (67,)
PY

# Natural gradient by conjugate gradients on implicit products: with damping 0.1 it converges,
# reports that in the progress line, marks the output converged=1 and equals the dense solve.
run_case "mlp implicit solve" 0 "conjugate gradient products [0-9]+/1000 .*converged after [0-9]+ iterations" -- \
    "$FIM" -m "$FX/mlp.pt" -i "$FX/labelled.tsv" --labels last -e exact -r implicit --solve gradient --damping 0.1 \
    -v -o "$WORK/cg.h5"
run_case "mlp dense solve" 0 "" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/labelled.tsv" --labels last -e exact -r dense \
    --solve gradient --damping 0.1 -o "$WORK/direct.h5"
"$PYTHON" - "$WORK/cg.h5" "$WORK/direct.h5" <<'PY' || fail "mlp implicit solve: not marked converged or differs from the dense solve"
import sys, h5py, numpy as np
cg = h5py.File(sys.argv[1], "r")["fisher/natural_gradient"]
direct = h5py.File(sys.argv[2], "r")["fisher/natural_gradient"][()]
assert cg.attrs["converged"] == 1, dict(cg.attrs)
assert cg.attrs["relative_residual"] <= 1e-10, dict(cg.attrs)
assert 0 < cg.attrs["iterations"] <= 67, cg.attrs["iterations"]
assert np.abs(cg[()] - direct).max() <= 1e-8 * np.abs(direct).max()
PY

# Without damping, 12 inputs give F a rank of at most 24 of 67, and a random vector is not in its
# range. Conjugate gradients stop without converging, the warning names the remedies, and the
# output is marked converged=0.
run_case "mlp implicit solve undamped" 0 "conjugate gradients did not converge: .*after 1000 iterations, the limit of --cg-iterations; .*raise --cg-iterations \(1000\) or --damping" -- \
    "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact -r implicit --solve "$FX/vector.tsv" -o "$WORK/cg0.h5"
"$PYTHON" -c "import h5py,sys; a=h5py.File('$WORK/cg0.h5','r')['fisher/natural_gradient'].attrs; sys.exit(0 if a['converged'] == 0 and a['relative_residual'] > 1e-10 else 1)" ||
    fail "mlp implicit solve undamped: output not marked converged=0"

# --cg-iterations and --cg-tolerance set the limit and the target of conjugate gradients. Stopped
# at 5 iterations, the warning names --cg-iterations and the output is marked converged=0. With
# a target of 1e-3 they stop sooner than for the default 1e-10, at a residual of at most 1e-3.
run_case "cg iteration limit" 0 "after 5 iterations, the limit of --cg-iterations; .*raise --cg-iterations \(5\)" -- \
    "$FIM" -m "$FX/mlp.pt" -i "$FX/labelled.tsv" --labels last -e exact -r implicit --solve gradient --damping 0.1 \
    --cg-iterations 5 -v -o "$WORK/cg5.h5"
grep -q "conjugate gradient products 5/5 (100%)" "$WORK/err" || fail "cg iteration limit: no progress line 5/5: $(cat "$WORK/err")"
run_case "cg tolerance" 0 "" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/labelled.tsv" --labels last -e exact -r implicit \
    --solve gradient --damping 0.1 --cg-tolerance 1e-3 -o "$WORK/cg3.h5"
"$PYTHON" - "$WORK/cg5.h5" "$WORK/cg3.h5" "$WORK/cg.h5" <<'PY' || fail "cg options: attributes of the natural gradient wrong"
import sys, h5py
limited, loose, default = (h5py.File(path, "r")["fisher/natural_gradient"].attrs for path in sys.argv[1:])
assert limited["converged"] == 0, dict(limited)
assert limited["iterations"] == 5, dict(limited)
assert limited["relative_residual"] > 1e-10, dict(limited)
assert loose["converged"] == 1, dict(loose)
assert 1e-10 < loose["relative_residual"] <= 1e-3, dict(loose)
assert loose["iterations"] < default["iterations"], (dict(loose), dict(default))
PY
for bad in "--cg-iterations 0" "--cg-tolerance 0" "--cg-tolerance 1" "--cg-tolerance nan"; do
    option=${bad% *}
    # shellcheck disable=SC2086
    run_case "invalid $bad" 2 "invalid $option \"${bad#* }\"" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact \
        -r implicit --solve "$FX/vector.tsv" $bad
    expect_one_line_error "invalid $bad"
done

# Rounding loses the conjugacy that would end conjugate gradients within P iterations, so an
# ill-conditioned solve on a small model needs more than P. A 5-8-4 ReLU network (84 parameters)
# on 40 inputs with damping 1e-3 took about 200 here. When the limit was P, it stopped
# unconverged at 84.
cat > "$WORK/small_relu.py" <<'PY'
import sys, torch, numpy as np
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).double()
torch.jit.script(model).save(sys.argv[1])
np.savetxt(sys.argv[2], torch.randn(40, 5, dtype=torch.float64).numpy(), delimiter="\t", fmt="%.17g")
np.savetxt(sys.argv[3], np.random.default_rng(1).normal(size=84))
PY
"$PYTHON" "$WORK/small_relu.py" "$WORK/small_relu.pt" "$WORK/small_inputs.tsv" "$WORK/small_g.tsv" ||
    fail "could not export the small ReLU network"
for representation in implicit dense; do
    run_case "small relu $representation solve" 0 "" -- "$FIM" -m "$WORK/small_relu.pt" -i "$WORK/small_inputs.tsv" \
        -e exact -r $representation --solve "$WORK/small_g.tsv" --damping 1e-3 -o "$WORK/small_$representation.h5"
done
"$PYTHON" - "$WORK/small_implicit.h5" "$WORK/small_dense.h5" <<'PY' || fail "small relu solve: not converged or differs from the dense solve"
import sys, h5py, numpy as np
cg = h5py.File(sys.argv[1], "r")["fisher/natural_gradient"]
direct = h5py.File(sys.argv[2], "r")["fisher/natural_gradient"][()]
assert cg.attrs["converged"] == 1, dict(cg.attrs)
assert np.abs(cg[()] - direct).max() <= 1e-8 * np.abs(direct).max()
PY

# More eigenvalues than parameters: all 84 are reported, and a warning explains the shorter list.
run_case "top-k above the parameter count" 0 "warning: --top-k 500 exceeds the 84 parameters of .*small_relu.pt: reporting all 84" -- \
    "$FIM" -m "$WORK/small_relu.pt" -i "$WORK/small_inputs.tsv" -e exact -r dense -k 500
[ "$(grep -o 'top_eigenvalues=[^[:space:]]*' "$WORK/out" | tr ',' '\n' | wc -l)" -eq 84 ] ||
    fail "top-k above the parameter count: expected 84 eigenvalues: $(head -c 300 "$WORK/out")"

# Progress: with -v a line after every batch except the last, then the closing line; without
# -v a run this short prints only the closing line.
run_case "mlp dense progress" 0 "" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact -r dense --batch-size 5 -v
[ "$(grep -Ec '^fim: inputs (5|10)/12 \([0-9]+%\), .*ETA' "$WORK/err")" -eq 2 ] ||
    fail "mlp dense progress: expected 2 progress lines with an ETA: $(cat "$WORK/err")"
grep -Eq '^fim: inputs 12/12 \(100%\), .*elapsed' "$WORK/err" || fail "mlp dense progress: no closing line"
run_case "mlp dense quiet progress" 0 "" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact -r dense --batch-size 5
[ "$(grep -c '^fim: inputs' "$WORK/err")" -eq 1 ] ||
    fail "mlp dense progress without -v: expected only the closing line: $(cat "$WORK/err")"

# The empirical Fisher is labelled as such.
run_case "empirical from stdin" 0 "" -- sh -c "'$FIM' -m '$FX/mlp.pt' -i - --labels last -e empirical -r diag -o '$WORK/emp.h5' < '$FX/labelled.tsv'"
[ "$(field quantity)" = "empirical_fisher" ] || fail "empirical: summary line does not say empirical_fisher"
"$PYTHON" -c "import h5py,sys; q=h5py.File('$WORK/emp.h5','r')['fisher'].attrs['quantity']; sys.exit(0 if q.startswith('empirical Fisher (not') else 1)" ||
    fail "empirical: HDF5 quantity does not say empirical Fisher"

# The normal family in (mu, log sigma): diag(0.25, 2) per observation.
run_case "normal family" 0 "" -- "$FIM" -m normal:mu=0,sigma=2,parameters=mu-log-sigma -e exact -r dense -q
[ "$(field trace)" = "2.25" ] || fail "normal family: trace $(field trace), expected 2.25"

for request in "diag" "dense" "block" "block --blocks tensor" "implicit --vector $AX/vector.tsv" \
    "dense --solve gradient --damping 0.1" "implicit --solve gradient --damping 0.1"; do
    tag=$(echo "$request" | tr -c 'a-z0-9' '_')
    # shellcheck disable=SC2086
    fim_tanh "archive $tag" "$AX/tanh.pt" -e exact -r $request
    for other in tanh_marked.pt tanh_custom.pt tanh_mlp.h5 tanh_dropout.pt tanh_dropout_traced.pt; do
        # shellcheck disable=SC2086
        fim_tanh "$other $tag" "$AX/$other" -e exact -r $request
        # Conjugate gradients stop at a residual of 1e-10 |g|, so two ways of forming F v that differ
        # in rounding agree only to about that times the condition number (9.5e-12 seen).
        tolerance=1e-12
        case $request in implicit*--solve*) tolerance=1e-9 ;; esac
        same_results "archive and $other, $request" "$WORK/$other $tag.h5" "$WORK/archive $tag.h5" $tolerance
    done
done
for estimator in exact mc:3 empirical; do
    fim_tanh "archive kfac $estimator" "$AX/tanh.pt" -e "$estimator" -r kfac
    for other in tanh_marked.pt tanh_mlp.h5 tanh_dropout.pt tanh_dropout_traced.pt; do
        fim_tanh "$other kfac $estimator" "$AX/$other" -e "$estimator" -r kfac
        same_results "archive and $other, kfac $estimator" "$WORK/$other kfac $estimator.h5" "$WORK/archive kfac $estimator.h5"
    done
done

# A layer used twice has one weight: fim lists PyTorch's 46 parameters, not the 66 of an unshared stack.
if ls "$BIN"/../lib/libscorekit_score.so* > /dev/null 2>&1; then
    run_case "shared layer" 0 "" -- "$FIM" -m "$AX/shared.pt" -i "$AX/inputs.tsv" -e exact -r diag -q
    [ "$(field parameters)" = "46" ] || fail "shared layer: $(field parameters) parameters, expected 46"

    # A traced LeakyReLU(0.2) whose unit fim's probe inputs leave active: the slope comes from the
    # traced code, not from the default of 0.01.
    run_case "traced leaky slope" 0 "" -- "$FIM" -m "$AX/leaky_traced.pt" -i "$AX/leaky.inputs.tsv" -e exact -r diag \
        -o "$WORK/leaky.h5" -q
    "$PYTHON" -c "
import sys, h5py, numpy as np
got = h5py.File('$WORK/leaky.h5', 'r')['fisher/diagonal'][()]
expected = np.loadtxt('$AX/leaky.diag.tsv')
sys.exit(0 if np.abs(got - expected).max() <= 1e-12 * np.abs(expected).max() else 1)" ||
        fail "traced leaky slope: the diagonal differs from autograd's"
fi

# A torch.save file is not TorchScript, with or without LibTorch.
for saved in pickled.pt state_dict.pt; do
    run_case "torch.save file $saved" 1 \
        "^fim: cannot read model \".*$saved\": a torch.save file \(a pickled module or a state_dict\), not TorchScript; .*torch.jit.script" -- \
        "$FIM" -m "$AX/$saved" -i "$AX/inputs.tsv" -e exact -o "$WORK/saved.h5"
    expect_one_line_error "torch.save file $saved"
    expect_no_file "torch.save file $saved" "$WORK/saved.h5"
done

# LibTorch is loaded only for a module that is not such a stack (about 0.4 s of CPU per run).
for model in tanh.pt traced_f32.pt tanh_mlp.h5; do
    LD_DEBUG=libs "$FIM" -m "$AX/$model" -i "$AX/inputs.tsv" --likelihood categorical -e exact -r kfac -q \
        > /dev/null 2> "$WORK/libs" || fail "$model with LD_DEBUG failed"
    ! grep -q 'libtorch' "$WORK/libs" || fail "$model loaded LibTorch"
done
for model in tanh_custom.pt softplus_beta.pt; do
    LD_DEBUG=libs "$FIM" -m "$AX/$model" -i "$AX/inputs.tsv" -e exact -r diag -q > /dev/null 2> "$WORK/libs" ||
        fail "$model with LD_DEBUG failed"
    grep -q 'libtorch' "$WORK/libs" || fail "$model did not load LibTorch (is LD_DEBUG working?)"
done
# softplus_beta.pt goes to LibTorch, which finds the stack and its beta of 2: kfac works.
run_case "softplus beta through LibTorch" 0 "loading .*softplus_beta.pt with LibTorch: the Softplus layer's beta" -- \
    "$FIM" -m "$AX/softplus_beta.pt" -i "$AX/inputs.tsv" -e exact -r kfac -v

# Without the torch layer beside the core library, stacks still work and any other module fails
# with one line.
mkdir -p "$WORK/corelib"
cp "$BIN/../lib/libscorekit_core.so.0" "$WORK/corelib/"
run_case "stack without the torch layer" 0 "" -- \
    env LD_LIBRARY_PATH="$WORK/corelib" "$FIM" -m "$AX/tanh.pt" -i "$AX/inputs.tsv" -e exact -r kfac -q
run_case "custom module without the torch layer" 1 \
    'cannot load TorchScript module ".*tanh_custom.pt": the torch layer failed to load' -- \
    env LD_LIBRARY_PATH="$WORK/corelib" "$FIM" -m "$AX/tanh_custom.pt" -i "$AX/inputs.tsv" -e exact
expect_one_line_error "custom module without the torch layer"

# Checkpoints: SIGINT after a checkpoint ends the run with status 130 and one line naming it,
# leaving only the checkpoint. --resume then gives an output equal bit for bit to that of an
# uninterrupted run with the same options, and removes the checkpoint. The custom module goes
# through LibTorch, slow enough (about 10,000 inputs/s) for a signal to arrive mid-run.
"$PYTHON" - "$WORK/many.tsv" <<'PY' || fail "checkpoints: could not write the inputs"
import sys, numpy as np
rng = np.random.default_rng(3)
rows = np.hstack([rng.normal(size=(20000, 4)), rng.integers(0, 3, size=(20000, 1))])
np.savetxt(sys.argv[1], rows, delimiter="\t", fmt="%.17g")
PY
checkpointed=(-m "$FX/custom.pt" -i "$WORK/many.tsv" --labels last -e mc:2 -r block --batch-size 50 --checkpoint-every 20)
run_case "checkpoint on stdout" 2 'invalid --checkpoint "-": a checkpoint must be an HDF5 file on disk' -- \
    "$FIM" "${checkpointed[@]}" --checkpoint - -o "$WORK/dash.h5"
expect_one_line_error "checkpoint on stdout"
run_case "resume from stdin" 2 'invalid --resume "-": a checkpoint must be an HDF5 file on disk' -- \
    "$FIM" "${checkpointed[@]}" --resume - -o "$WORK/dash.h5"
run_case "checkpointed run" 0 "" -- "$FIM" "${checkpointed[@]}" -o "$WORK/whole-run.h5"
[ ! -e "$WORK/whole-run.h5.ckpt" ] || fail "checkpointed run: the checkpoint was not removed"
mkdir -p "$WORK/sig"
"$FIM" "${checkpointed[@]}" -o "$WORK/sig/run.h5" < /dev/null > /dev/null 2> "$WORK/sig.err" &
signal_when INT $! test -e "$WORK/sig/run.h5.ckpt"
[ "$status" -eq 130 ] || fail "SIGINT with checkpoint: exit status $status, expected 130: $(cat "$WORK/sig.err")"
grep -Eq '^fim: Fisher information interrupted after input [0-9]+ of 20000: checkpoint written to .*run\.h5\.ckpt; continue with --resume .*run\.h5\.ckpt$' \
    "$WORK/sig.err" || fail "SIGINT with checkpoint: no checkpoint line: $(head -c 400 "$WORK/sig.err")"
[ "$(ls -A "$WORK/sig")" = "run.h5.ckpt" ] || fail "SIGINT with checkpoint: files left: $(ls -A "$WORK/sig")"
run_case "resume with another estimator" 2 'cannot resume from ".*run\.h5\.ckpt": estimator is mc:3 but the checkpoint has mc:2' -- \
    "$FIM" -m "$FX/custom.pt" -i "$WORK/many.tsv" --labels last -e mc:3 -r block --batch-size 50 -o "$WORK/sig/run.h5" \
    --resume "$WORK/sig/run.h5.ckpt"
expect_one_line_error "resume with another estimator"
run_case "resume with another batch size" 2 'cannot resume from ".*run\.h5\.ckpt": batch_size is 40 but the checkpoint has 50' -- \
    "$FIM" -m "$FX/custom.pt" -i "$WORK/many.tsv" --labels last -e mc:2 -r block --batch-size 40 -o "$WORK/sig/run.h5" \
    --resume "$WORK/sig/run.h5.ckpt"
run_case "resume" 0 "resuming from .*run\.h5\.ckpt at input [0-9]+ of 20000" -- "$FIM" "${checkpointed[@]}" \
    -o "$WORK/sig/run.h5" --resume "$WORK/sig/run.h5.ckpt"
h5diff "$WORK/whole-run.h5" "$WORK/sig/run.h5" /fisher /fisher > "$WORK/h5diff.out" 2>&1 ||
    fail "resume: the output differs from the uninterrupted run: $(head -c 400 "$WORK/h5diff.out")"
[ "$(ls -A "$WORK/sig")" = "run.h5" ] || fail "resume: expected only run.h5: $(ls -A "$WORK/sig")"
# Summed batch by batch, a checkpointed run equals one without checkpoints up to rounding, kfac
# (whose G is a mean over inputs) and the mean reduction included.
for request in "kfac" "kfac --reduction mean" "diag --reduction mean"; do
    tag=checkpointed_$(printf %s "$request" | tr -c 'a-z0-9' '_')
    # shellcheck disable=SC2086
    fim_tanh "$tag" "$AX/tanh.pt" -e mc:2 -r $request --batch-size 3 --checkpoint-every 1
    # shellcheck disable=SC2086
    fim_tanh "$tag plain" "$AX/tanh.pt" -e mc:2 -r $request --batch-size 3
    same_results "$tag" "$WORK/$tag.h5" "$WORK/$tag plain.h5"
done
run_case "checkpoint of implicit" 2 'invalid --checkpoint, --checkpoint-every or --resume with "--representation implicit"' -- \
    "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact -r implicit --vector "$FX/vector.tsv" --checkpoint-every 1 -o "$WORK/ck.h5"
expect_one_line_error "checkpoint of implicit"
run_case "checkpoint without a file" 2 'missing option "--checkpoint"' -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact \
    --checkpoint-every 1
expect_one_line_error "checkpoint without a file"
run_case "negative checkpoint interval" 2 'invalid --checkpoint-every "-1"' -- "$FIM" -m "$AX/tanh.pt" -i "$AX/inputs.tsv" \
    -e exact -r diag --checkpoint-every -1 -o "$WORK/ck.h5"
expect_one_line_error "negative checkpoint interval"
printf 'not a checkpoint\n' > "$WORK/text.ckpt"
run_case "resume from a text file" 1 'cannot resume from ".*text\.ckpt"' -- "$FIM" -m "$AX/tanh.pt" -i "$AX/inputs.tsv" \
    -e exact -r diag --resume "$WORK/text.ckpt" -o "$WORK/ck.h5"
expect_one_line_error "resume from a text file"
expect_no_file "resume from a text file" "$WORK/ck.h5"

# Errors: one line on stderr, exit status 1 or 2, no output file left.
run_case "complex module" 1 'cannot compute the Fisher information of ".*complex.pt": parameter "0.weight" has dtype complex64' -- \
    "$FIM" -m "$AX/complex.pt" -i "$AX/inputs.tsv" -e exact -o "$WORK/complex.h5"
expect_one_line_error "complex module"
expect_no_file "complex module" "$WORK/complex.h5"
run_case "frozen module" 1 "no parameters.*torch.jit.freeze" -- "$FIM" -m "$FX/frozen.pt" -i "$FX/inputs.tsv" -e exact -o "$WORK/frozen.h5"
expect_one_line_error "frozen module"
expect_no_file "frozen module" "$WORK/frozen.h5"
run_case "kfac on a custom module" 2 "not an nn.Sequential" -- "$FIM" -m "$FX/custom.pt" -i "$FX/inputs.tsv" -e exact -r kfac
expect_one_line_error "kfac on a custom module"
run_case "kfac names the layer" 2 "layer \"1\" is a LayerNorm" -- "$FIM" -m "$FX/layernorm.pt" -i "$FX/inputs.tsv" -e exact -r kfac
expect_one_line_error "kfac names the layer"
run_case "empirical without labels" 2 "missing --labels" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e empirical
expect_one_line_error "empirical without labels"
run_case "estimator required" 2 "estimator" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv"
run_case "invalid estimator" 2 "invalid --estimator \"mc:0\"" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e mc:0
run_case "wrong input width" 1 "columns" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/softmax_input.tsv" -e exact
expect_one_line_error "wrong input width"
run_case "dense above --max-memory" 2 \
    "cannot compute --representation dense for .*mlp.pt\": 67 parameters need an estimated .* above --max-memory 1.0 KiB; use --representation diag or kfac" \
    -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact -r dense --max-memory 1K -o "$WORK/big.h5"
expect_one_line_error "dense above --max-memory"
expect_no_file "dense above --max-memory" "$WORK/big.h5"
run_case "dense within --max-memory" 0 "" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact -r dense --max-memory 1M -q
run_case "invalid --max-memory" 2 "invalid --max-memory \"lots\"" -- "$FIM" -m "$FX/mlp.pt" -i "$FX/inputs.tsv" -e exact --max-memory lots
expect_one_line_error "invalid --max-memory"
printf '1\t2\t5\n' > "$WORK/bad_label.tsv"
run_case "label out of range" 1 "invalid label \"row 1: 5\"" -- "$FIM" -m "$FX/softmax.pt" -i "$WORK/bad_label.tsv" --labels last -e empirical
expect_one_line_error "label out of range"
printf '0\n' > "$WORK/one_label.tsv"
run_case "labels of the wrong width" 1 'invalid labels with 1 column: the gaussian likelihood needs 3 label columns' -- \
    "$FIM" -m "$FX/softmax.pt" -i "$FX/softmax_input.tsv" --labels "$WORK/one_label.tsv" -e empirical --likelihood gaussian
expect_one_line_error "labels of the wrong width"

# Model outputs and gradients that are not finite are errors, not a matrix of zeros, inf or NaN
# written with status 0. The cases are inf logits from a custom module (LibTorch) and from an
# nn.Sequential read without LibTorch, for every estimator and the matrix-free products, and
# finite logits whose gradients overflow in the empirical Fisher.
for model in infinite_logits.pt overflow.pt; do
    for request in "-e exact -r diag" "-e mc:2 -r dense" "-e empirical -r block" "-e exact -r implicit -k 1"; do
        # shellcheck disable=SC2086
        run_case "$model $request" 1 'invalid model output at input [0-9]+, output 1: the value is -?inf' -- \
            "$FIM" -m "$FX/$model" -i "$FX/labelled.tsv" --labels last $request -o "$WORK/infinite.h5"
        expect_one_line_error "$model $request"
        expect_no_file "$model $request" "$WORK/infinite.h5"
    done
done
awk -F '\t' -v OFS='\t' '{ $NF = 0; print }' "$FX/labelled.tsv" > "$WORK/label0.tsv"
for representation in diag kfac implicit; do
    run_case "gradient overflow $representation" 1 \
        'cannot compute the Fisher information of ".*saturated.pt": the per-example gradients overflow' -- \
        "$FIM" -m "$FX/saturated.pt" -i "$WORK/label0.tsv" --labels last -e empirical -r $representation -k 1 \
        -o "$WORK/overflow.h5"
    expect_one_line_error "gradient overflow $representation"
    expect_no_file "gradient overflow $representation" "$WORK/overflow.h5"
done
run_case "integer outputs" 1 'invalid model output ".*integer_output.pt": forward returns int64 values' -- \
    "$FIM" -m "$FX/integer_output.pt" -i "$FX/inputs.tsv" -e exact
expect_one_line_error "integer outputs"

# A float32 module that indexes with an int64 buffer, computed in float64: only floating-point
# parameters and buffers change dtype.
run_case "int64 index buffer" 0 "" -- "$FIM" -m "$FX/reversed.pt" -i "$FX/inputs.tsv" -e exact -r dense -o "$WORK/reversed.h5"
compare_h5 "int64 index buffer" "$WORK/reversed.h5" /fisher/matrix reversed 1e-10

# A module saved in training mode is evaluated in eval mode: BatchNorm with its running statistics.
run_case "batchnorm in training mode" 0 "" -- "$FIM" -m "$FX/batchnorm_train.pt" -i "$FX/inputs.tsv" -e exact -r dense \
    -o "$WORK/batchnorm.h5"
compare_h5 "batchnorm in training mode" "$WORK/batchnorm.h5" /fisher/matrix batchnorm_eval 1e-10

# Inputs and labels cannot both come from standard input: the labels used to read nothing and
# were reported as a file without data rows.
run_case_stdin "inputs and labels from stdin" 2 'invalid --labels "-": standard input is already read by --input' \
    "$FX/inputs.tsv" -- "$FIM" -m "$FX/softmax.pt" -i - --labels - -e empirical
expect_one_line_error "inputs and labels from stdin"

# In scikit-learn's CSV layout the inputs leave out the target column, and --labels last takes it,
# as it takes the last column of a plain file. The last feature (2, then 1) is not the label.
printf '2,2,a,b,c\n1,2,0\n0,1,2\n' > "$WORK/sklearn.csv"
printf '1,2,0\n0,1,2\n' > "$WORK/plain.csv"
run_case "labels in scikit-learn's layout" 0 "" -- \
    "$FIM" -m "$FX/softmax.pt" -i "$WORK/sklearn.csv" --labels last -e empirical -r dense -q
sklearn_summary=$(cat "$WORK/out")
run_case "labels in the last column" 0 "" -- \
    "$FIM" -m "$FX/softmax.pt" -i "$WORK/plain.csv" --labels last -e empirical -r dense -q
[ -n "$sklearn_summary" ] && [ "$sklearn_summary" = "$(cat "$WORK/out")" ] ||
    fail "labels in scikit-learn's layout: $sklearn_summary, expected $(cat "$WORK/out")"

# A matrix that does not fit on the disk (here: over a file size limit) fails with one line and
# exit 1, and leaves nothing behind. HDF5 used to crash at exit after the failed close.
run_case_full_disk "full disk" 4 'cannot write HDF5 file ".*nospace\.h5": File too large; raise the file size limit' -- \
    "$FIM" -m normal:mu=0,sigma=2,parameters=mu-log-sigma -e exact -r dense -q -o "$WORK/nospace.h5"
expect_one_line_error "full disk"
expect_no_file "full disk" "$WORK/nospace.h5"
finish
