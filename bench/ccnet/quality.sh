#!/usr/bin/env bash
# Benchmark of `ccnet-filter mine --quality` (the Gopher quality and repetition rules) against
# datatrove's GopherRepetitionFilter and GopherQualityFilter, side by side in one run, on real
# documents from this machine's Debian documentation (make_doc_wet.py). Prints the CPU seconds
# of the rules on each side, the ratio, and how many decisions agree.
#
#   DATATROVE_DIR=/tmp/datatrove bench/ccnet/quality.sh BUILD_DIR WORK_DIR
#
# DATATROVE_DIR: a local copy of huggingface/datatrove checked out at v0.10.0, for measurement
# only. It needs Debian's python3-numpy, python3-regex, python3-loguru, python3-fsspec,
# python3-dill, python3-multiprocess, python3-humanize and python3-tqdm.
# MAX_DOCS: documents in the input (default 5000). REPEATS: runs of each side (default 3).
#
# ccnet-filter's share is the CPU time of `mine --no-dedup --quality` minus that of the same run
# without --quality (median of REPEATS alternating runs of each), so that reading, language
# identification and output count on neither side. datatrove's share is the CPU time of its
# two filters alone, over the documents that mine evaluated, read from mine's --explain output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: quality.sh BUILD_DIR WORK_DIR}
work=${2:?usage: quality.sh BUILD_DIR WORK_DIR}
: "${DATATROVE_DIR:?set DATATROVE_DIR to a local copy of huggingface/datatrove at v0.10.0}"
exe=$build/bin/ccnet-filter
repeats=${REPEATS:-3}
python=/usr/bin/python3
mkdir -p "$work"
cd "$work"

if [ ! -f docs.warc.wet.gz ]; then
    "$python" "$here/make_doc_wet.py" --out docs.warc.wet.gz --max-docs "${MAX_DOCS:-5000}" \
        /usr/share/doc /usr/share/common-licenses
fi

. "$here/cpu_time.sh"

rm -rf explain without with
"$exe" --threads 1 mine --force --no-dedup --quality --explain docs.warc.wet.gz -o explain 2> log.explain
: > without.txt
: > with.txt
for _ in $(seq "$repeats"); do
    cpu_seconds "$exe" --threads 1 mine --force --no-dedup docs.warc.wet.gz -o without >> without.txt
    cpu_seconds "$exe" --threads 1 mine --force --no-dedup --quality docs.warc.wet.gz -o with >> with.txt
done
without_cpu=$(median < without.txt)
with_cpu=$(median < with.txt)
ours=$(echo "$with_cpu - $without_cpu" | bc)

"$python" "$here/quality_reference.py" "$DATATROVE_DIR/src" explain "$repeats" > reference.tsv
cat reference.tsv
theirs=$(awk -F'\t' '$1 == "datatrove_cpu_seconds" { print $2 }' reference.tsv)
documents=$(awk -F'\t' '$1 == "documents" { print $2 }' reference.tsv)
same=$(awk -F'\t' '$1 == "same_decision" { print $2 }' reference.tsv)

printf 'mine without --quality, CPU s (runs)\t%s\t(%s)\n' "$without_cpu" "$(tr '\n' ' ' < without.txt)"
printf 'mine with --quality, CPU s (runs)\t%s\t(%s)\n' "$with_cpu" "$(tr '\n' ' ' < with.txt)"
printf 'ccnet-filter rules, CPU s\t%s\n' "$ours"
printf 'datatrove rules, CPU s\t%s\n' "$theirs"
printf 'ratio (datatrove / ccnet-filter)\t%s\n' "$(echo "scale=1; $theirs / $ours" | bc)"
printf 'same decision\t%s of %s\n' "$same" "$documents"
printf 'load average\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
[ "$same" = "$documents" ] || { echo "quality.sh: the decisions differ" >&2; exit 1; }
