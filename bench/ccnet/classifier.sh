#!/usr/bin/env bash
# Benchmark of the reference classifier (LLaMA's filter) against RedPajama's reproduction, side
# by side in one run: `ccnet-filter train-classifier` against `fasttext supervised` (RedPajama's
# training command) on the same labelled documents, and `mine --ref-model` against RedPajama's
# classify.py steps in Python on the same documents with the same model. Prints CPU seconds,
# ratios and how many scores agree.
#
#   bench/ccnet/classifier.sh BUILD_DIR WORK_DIR
#
# Needs Debian's fasttext and python3-fasttext. The documents come from this machine's
# /usr/share/doc and /usr/share/common-licenses (make_doc_wet.py): licence and copyright texts
# are labelled __label__wiki, change logs, NEWS and READMEs __label__cc. They stand in for
# Wikipedia references and random crawl pages, which are not available offline; the timing
# depends on the number and length of documents, not on what they are about.
# MAX_DOCS: documents in the classified WET file (default 5000). REPEATS: runs of each side
# (default 3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: classifier.sh BUILD_DIR WORK_DIR}
work=${2:?usage: classifier.sh BUILD_DIR WORK_DIR}
exe=$build/bin/ccnet-filter
repeats=${REPEATS:-3}
python=/usr/bin/python3
mkdir -p "$work"
cd "$work"

if [ ! -f corpus/train.txt ]; then
    "$python" "$here/classifier_reference.py" corpus corpus /usr/share/doc /usr/share/common-licenses
fi
if [ ! -f docs.warc.wet.gz ]; then
    "$python" "$here/make_doc_wet.py" --out docs.warc.wet.gz --max-docs "${MAX_DOCS:-5000}" \
        /usr/share/doc /usr/share/common-licenses
fi

. "$here/cpu_time.sh"

# Training: the same hyperparameters on both sides (fastText's supervised defaults), one thread.
: > train_ours.txt
: > train_fasttext.txt
for _ in $(seq "$repeats"); do
    cpu_seconds "$exe" train-classifier --wiki corpus/wiki.txt --cc corpus/cc.txt --validation 0 -o ours.bin \
        >> train_ours.txt
    cpu_seconds fasttext supervised -input corpus/train.txt -output redpajama -thread 1 -verbose 0 \
        >> train_fasttext.txt
done

# Classification with the model that train-classifier wrote.
rm -rf scored without with
"$exe" --threads 1 mine --force --no-dedup --ref-model ours.bin --ref-threshold 0 docs.warc.wet.gz -o scored \
    2> log.scored
: > without.txt
: > with.txt
for _ in $(seq "$repeats"); do
    cpu_seconds "$exe" --threads 1 mine --force --no-dedup docs.warc.wet.gz -o without >> without.txt
    cpu_seconds "$exe" --threads 1 mine --force --no-dedup --ref-model ours.bin --ref-threshold 0 \
        docs.warc.wet.gz -o with >> with.txt
done
"$python" "$here/classifier_reference.py" classify ours.bin scored "$repeats" > reference.tsv 2> reference.log
cat reference.tsv

train_ours=$(median < train_ours.txt)
train_fasttext=$(median < train_fasttext.txt)
ours=$(echo "$(median < with.txt) - $(median < without.txt)" | bc)
theirs=$(awk -F'\t' '$1 == "redpajama_cpu_seconds" { print $2 }' reference.tsv)
documents=$(awk -F'\t' '$1 == "documents" { print $2 }' reference.tsv)
same=$(awk -F'\t' '$1 == "same_score" { print $2 }' reference.tsv)
printf 'train-classifier, CPU s (runs)\t%s\t(%s)\n' "$train_ours" "$(tr '\n' ' ' < train_ours.txt)"
printf 'fasttext supervised, CPU s (runs)\t%s\t(%s)\n' "$train_fasttext" "$(tr '\n' ' ' < train_fasttext.txt)"
printf 'training ratio (fasttext / train-classifier)\t%s\n' "$(echo "scale=2; $train_fasttext / $train_ours" | bc)"
printf 'mine without --ref-model, CPU s (runs)\t%s\n' "$(tr '\n' ' ' < without.txt)"
printf 'mine with --ref-model, CPU s (runs)\t%s\n' "$(tr '\n' ' ' < with.txt)"
printf 'ccnet-filter classification, CPU s\t%s\n' "$ours"
printf 'RedPajama classification, CPU s\t%s\n' "$theirs"
printf 'classification ratio (RedPajama / ccnet-filter)\t%s\n' "$(echo "scale=2; $theirs / $ours" | bc)"
printf 'same score\t%s of %s\n' "$same" "$documents"
printf 'load average\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
[ "$same" = "$documents" ] || { echo "classifier.sh: scores differ: $(cat reference.log)" >&2; exit 1; }
