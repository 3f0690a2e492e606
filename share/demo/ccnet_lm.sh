#!/bin/sh
# The ccnet-filter demo with perplexity buckets: train a SentencePiece model and a 5-gram
# language model on English text from Debian (the license texts of base-files in
# /usr/share/common-licenses), then hash and mine the WET fixtures with them.
#
# Usage: ccnet_lm.sh [BIN_DIR] [OUT_DIR]
#   BIN_DIR  directory with ccnet-filter (default: build/bin)
#   OUT_DIR  where the models and outputs go (default: build/ccnet-demo)
# Needs spm_train and spm_encode (Debian package sentencepiece). A few seconds on 2 cores.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/bin}
out=${2:-build/ccnet-demo}
corpora="$here/../../tests/text/corpora"
# hash writes into an existing directory (like every scorekit tool); mine creates its own.
mkdir -p "$out/models" "$out/hashes"

echo "ccnet demo: [1/4] English text from /usr/share/common-licenses, lowercased, digits to 0"
# An approximation of cc_net's normalisation (no accent or punctuation mapping), enough here.
cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/GPL-2 /usr/share/common-licenses/LGPL-2.1 \
    /usr/share/common-licenses/Apache-2.0 /usr/share/common-licenses/MPL-2.0 /usr/share/common-licenses/GFDL-1.3 |
    tr 'A-Z' 'a-z' | sed 's/[0-9]/0/g; s/^[[:space:]]*//; /^$/d' > "$out/models/en.txt"

echo "ccnet demo: [2/4] SentencePiece (1000 pieces) and a 5-gram model"
spm_train --input="$out/models/en.txt" --model_prefix="$out/models/en.sp" --vocab_size=1000 \
    --model_type=unigram --num_threads=1 --minloglevel=2 > /dev/null 2>&1
spm_encode --model="$out/models/en.sp.model" < "$out/models/en.txt" > "$out/models/en.pieces"
"$bin/ccnet-filter" -q train-lm "$out/models/en.pieces" --order 5 -o "$out/models/en.arpa"

echo "ccnet demo: [3/4] hash and mine the fixtures with perplexity buckets"
echo "ccnet demo: expected below: 'wrong Content-Length' warnings (4 per run), because the records of"
echo "ccnet demo: cc_net's sample.warc.txt declare lengths that do not match their bodies"
"$bin/ccnet-filter" -q hash --force --min-len 0 "$corpora/sample.warc.txt" "$corpora/whirlwind.warc.wet.gz" \
    -o "$out/hashes/0000.bin"
"$bin/ccnet-filter" -q mine --force --min-len 0 "$corpora/sample.warc.txt" "$corpora/whirlwind.warc.wet.gz" \
    --hashes "$out/hashes/0000.bin" --sp-model "$out/models/{lang}.sp.model" \
    --lm-model "$out/models/{lang}.arpa" -o "$out/mined/0000"

echo "ccnet demo: [4/4] outputs (language_bucket) and their perplexities"
for file in "$out"/mined/0000/*.json.gz; do
    printf '%s: ' "$(basename "$file")"
    zcat "$file" | grep -o '"language": "[^"]*", "language_score": [0-9.]*\(, "perplexity": [0-9.]*\)\?, "bucket": "[a-z]*"' |
        tr '\n' ' '
    echo
done
