#!/bin/bash
# ccnet-filter mine with perplexity (SentencePiece, 5-gram KenLM model, buckets) against cc_net's
# Python steps lid, sp, lm and pp_bucket, side by side on the same WET file and the same models,
# without dedup on either side. It prints documents per CPU-second, the stage times of
# ccnet-filter and a per-document comparison of language, perplexity and bucket. A third run of
# ccnet-filter with 2 threads gives wall and CPU time and is compared with the 1-thread output.
#
#   CCNET_DIR=/tmp/cc_net KENLM_PYTHON=/tmp/kenlm-python \
#       bench/ccnet/run_lm.sh BIN_DIR WET_FILE LID_MODEL MODEL_DIR WORK_DIR
#
# MODEL_DIR holds en.sp.model and en.arpa.bin (KenLM probing binary), as cc_net's lm_dir.
# KENLM_PYTHON is a directory with KenLM's Python module built from a local copy of
# github.com/kpu/kenlm (measurement only, never committed); python3-sentencepiece is Debian's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd) wet=$2 lid=$3 models=$4 work=$5
: "${CCNET_DIR:?set CCNET_DIR to a local copy of facebookresearch/cc_net}"
: "${KENLM_PYTHON:?set KENLM_PYTHON to the directory of the KenLM Python module}"
cutoff="$here/../../share/ccnet/cutoff.csv"
mkdir -p "$work"
wet=$(cd "$(dirname "$wet")" && pwd)/$(basename "$wet")
lid=$(cd "$(dirname "$lid")" && pwd)/$(basename "$lid")
models=$(cd "$models" && pwd)
work=$(cd "$work" && pwd)
rm -rf "$work/ours" "$work/ours_t2" "$work/ref" "$work"/ours.* "$work"/ours_t2.* "$work"/ref.*

measure() {  # label, command...: wall seconds, user+system CPU seconds, peak RSS
    local label=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/$label.time" "$@" > "$work/$label.log" 2>&1 || { tail "$work/$label.log"; exit 1; }
}
cd "$(dirname "$wet")"
measure ours "$bin/ccnet-filter" -v mine --no-dedup --threads 1 "$(basename "$wet")" --lid-model "$lid" \
    --sp-model "$models/{lang}.sp.model" --lm-model "$models/{lang}.arpa.bin" --cutoff "$cutoff" -o "$work/ours"
PYTHONPATH="$KENLM_PYTHON" CCNET_DIR="$CCNET_DIR" measure ref /usr/bin/python3 "$here/ccnet_reference.py" mine_lm \
    "$work/ref" "$lid" "$models/en.sp.model" "$models/en.arpa.bin" "$cutoff" "$(basename "$wet")"
measure ours_t2 "$bin/ccnet-filter" -v mine --no-dedup --threads 2 "$(basename "$wet")" --lid-model "$lid" \
    --sp-model "$models/{lang}.sp.model" --lm-model "$models/{lang}.arpa.bin" --cutoff "$cutoff" -o "$work/ours_t2"

/usr/bin/python3 - "$work" <<'PY'
import glob, gzip, json, sys
work = sys.argv[1]
def load(side):
    docs = {}
    for path in glob.glob(f"{work}/{side}/*.json.gz"):
        for line in gzip.open(path, "rt", encoding="utf-8"):
            d = json.loads(line)
            docs[d["digest"]] = (d["language"], d.get("perplexity"), d.get("bucket"))
    return docs
ours, ref = load("ours"), load("ref")
def times(side):
    wall, user, system, rss = open(f"{work}/{side}.time").read().split()
    return float(wall), float(user) + float(system), int(rss) // 1024
for side, docs in (("ccnet-filter", ours), ("cc_net", ref)):
    wall, cpu, rss = times("ours" if side == "ccnet-filter" else "ref")
    print(f"{side}: {len(docs)} documents, {wall:.1f} s wall, {cpu:.1f} s CPU, {len(docs) / cpu:.0f} documents per CPU-second, {rss} MiB peak RSS")
print(f"ratio of documents per CPU-second: {times('ref')[1] / times('ours')[1]:.1f}")
common = ours.keys() & ref.keys()
english = [k for k in common if ref[k][0] == "en"]
same = sum(ours[k] == ref[k] for k in common)
same_ppl = sum(ours[k][1] == ref[k][1] for k in english)
print(f"documents in both: {len(common)} (only ours {len(ours.keys() - ref.keys())}, only cc_net {len(ref.keys() - ours.keys())})")
print(f"same language, perplexity and bucket: {same} of {len(common)}; same English perplexity: {same_ppl} of {len(english)}")
wall_1, cpu_1, _ = times("ours")
wall_2, cpu_2, _ = times("ours_t2")
print(f"ccnet-filter 2 threads: {wall_2:.1f} s wall, {cpu_2:.1f} s CPU; wall speed-up over 1 thread {wall_1 / wall_2:.2f}, "
      f"same output as 1 thread: {load('ours_t2') == ours}")
print(f"load average after the runs: {open('/proc/loadavg').read().split()[:3]}")
PY
grep '"stage_seconds"' "$work/ours.stats.json" | grep -o '"stage_seconds": {[^}]*}'
