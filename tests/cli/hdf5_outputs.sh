# Black-box tests of the HDF5 files that the geometry tools write. Every dataset carries HDF5's
# Fletcher-32 checksum, so that flipped bytes in a model, checkpoint or result fail with one
# line. h5py reads the files, and files without checksums still load. A write that the file
# system rejects (a full tmpfs, a file size limit, a read-only mount) names the system's reason.
. "$(dirname "$0")/lib.sh"
L="$BIN/langevin"
ME="$BIN/metric-eval"
G="$BIN/geodesic"
FIM="$BIN/fim"
T="$BIN/score-train"
PYTHON=/usr/bin/python3
gauss='gaussian:mean=0,0;cov=1'
MOUNTS=("$WORK/full" "$WORK/readonly")
# The tmpfs mounts go on every exit path, before lib.sh's directory removal would fail on them.
trap 'for m in "${MOUNTS[@]}"; do mountpoint -q "$m" && umount "$m"; done; rm -rf "$WORK"' EXIT

# checksummed NAME FILE: every dataset of FILE is chunked with the Fletcher-32 filter, and h5py
# reads it.
checksummed() {
    local result
    result=$("$PYTHON" - "$2" <<'PY'
import sys, h5py
problems = []
def visit(name, item):
    if isinstance(item, h5py.Dataset) and item.size > 0:
        item[()]
        if not item.fletcher32 or item.chunks is None:
            problems.append(f"{name}: fletcher32={item.fletcher32}, chunks={item.chunks}")
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(visit)
print("; ".join(problems))
PY
)
    [ -z "$result" ] || fail "$1: datasets without a checksum: $result"
}

# corrupt FILE DATASET: flips one byte in the middle of the first chunk of DATASET.
corrupt() {
    "$PYTHON" - "$1" "$2" <<'PY' || fail "setup: cannot corrupt $2 in $1"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    chunk = f[sys.argv[2]].id.get_chunk_info(0)
    offset = chunk.byte_offset + chunk.size // 2
with open(sys.argv[1], "r+b") as raw:
    raw.seek(offset)
    value = raw.read(1)
    raw.seek(offset)
    raw.write(bytes([value[0] ^ 0x10]))
PY
}

# without_checksums SOURCE COPY: COPY gets the datasets and attributes of SOURCE, contiguous and
# without filters, as files written before the checksums were.
without_checksums() {
    "$PYTHON" - "$1" "$2" <<'PY' || fail "setup: cannot copy $1 without checksums"
import sys, h5py
with h5py.File(sys.argv[1], "r") as source, h5py.File(sys.argv[2], "w") as copy:
    def visit(name, item):
        if isinstance(item, h5py.Group):
            target = copy.require_group(name)
        else:
            target = copy.create_dataset(name, data=item[()])
        for key, value in item.attrs.items():
            target.attrs[key] = value
    for key, value in source.attrs.items():
        copy.attrs[key] = value
    source.visititems(visit)
PY
}

