#!/bin/bash
# ccnet-filter against cc_net's own Python code, side by side on the same WET input and the same
# fastText language identification model: `hash` and `mine` (dedup + LID) documents per second
# per core, thread scaling, peak memory per hash, and a byte comparison of the mined documents.
#
#   CCNET_DIR=/tmp/cc_net TEXT_DIR=/tmp/text bench/ccnet/run.sh [BUILD_DIR] [WORK_DIR]
#
# CCNET_DIR  a local copy of github.com/facebookresearch/cc_net (measurement only; not part of
#            this repository). Run with Debian's /usr/bin/python3 and its python3-numpy,
#            python3-fasttext, python3-bs4, python3-psutil, python3-requests packages.
# TEXT_DIR   real sentences, one file per language named <code>.txt (the benchmark used the
#            `# text =` lines of Universal Dependencies test and dev sets, see docs/benchmarks.md).
# MB_PER_FILE, FILES: size of the generated input (default 4 files of 60 MB uncompressed WET).
# HASH_REPEATS: rounds of the `hash` runs (default 3). Each round runs cc_net, then ccnet-filter
#            with 1 and with 2 threads, so the sides alternate under the same load. The ratios
#            use the median CPU and wall seconds, and the range is printed.
# MINE_REPEATS: rounds of the `mine` runs (default 1). Each round runs cc_net, then ccnet-filter
#            with 1 thread, 2 threads and --compression 1. The ratios use the medians.
# SKIP_MINE=1: run only the `hash` rows.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-text}
work=${2:-/tmp/ccnet-bench}
exe=$build/bin/ccnet-filter
: "${CCNET_DIR:?set CCNET_DIR to a local copy of facebookresearch/cc_net}"
: "${TEXT_DIR:?set TEXT_DIR to a directory of <lang>.txt sentence files}"
python=/usr/bin/python3
mkdir -p "$work"
cd "$work"

if [ ! -d wet ]; then
    python3 "$here/make_wet.py" --text-dir "$TEXT_DIR" --out wet --files "${FILES:-4}" --mb-per-file "${MB_PER_FILE:-60}"
