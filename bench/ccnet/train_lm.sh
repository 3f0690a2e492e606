#!/usr/bin/env bash
# Benchmark of `ccnet-filter train-lm` against KenLM's lmplz on the same corpus, in one run:
# wall time, peak memory and an entry-by-entry comparison of the two ARPA files.
#
#   bench/ccnet/train_lm.sh BUILD_BIN LMPLZ [TOKENS] [ORDER]
#
# LMPLZ is a lmplz binary built from a local copy of github.com/kpu/kenlm in a scratch directory
# (never committed). The corpus is a fixed-seed Zipf-distributed sample of TOKENS words
# (default 10,000,000) over 500,000 word types, 20 words per sentence.
set -euo pipefail
bin=$1 lmplz=$2 tokens=${3:-10000000} order=${4:-5}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/train-lm-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 - "$tokens" > "$work/corpus.txt" <<'PY'
import random, sys
tokens = int(sys.argv[1])
rng = random.Random(12345)
types = 500000
weights = [1.0 / (rank + 1) for rank in range(types)]
words = rng.choices(range(types), weights=weights, k=tokens)
for start in range(0, tokens, 20):
    print(" ".join("w%d" % w for w in words[start:start + 20]))
PY

measure() {  # label, command...
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2> "$work/log" || { cat "$work/log"; exit 1; }
    read -r seconds kilobytes < "$work/time"
    echo "$label: ${seconds} s wall, $((kilobytes / 1024)) MiB peak RSS"
    echo "$seconds" > "$work/$label.seconds"
}
echo "corpus: $tokens tokens, order $order, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
measure train-lm "$bin/ccnet-filter" -q train-lm "$work/corpus.txt" --order "$order" -o "$work/ours.arpa"
measure lmplz "$lmplz" -o "$order" -S 2G -T "$work" --text "$work/corpus.txt" --arpa "$work/lmplz.arpa"
/usr/bin/python3 "$here/compare_arpa.py" "$work/ours.arpa" "$work/lmplz.arpa"
echo "time ratio train-lm / lmplz: $(echo "scale=2; $(cat "$work/train-lm.seconds") / $(cat "$work/lmplz.seconds")" | bc)"