# --- Every tool's HDF5 output carries checksums ---
"$L" -m "$gauss" --chains 300 --steps 5 -q -o "$WORK/points.h5" || fail "setup: langevin -o points.h5 failed"
checksummed "langevin output" "$WORK/points.h5"
run_case "metric-eval output" 0 '' -- "$ME" -m "$gauss" --score --logdet "$WORK/points.h5" -o "$WORK/metric.h5"
checksummed "metric-eval output" "$WORK/metric.h5"
printf '1\t0\t0\t1\n-1\t0.5\t2\t1\n' > "$WORK/pairs.tsv"
run_case "geodesic output" 0 '' -- "$G" -m "$gauss" --pairs "$WORK/pairs.tsv" --paths "$WORK/paths.h5" -o "$WORK/geodesics.h5"
checksummed "geodesic output" "$WORK/geodesics.h5"
checksummed "geodesic paths" "$WORK/paths.h5"
run_case "fim output" 0 '' -- "$FIM" -m normal:mu=0,sigma=2 -e exact -r dense -q -o "$WORK/fisher.h5"
checksummed "fim output" "$WORK/fisher.h5"
# A checkpoint: SIGINT during a long run writes OUTPUT.ckpt.
mala=(-m 'gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1' --method mala --chains 500 --steps 20000 --thin 1000 --seed 4)
mkdir "$WORK/sig"
"$L" "${mala[@]}" -o "$WORK/sig/run.h5" --checkpoint-every 2000 < /dev/null 2> "$WORK/sig.err" &
signal_when INT $! test -e "$WORK/sig/run.h5.ckpt"
[ "$status" -eq 130 ] || fail "setup: langevin SIGINT: exit status $status, expected 130: $(cat "$WORK/sig.err")"
checksummed "langevin checkpoint" "$WORK/sig/run.h5.ckpt"
if [ -x "$T" ]; then
    run_case "score-train model" 0 '' -- "$T" "$SRC/share/data/faithful.csv" --steps 30 --width 16 -q -o "$WORK/model.h5"
    checksummed "score-train model" "$WORK/model.h5"
fi

# --- Flipped bytes in the data fail with one line ---
cp "$WORK/points.h5" "$WORK/bad-points.h5"
corrupt "$WORK/bad-points.h5" /samples
run_case "corrupt points" 1 'cannot read dataset ".*bad-points\.h5:/samples": its data do not match their Fletcher-32 checksum, so the file is corrupt; write the file again or restore it from a good copy' -- \
    "$ME" -m "$gauss" "$WORK/bad-points.h5"
expect_one_line_error "corrupt points"
cp "$WORK/sig/run.h5.ckpt" "$WORK/sig/bad.ckpt"
corrupt "$WORK/sig/bad.ckpt" /checkpoint/z
run_case "corrupt checkpoint" 1 'bad\.ckpt:/checkpoint/z": its data do not match their Fletcher-32 checksum' -- \
    "$L" "${mala[@]}" -o "$WORK/sig/run.h5" --resume "$WORK/sig/bad.ckpt"
expect_one_line_error "corrupt checkpoint"
expect_no_file "corrupt checkpoint" "$WORK/sig/run.h5"
if [ -x "$T" ]; then
    cp "$WORK/model.h5" "$WORK/bad-model.h5"
    corrupt "$WORK/bad-model.h5" /model/layers.0.weight
    run_case "corrupt model" 1 'bad-model\.h5:/model/layers\.0\.weight": its data do not match their Fletcher-32 checksum' -- \
        "$L" -m "$WORK/bad-model.h5" --chains 10 --steps 2
    expect_one_line_error "corrupt model"

    # A model written without checksums (an earlier version) loads and samples the same.
    without_checksums "$WORK/model.h5" "$WORK/plain-model.h5"
    "$L" -m "$WORK/model.h5" --chains 50 --steps 20 --seed 3 -q > "$WORK/checked.tsv" || fail "sampling the model failed"
    run_case "model without checksums" 0 '' -- "$L" -m "$WORK/plain-model.h5" --chains 50 --steps 20 --seed 3 -q
    cmp -s "$WORK/out" "$WORK/checked.tsv" || fail "model without checksums: samples differ from the checksummed model's"
fi
without_checksums "$WORK/points.h5" "$WORK/plain-points.h5"
"$ME" -m "$gauss" --logdet "$WORK/points.h5" > "$WORK/checked.tsv" || fail "metric-eval of points.h5 failed"
run_case "points without checksums" 0 '' -- "$ME" -m "$gauss" --logdet "$WORK/plain-points.h5"
cmp -s "$WORK/out" "$WORK/checked.tsv" || fail "points without checksums: values differ from the checksummed file's"