fi
inputs=(wet/*.warc.wet.gz)
if [ ! -f lid.bin ]; then
    # The hyperparameters of fastText's published lid.176 model (dim 16, character 2- to
    # 4-grams, hierarchical softmax, 2M buckets), trained on the same sentences.
    for f in "$TEXT_DIR"/*.txt; do sed "s/^/__label__$(basename "$f" .txt) /" "$f"; done > lid-train.txt
    fasttext supervised -input lid-train.txt -output lid -dim 16 -minn 2 -maxn 4 -loss hs -epoch 5 \
        -bucket 2000000 -thread 1 -seed 1 -verbose 0
fi

# measure NAME COMMAND...: wall and CPU seconds and peak RSS of one run, appended to times.tsv.
measure() {
    local name=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o time.out "$@" > "log.$name" 2>&1 || { cat "log.$name" >&2; exit 1; }
    read -r wall user sys rss_kib < time.out
    printf '%s\t%s\t%s\t%s\n' "$name" "$wall" "$(echo "$user + $sys" | bc)" "$rss_kib" >> times.tsv
}

rm -rf ref ours times.tsv
mkdir -p ref ours
export CCNET_DIR
for round in $(seq "${HASH_REPEATS:-3}"); do
    measure ccnet_hash "$python" "$here/ccnet_reference.py" hash ref/hashes.npy "${inputs[@]}"
    measure ours_hash_t1 "$exe" --threads 1 hash --force "${inputs[@]}" -o ours/hashes.bin
    measure ours_hash_t2 "$exe" --threads 2 hash --force "${inputs[@]}" -o ours/hashes2.bin
    cmp -s ours/hashes.bin ours/hashes2.bin || { echo "hash files differ between 1 and 2 threads" >&2; exit 1; }
done
hash_load="$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${SKIP_MINE:-0}" = 1 ]; then
    echo "SKIP_MINE=1: mine rows skipped" >&2
else
for round in $(seq "${MINE_REPEATS:-1}"); do
    rm -rf ref/mined
    measure ccnet_mine "$python" "$here/ccnet_reference.py" mine ref/mined lid.bin ref/hashes.npy "${inputs[@]}"
    measure ours_mine_t1 "$exe" --threads 1 mine --force "${inputs[@]}" --hashes ours/hashes.bin --lid-model lid.bin -o ours/mined
    measure ours_mine_t2 "$exe" --threads 2 mine --force "${inputs[@]}" --hashes ours/hashes.bin --lid-model lid.bin -o ours/mined2
    measure ours_mine_gzip1 "$exe" --threads 1 mine --force "${inputs[@]}" --hashes ours/hashes.bin --lid-model lid.bin \
        --compression 1 -o ours/mined_gzip1
done

fi

# The same documents, byte for byte, apart from our extra language_identifier field.
identical=yes
[ "${SKIP_MINE:-0}" = 1 ] && identical="not compared (SKIP_MINE=1)"
for f in $([ "${SKIP_MINE:-0}" = 1 ] || echo ref/mined/*.json.gz); do
    lang=$(basename "$f" .json.gz)
    a=$(zcat "$f" | md5sum)
    b=$(zcat "ours/mined/$lang.json.gz" | sed 's/, "language_identifier": "[^"]*"}$/}/' | md5sum)
    c=$(zcat "ours/mined2/$lang.json.gz" | sed 's/, "language_identifier": "[^"]*"}$/}/' | md5sum)
    [ "$a" = "$b" ] && [ "$a" = "$c" ] || identical=no
    echo "$lang: cc_net $(zcat "$f" | wc -l) documents, ccnet-filter $(zcat "ours/mined/$lang.json.gz" | wc -l)"
done
[ "${SKIP_MINE:-0}" = 1 ] || [ "$(ls ref/mined/*.json.gz | wc -l)" = "$(ls ours/mined/*.json.gz | wc -l)" ] || identical=no

documents=$(grep -o '"documents": [0-9]*' ours/hashes.bin.stats.json | head -1 | grep -o '[0-9]*$')
hashes=$(grep -o '"hashes": [0-9]*' ours/hashes.bin.stats.json | grep -o '[0-9]*$')
mbytes=$(du -cb "${inputs[@]}" | tail -1 | cut -f1)
echo
echo "input: ${#inputs[@]} files, $(echo "scale=1; $mbytes / 1000000" | bc) MB gzip, $documents documents, $hashes unique line hashes"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $hash_load after the hash rounds, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
printf '%-14s %9s %9s %12s %12s %10s\n' run wall_s cpu_s docs/s/core docs/cpu_s peak_MiB
while IFS=$'\t' read -r name wall cpu rss; do
    threads=1
    case $name in *_t2) threads=2 ;; esac
    printf '%-14s %9.2f %9.2f %12.0f %12.0f %10.1f\n' "$name" "$wall" "$cpu" \
        "$(echo "$documents / ($wall * $threads)" | bc -l)" "$(echo "$documents / $cpu" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
done < times.tsv
# median NAME COLUMN: the median of a run's column (2 wall, 3 CPU) over its rounds.
median() { awk -v a="$1" -v c="$2" '$1 == a {print $c}' times.tsv | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
range() { awk -v a="$1" -v c="$2" '$1 == a {print $c}' times.tsv | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}'; }
# ratio A B: median CPU seconds of run A over run B; speedup A B: median wall seconds of A over B.
ratio() { echo "$(median "$1" 3) $(median "$2" 3)" | awk '{printf "%.1f", $1 / $2}'; }
speedup() { echo "$(median "$1" 2) $(median "$2" 2)" | awk '{printf "%.2f", $1 / $2}'; }
echo "hash: ccnet-filter is $(ratio ccnet_hash ours_hash_t1)x cc_net per CPU second (median CPU s: cc_net $(median ccnet_hash 3), range $(range ccnet_hash 3); 1 thread $(median ours_hash_t1 3), range $(range ours_hash_t1 3)); 2 threads: $(speedup ours_hash_t1 ours_hash_t2)x the 1-thread wall speed (median wall s $(median ours_hash_t1 2) and $(median ours_hash_t2 2))"
if [ "${SKIP_MINE:-0}" != 1 ]; then
    echo "mine: ccnet-filter is $(ratio ccnet_mine ours_mine_t1)x cc_net per CPU second (median CPU s: cc_net $(median ccnet_mine 3), range $(range ccnet_mine 3); 1 thread $(median ours_mine_t1 3), range $(range ours_mine_t1 3)); $(ratio ccnet_mine ours_mine_gzip1)x with --compression 1; 2 threads: $(speedup ours_mine_t1 ours_mine_t2)x the 1-thread wall speed"
fi
echo "hash table: $(grep -o '"bytes_per_hash": [0-9.]*' ours/hashes.bin.stats.json | grep -o '[0-9.]*$') bytes per hash; peak RSS of hash per unique hash: $(echo "scale=1; $(median ours_hash_t1 4) * 1024 / $hashes" | bc) bytes"
echo "mined documents identical to cc_net's: $identical"