# --- Writes that the system rejects name its reason ---
# A file size limit (RLIMIT_FSIZE) fails the write with EFBIG, without needing root.
run_case_full_disk "langevin over the file size limit" 64 'cannot write .*big\.h5.*: File too large; raise the file size limit \(ulimit -f\)' -- \
    "$L" -m "$gauss" --chains 20000 --steps 2 -q -o "$WORK/big.h5"
expect_one_line_error "langevin over the file size limit"
expect_no_file "langevin over the file size limit" "$WORK/big.h5"

if [ "$(id -u)" -ne 0 ]; then
    echo "skipping the full and read-only file system cases: mounting a tmpfs needs root"
    finish
    exit
fi
FULL="$WORK/full"
mkdir "$FULL"
mount -t tmpfs -o size=64k tmpfs "$FULL" || { fail "mount -t tmpfs failed"; finish; exit; }
# full_disk NAME REGEX -- COMMAND: COMMAND fails on the 64 KiB tmpfs, filled but for 4 KiB, with
# "No space left on device" and the advice to free space, in one line, and leaves no output.
full_disk() {
    local name=$1 pattern=$2 output
    shift 3
    dd if=/dev/zero of="$FULL/filler" bs=1k count=60 status=none
    run_case "$name" 1 "$pattern\": No space left on device; free disk space or write the output to another file system" -- "$@"
    expect_one_line_error "$name"
    rm -f "$FULL/filler"
    for output in "$FULL"/* "$FULL"/.[!.]*; do
        [ -e "$output" ] && fail "$name: file left behind: $output"
    done
}
full_disk "langevin onto a full disk" 'cannot write .*full/samples\.h5' -- \
    "$L" -m "$gauss" --chains 2000 --steps 2 -q -o "$FULL/samples.h5"
full_disk "langevin of more than the disk" 'cannot write dataset .*full/large\.h5:/samples' -- \
    "$L" -m "$gauss" --chains 100000 --steps 2 -q -o "$FULL/large.h5"
full_disk "metric-eval onto a full disk" 'cannot write .*full/metric\.h5' -- \
    "$ME" -m "$gauss" --score --logdet "$WORK/points.h5" -o "$FULL/metric.h5"
full_disk "geodesic onto a full disk" 'cannot write .*full/geodesics\.h5' -- \
    "$G" -m "$gauss" -q --pairs "$WORK/pairs.tsv" -o "$FULL/geodesics.h5"
full_disk "fim onto a full disk" 'cannot write .*full/fisher\.h5' -- \
    "$FIM" -m normal:mu=0,sigma=2 -e exact -r dense -q -o "$FULL/fisher.h5"
if [ -x "$T" ]; then
    full_disk "score-train onto a full disk" 'cannot write .*full/model\.h5' -- \
        "$T" "$SRC/share/data/faithful.csv" --steps 5 --width 16 -q -o "$FULL/model.h5"
fi
umount "$FULL"

# A read-only file system fails before the work, with its reason.
RO="$WORK/readonly"
mkdir "$RO"
mount -t tmpfs -o size=64k,ro tmpfs "$RO" || { fail "mount -t tmpfs -o ro failed"; finish; exit; }
run_case "langevin onto a read-only file system" 1 'cannot write output ".*readonly/s\.h5": cannot create a file in directory .*readonly/: Read-only file system' -- \
    "$L" -m "$gauss" --chains 10 --steps 2 -o "$RO/s.h5"
expect_one_line_error "langevin onto a read-only file system"
run_case "langevin checkpoint onto a read-only file system" 1 'readonly/l\.ckpt": cannot create a file in directory .*: Read-only file system' -- \
    "$L" -m "$gauss" --chains 10 --steps 2 --checkpoint "$RO/l.ckpt" -o "$WORK/l.h5"
run_case "metric-eval onto a read-only file system" 1 'readonly/m\.h5": cannot create a file in directory .*: Read-only file system' -- \
    "$ME" -m "$gauss" --logdet "$WORK/points.h5" -o "$RO/m.h5"
umount "$RO"
finish
