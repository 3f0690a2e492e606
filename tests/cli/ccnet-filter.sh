# Black-box tests of ccnet-filter: hash and mine on real crawl fixtures, faults, usage errors.
. "$(dirname "$0")/lib.sh"
exe="$BIN/ccnet-filter"
corpora="$SRC/tests/text/corpora"

# hash writes into an existing directory and creates none, like every scorekit tool.
run_case "hash into a missing directory" 1 "cannot create a file in directory" -- "$exe" hash --min-len 0 \
    "$corpora/sample.warc.txt" -o "$WORK/h/0000.bin"
expect_one_line_error "hash into a missing directory"
[ ! -e "$WORK/h" ] || fail "hash into a missing directory: the directory was created"
mkdir -p "$WORK/h"

# hash then mine cc_net's sample: three documents in three languages.
run_case "hash sample" 0 "hashed 3 documents" -- "$exe" hash --min-len 0 "$corpora/sample.warc.txt" -o "$WORK/h/0000.bin"
expect_file "hash sample" "$WORK/h/0000.bin"
expect_file "hash sample stats" "$WORK/h/0000.bin.stats.json"
expect_file "hash sample marker" "$WORK/h/0000.bin.done"
[ "$(head -c 8 "$WORK/h/0000.bin")" = "SKCCHASH" ] || fail "hash file has no SKCCHASH magic"
[ "$(grep -c 'warning: wrong Content-Length: 4 times in all' "$WORK/err")" -eq 1 ] || fail "hash sample: warning summary not printed once: $(cat "$WORK/err")"
# Whole-file gzip input (one member, streamed) gives the same hash file as the plain text.
gzip -c "$corpora/sample.warc.txt" > "$WORK/sample.warc.gz"
run_case "hash whole-file gzip" 0 "hashed 3 documents" -- "$exe" hash --min-len 0 "$WORK/sample.warc.gz" -o "$WORK/h/gz.bin"
cmp -s "$WORK/h/0000.bin" "$WORK/h/gz.bin" || fail "hash whole-file gzip: hash file differs from the plain input's"
# The hash file records its --min-len, and mine with another one is a usage error.
run_case "mine with another --min-len" 2 'hash file made with another --min-len ".*0000.bin": --min-len 0 there, 300 here' \
    -- "$exe" mine "$corpora/sample.warc.txt" --hashes "$WORK/h/0000.bin" -o "$WORK/m"
expect_one_line_error "mine with another --min-len"
expect_no_file "mine with another --min-len" "$WORK/m"
run_case "mine sample" 0 "language identifier cld2" -- "$exe" mine --min-len 0 "$corpora/sample.warc.txt" \
    --hashes "$WORK/h/0000.bin" -o "$WORK/m"
for lang in en ru zh; do expect_file "mine sample $lang" "$WORK/m/$lang.json.gz"; done
grep -q 'kept 3 of 3 documents; lines [0-9]* of 15 after dedup' "$WORK/err" || fail "mine sample: dedup line count: $(cat "$WORK/err")"
# The four wrong Content-Length warnings are summed up once, before the closing line.
[ "$(grep -c 'warning: wrong Content-Length: 4 times in all' "$WORK/err")" -eq 1 ] || fail "mine sample: warning summary not printed once: $(cat "$WORK/err")"
tail -1 "$WORK/err" | grep -q 'done: mine' || fail "mine sample: last line is not the summary: $(tail -1 "$WORK/err")"
# The output is one gzip member per batch, and gzip and Python read every language file.
for lang in en ru zh; do
    gzip -t "$WORK/m/$lang.json.gz" || fail "mine sample: gzip -t rejects $lang.json.gz"
    /usr/bin/python3 -c 'import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())' "$WORK/m/$lang.json.gz" \
        | cmp -s - <(zcat "$WORK/m/$lang.json.gz") || fail "mine sample: Python's gzip reads $lang.json.gz differently"
done
zcat "$WORK/m/en.json.gz" > "$WORK/en.jsonl"
grep -q '^{"url": "http://sample_english.com", "date_download": "2019-03-18T00:00:00Z", "digest": "sha1:XQZHW7QWIG54HVAV3KPRW6MK5ILDNCER", "length": ' "$WORK/en.jsonl" \
    || fail "mine sample: English document fields: $(head -c 300 "$WORK/en.jsonl")"
grep -q '"original_nlines": 6, "original_length": 353, "line_ids": \[' "$WORK/en.jsonl" || fail "mine sample: original_* fields"
grep -q '"language": "en", "language_score": 0\.[5-9][0-9]*, "language_identifier": "cld2"}$' "$WORK/en.jsonl" \
    || fail "mine sample: language fields"
grep -q '"wrong_content_length": 4' "$WORK/m.stats.json" || fail "mine sample: fault count in stats"

# Standard input, two threads, and the language filter give the same English file.
run_case_stdin "mine stdin" 0 "" "$corpora/sample.warc.txt" -- "$exe" --threads 2 mine --min-len 0 - \
    --hashes "$WORK/h/0000.bin" --lang en,de -o "$WORK/m2"
# Only cc_segment (the input path, `-` here) may differ.
zcat "$WORK/m2/en.json.gz" | sed 's/"cc_segment": "-"/"cc_segment": "SEGMENT"/' > "$WORK/en2.jsonl"
sed 's/"cc_segment": "[^"]*"/"cc_segment": "SEGMENT"/' "$WORK/en.jsonl" | cmp -s - "$WORK/en2.jsonl" \
    || fail "mine stdin: English output differs from the file run"
expect_no_file "mine --lang" "$WORK/m2/ru.json.gz"

# Codes are trimmed, as a shell user writes "en, ru"; an empty code is a usage error.
run_case "mine --lang with a space" 0 "kept 2 of 3 documents" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" \
    --lang "en, ru" -o "$WORK/lang-space"
expect_file "mine --lang with a space" "$WORK/lang-space/ru.json.gz"
run_case "mine --lang empty" 2 'invalid --lang "": it contains an empty language code' -- "$exe" mine --no-dedup \
    "$corpora/sample.warc.txt" --lang "" -o "$WORK/lang-empty"
expect_one_line_error "mine --lang empty"
expect_no_file "mine --lang empty" "$WORK/lang-empty"

# An output directory written with a trailing slash gets its marker and stats beside it, where
# make and the merge script look, not hidden inside it.
run_case "mine -o with a trailing slash" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" \
    -o "$WORK/slash/"
expect_file "mine -o with a trailing slash" "$WORK/slash.done"
expect_file "mine -o with a trailing slash" "$WORK/slash.stats.json"
expect_no_file "mine -o with a trailing slash" "$WORK/slash/.done"
run_case "SLURM array, -o with a slash" 2 "put \{shard\} in -o" -- env SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=2 \
    "$exe" mine --no-dedup "$corpora/sample.warc.txt" -o "$WORK/slash-array/"

# A finished shard is skipped.
run_case "done marker" 0 "already done" -- "$exe" mine --min-len 0 "$corpora/sample.warc.txt" \
    --hashes "$WORK/h/0000.bin" -o "$WORK/m"

# A done marker of another shard count covers another slice of the inputs: it is not taken as
# this shard's, and mine rejects hash files of another split.
mkdir -p "$WORK/split-in" "$WORK/split"
for name in a b c d; do cp "$corpora/whirlwind.warc.wet.gz" "$WORK/split-in/$name.warc.wet.gz"; done
ls "$WORK"/split-in/*.warc.wet.gz > "$WORK/split.paths"
run_case "hash shard of 4" 0 "" -- "$exe" hash --min-len 0 --paths "$WORK/split.paths" --shard 0/4 -o "$WORK/split/0000.bin"
run_case "marker of another split" 1 \
    'done marker of another split ".*split/0000.bin.done": it records shard 0/4, but this run is shard 0/2; write into a new output directory, or give --force' -- \
    "$exe" hash --min-len 0 --paths "$WORK/split.paths" --shard 0/2 -o "$WORK/split/0000.bin"
expect_one_line_error "marker of another split"
run_case "mine on another split" 1 \
    'hash file of another split ".*split/0000.bin": its done marker records shard 0/4, but this mine run needs shard 0/2' -- \
    "$exe" mine --min-len 0 --paths "$WORK/split.paths" --shard 0/2 --hashes-dir "$WORK/split" -o "$WORK/split-mined"
expect_one_line_error "mine on another split"
expect_no_file "mine on another split" "$WORK/split-mined.done"
run_case "marker of another split, forced" 0 "" -- "$exe" hash --min-len 0 --paths "$WORK/split.paths" --shard 0/2 \
    -o "$WORK/split/0000.bin" --force
grep -q '"shard": 0, "shards": 2' "$WORK/split/0000.bin.done" || fail "forced rerun: marker $(cat "$WORK/split/0000.bin.done")"

# A file with bytes but no WARC record (a path list given without --paths) and a file of another
# compression are errors, not empty shards.
printf '%s\n' "$corpora/sample.warc.txt" | gzip -c > "$WORK/list.paths.gz"
run_case "path list as input" 1 'cannot read ".*list.paths.gz": no WARC record in its [0-9]+ bytes; .*--paths' -- \
    "$exe" -q hash "$WORK/list.paths.gz" -o "$WORK/list.bin"
expect_one_line_error "path list as input"
expect_no_file "path list as input marker" "$WORK/list.bin.done"
# The xz stream header: magic, then flags and CRC32 for CRC64 checks, as xz writes by default.
printf '\375\067\172\130\132\000\000\004\346\326\264\106' > "$WORK/sample.warc.xz"
run_case "xz input" 1 'cannot read ".*sample.warc.xz": xz-compressed' -- "$exe" -q hash "$WORK/sample.warc.xz" -o "$WORK/xz.bin"
expect_one_line_error "xz input"

# A fixed model path (no {lang}) that does not exist is an error before any work, not a run that
# puts every document in the "all" bucket.
run_case "missing fixed lm model" 1 'cannot open --sp-model ".*nosuch.model": No such file' -- \
    "$exe" -q mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --sp-model "$WORK/nosuch.model" \
    --lm-model "$WORK/nosuch.arpa" -o "$WORK/lm-missing"

# Option values are checked as they are parsed: NaN, out-of-range and overflowing numbers.
while IFS='|' read -r name pattern arguments; do
    # shellcheck disable=SC2086
    run_case "$name" 2 "$pattern" -- "$exe" $arguments
    expect_one_line_error "$name"
done <<'CASES'
lang-threshold nan|invalid --lang-threshold "nan": must be a finite number|mine --lang-threshold nan --no-dedup x -o y
ref-threshold above 1|invalid --ref-threshold "2": must be in \[0, 1\]|mine --ref-threshold 2 --no-dedup x -o y
batch 0|invalid --batch "0": must be a whole number from 1|hash --batch 0 x -o y
batch overflow|invalid --batch "99999999999"|hash --batch 99999999999 x -o y
dim 0|invalid --dim "0"|train-classifier --dim 0 --wiki x --cc y -o z
bucket 0|invalid --bucket "0": must be a whole number from 1|train-classifier --bucket 0 --wiki x --cc y -o z
lr negative|invalid --lr "-1": must be positive|train-classifier --lr -1 --wiki x --cc y -o z
fallback D3+ 9|invalid --fallback-discounts "9": D3\+ must be between 0 and 3|train-lm x --discount-fallback --fallback-discounts 0.5 1 9 -o y
fallback D1 nan|invalid --fallback-discounts "NaN": D1 must be between 0 and 1|train-lm x --fallback-discounts nan 1 1.5 -o y
compression 10|invalid --compression "10": must be a whole number from 1 to 9|mine --compression 10 --no-dedup x -o y
CASES

# An output that names an input would replace it: a usage error before any work, input intact.
cp "$corpora/sample.warc.txt" "$WORK/own.wet"
run_case "hash over its input" 2 'invalid -o ".*own.wet": it is the same file as input' -- \
    "$exe" -q hash --min-len 0 "$WORK/own.wet" -o "$WORK/own.wet"
expect_one_line_error "hash over its input"
cmp -s "$corpora/sample.warc.txt" "$WORK/own.wet" || fail "hash over its input: the input was changed"
printf 'a b c\n' > "$WORK/own.txt"
run_case "train-lm over its input" 2 'invalid --output ".*own.txt": it is the same file as input' -- \
    "$exe" -q train-lm "$WORK/own.txt" --order 2 --discount-fallback -o "$WORK/own.txt"
[ "$(cat "$WORK/own.txt")" = "a b c" ] || fail "train-lm over its input: the input was changed"

# A forced rerun that fails leaves no done marker: the old one goes before the work starts.
run_case "hash force" 0 "hashed" -- "$exe" hash --min-len 0 "$corpora/sample.warc.txt" -o "$WORK/force.bin"
expect_file "hash force marker" "$WORK/force.bin.done"
printf 'WARC/1.0\r\nWARC-Type: conversion\r\n' | gzip -c | head -c 30 > "$WORK/force-cut.warc.wet.gz"
run_case "failed forced rerun" 1 "truncated" -- "$exe" hash --force --min-len 0 "$corpora/sample.warc.txt" \
    "$WORK/force-cut.warc.wet.gz" -o "$WORK/force.bin"
[ ! -e "$WORK/force.bin.done" ] || fail "failed forced rerun: the old done marker is still there"

# A truncated gzip member: the complete records are written, then exit 1 with file and offset.
good="$corpora/whirlwind.warc.wet.gz"
size=$(wc -c < "$good")
{ cat "$good"; head -c $((size - 500)) "$good"; } > "$WORK/cut.warc.wet.gz"
run_case "truncated member" 1 "cut\.warc\.wet\.gz.*gzip member at byte offset [0-9]+ is truncated" -- \
    "$exe" mine --min-len 0 --no-dedup "$WORK/cut.warc.wet.gz" -o "$WORK/cut"
[ "$(zcat "$WORK"/cut/*.json.gz | wc -l)" -eq 1 ] || fail "truncated member: the complete record was not written"
expect_file "truncated member stats" "$WORK/cut.stats.json"
tail -1 "$WORK/err" | grep -q 'gzip member at byte offset' || fail "truncated member: error is not the last line: $(tail -1 "$WORK/err")"
grep -q 'done:' "$WORK/err" && fail "truncated member: a done: line before the error: $(cat "$WORK/err")"
expect_no_file "truncated member marker" "$WORK/cut.done"

# A WARC file (warcinfo and response records, no conversion record) yields no document: a
# warning names it, and the stats file counts it.
info='software: test'
page='HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><p>A page.</p></html>'
{
    printf 'WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Date: 2024-05-18T01:58:10Z\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n' \
        "${#info}" "$info"
    printf 'WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://page.example/\r\nWARC-Date: 2024-05-18T01:58:11Z\r\n'
    printf 'Content-Length: %d\r\n\r\n' "$(printf "$page" | wc -c)"
    printf "$page"
    printf '\r\n\r\n'
} | gzip -c > "$WORK/page.warc.gz"
run_case "WARC in place of WET" 0 'warning: no conversion record ".*page\.warc\.gz": 2 records of type warcinfo, response, so no document; .*give the WET file' -- \
    "$exe" mine --no-dedup "$WORK/page.warc.gz" "$good" -o "$WORK/warc"
grep -q '"files_without_conversion": 1}' "$WORK/warc.stats.json" || fail "WARC in place of WET: stats $(cat "$WORK/warc.stats.json")"
grep -q 'kept 1 of 1 documents' "$WORK/err" || fail "WARC in place of WET: the WET file's document: $(cat "$WORK/err")"

# The real whirlwind record (new header order) gives one document.
run_case "whirlwind" 0 "kept 1 of 1 documents" -- "$exe" mine --min-len 0 --no-dedup "$good" -o "$WORK/ww"
grep -q 'after dedup' "$WORK/err" && fail "whirlwind: --no-dedup logs a dedup line count: $(cat "$WORK/err")"
grep -q '"documents_out": 1' "$WORK/ww.stats.json" || fail "whirlwind: expected one document: $(cat "$WORK/ww.stats.json")"

# The shard defaults to the SLURM array variables: task 1 of 2 reads the second of two inputs.
mkdir -p "$WORK/slurm"
SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2 run_case "SLURM shard" 0 "shard 1/2" -- "$exe" hash --min-len 0 \
    "$corpora/sample.warc.txt" "$good" -o "$WORK/slurm/{shard}.bin"
expect_file "SLURM shard" "$WORK/slurm/0001.bin"
grep -q 'whirlwind.warc.wet.gz"\]' "$WORK/slurm/0001.bin.stats.json" || fail "SLURM shard: wrong input: $(head -c 300 "$WORK/slurm/0001.bin.stats.json")"
SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=2 run_case "bad SLURM variables" 2 "invalid SLURM array variables" -- \
    "$exe" hash "$good" -o "$WORK/slurm/{shard}.bin"

# Usage and data errors.
run_case "no input" 2 "no WET files" -- "$exe" hash -o "$WORK/x.bin"
expect_one_line_error "no input"
run_case "bad shard" 2 "invalid --shard" -- "$exe" hash --shard 3/3 "$good" -o "$WORK/x.bin"
expect_one_line_error "bad shard"
run_case "no dedup choice" 2 "exactly one of them" -- "$exe" mine "$good" -o "$WORK/x"
expect_one_line_error "no dedup choice"
cp "$good" "$WORK/good-copy.wet.gz"
run_case "shared output" 2 "put \{shard\} in -o" -- env SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=2 \
    "$exe" hash "$good" "$WORK/good-copy.wet.gz" -o "$WORK/x.bin"
# An explicit --shard names one shard, which may write any path (one Makefile rule per shard).
run_case "explicit shard, any path" 0 '' -- "$exe" hash --shard 0/2 "$good" "$WORK/good-copy.wet.gz" \
    -o "$WORK/one-shard.bin"
run_case "missing hash group" 1 "hash file not found" -- "$exe" mine --shard 1/2 "$good" "$WORK/good-copy.wet.gz" \
    --hashes-dir "$WORK/nohashes" -o "$WORK/x{shard}"
expect_one_line_error "missing hash group"
run_case "missing input" 1 "cannot open" -- "$exe" hash "$WORK/none.wet.gz" -o "$WORK/none.bin"
expect_no_file "missing input" "$WORK/none.bin"
# mine creates its output directory. A run that fails, on a full disk or by a signal, removes
# the directories that it created, and keeps one that existed before.
run_case_full_disk "mine onto a full disk" 1 'cannot write ".*nospace/deep/out/es\.json\.gz": File too large; check free disk space' -- \
    "$exe" -q mine --no-dedup --min-len 0 "$corpora/whirlwind.warc.wet.gz" -o "$WORK/nospace/deep/out"
expect_one_line_error "mine onto a full disk"
expect_no_file "mine onto a full disk" "$WORK/nospace"
mkdir -p "$WORK/existing/out"
run_case_full_disk "mine into a directory on a full disk" 1 'cannot write ".*existing/out/es\.json\.gz"' -- \
    "$exe" -q mine --no-dedup --min-len 0 "$corpora/whirlwind.warc.wet.gz" -o "$WORK/existing/out"
[ -d "$WORK/existing/out" ] || fail "mine into a directory on a full disk: removed the directory that existed before"
[ -z "$(ls -A "$WORK/existing/out")" ] || fail "mine into a directory on a full disk: left $(ls -A "$WORK/existing/out")"
mkfifo "$WORK/held.fifo"
"$exe" mine --no-dedup --min-len 0 - -o "$WORK/term/deep/out" < "$WORK/held.fifo" 2> "$WORK/term.err" &
mining=$!
exec 7> "$WORK/held.fifo"
signal_when TERM $mining test -d "$WORK/term/deep/out"
exec 7>&-
[ "$status" -eq 143 ] || fail "mine SIGTERM: exit status $status, expected 143: $(tail -2 "$WORK/term.err")"
[ ! -e "$WORK/term" ] || fail "mine SIGTERM: left $(find "$WORK/term")"
# cc_net downloads the URLs of a path list, so the error says that ccnet-filter reads local files.
run_case "URL as input" 1 'cannot open "https://data.commoncrawl.org/x.warc.wet.gz": No such file or directory; ccnet-filter reads local files, so download' -- \
    "$exe" hash "https://data.commoncrawl.org/x.warc.wet.gz" -o "$WORK/url.bin"
# Standard input can be read once; a second `-` would pass as an empty file.
run_case_stdin "stdin twice" 2 'invalid input "-": standard input is given more than once' "$good" -- \
    "$exe" hash - - -o "$WORK/twice.bin"
expect_one_line_error "stdin twice"
expect_no_file "stdin twice" "$WORK/twice.bin"
run_case "directory as --paths" 1 'cannot read --paths ".*/h": it is a directory; give the file that lists' -- \
    "$exe" hash --paths "$WORK/h" -o "$WORK/dir-list.bin"
expect_one_line_error "directory as --paths"
run_case "bad lid model" 1 "cannot load fastText model" -- "$exe" mine --no-dedup "$good" \
    --lid-model "$WORK/en.jsonl" -o "$WORK/x"
run_case "missing lid model" 1 'cannot load fastText model ".*/nosuch.bin": No such file or directory; check the path' -- \
    "$exe" mine --no-dedup "$good" --lid-model "$WORK/nosuch.bin" -o "$WORK/x"
expect_one_line_error "missing lid model"
run_case "mine help" 0 "" -- "$exe" mine --help
grep -q -- "--lid-model" "$WORK/out" || fail "mine --help lacks --lid-model"

# train-lm: an order-2 model of three sentences (values worked out in tests/unit/text_kneser_ney.cpp).
printf 'a b a b c\na b c\nb c a\n' > "$WORK/corpus.txt"
run_case "train-lm tiny" 0 "2-grams: 8, discounts D1=0\.5 D2=0\.5 D3\+=3" -- \
    "$exe" train-lm "$WORK/corpus.txt" --order 2 --discount-fallback -o "$WORK/tiny.arpa"
grep -q '^ngram 2=8$' "$WORK/tiny.arpa" || fail "train-lm tiny: bigram count"
grep -q -P '^-1\t<unk>\t0$' "$WORK/tiny.arpa" || fail "train-lm tiny: <unk> line"
grep -q -P '^-0\.47712123\t<s>' "$WORK/tiny.arpa" && fail "train-lm tiny: <s> must have log10 probability 0"
grep -q -P '^0\t<s>\t-0\.47712123$' "$WORK/tiny.arpa" || fail "train-lm tiny: <s> line"
# -o - writes the ARPA text to standard output, the same bytes as the file.
"$exe" -q train-lm "$WORK/corpus.txt" --order 2 --discount-fallback -o - > "$WORK/stdout.arpa" ||
    fail "train-lm -o -: failed"
cmp -s "$WORK/tiny.arpa" "$WORK/stdout.arpa" || fail "train-lm -o -: standard output differs from the file"
run_case "hash -o -" 2 'invalid -o "-"' -- "$exe" hash "$corpora/sample.warc.txt" -o -
expect_one_line_error "hash -o -"
[ ! -e ./- ] && [ ! -e "$WORK/-" ] || fail "hash -o -: a file named - was written"
run_case "train-lm no fallback" 1 "cannot estimate Kneser-Ney discounts.*--discount-fallback" -- \
    "$exe" -q train-lm "$WORK/corpus.txt" --order 2 -o "$WORK/none.arpa"
expect_one_line_error "train-lm no fallback"
expect_no_file "train-lm no fallback" "$WORK/none.arpa"
run_case "train-lm bad order" 2 "order" -- "$exe" train-lm "$WORK/corpus.txt" --order 9 -o "$WORK/none.arpa"

# mine with a language model: perplexity and bucket fields, one file per language and bucket.
lm="$SRC/tests/text/lm"
printf ',en,ru\n30,40.0,10\n60,49.3,20\n' > "$WORK/cutoff.csv"
run_case "mine perplexity" 0 "loaded the models of every language" -- "$exe" mine --no-dedup --min-len 0 \
    "$corpora/sample.warc.txt" --lang en,ru --sp-model "$lm/gpl3.sp.model" --lm-model "$lm/gpl3.o3.arpa.gz" \
    --cutoff "$WORK/cutoff.csv" -o "$WORK/pp"
# Fixed paths serve every language from one copy, loaded once.
[ "$(grep -c 'loaded the models' "$WORK/err")" -eq 1 ] || fail "mine perplexity: models loaded more than once: $(grep 'loaded the models' "$WORK/err")"
zcat "$WORK/pp/en_tail.json.gz" > "$WORK/pp_en.jsonl" || fail "mine perplexity: no en_tail.json.gz"
# The English document scores 49.3, equal to the row-60 cutoff, so it goes to tail.
grep -q '"language_score": 0\.[0-9]*, "perplexity": 49\.3, "bucket": "tail", "language_identifier": "cld2"}$' \
    "$WORK/pp_en.jsonl" || fail "mine perplexity: fields $(tail -c 200 "$WORK/pp_en.jsonl")"
expect_file "mine perplexity ru" "$WORK/pp/ru_tail.json.gz"
expect_no_file "mine perplexity zh" "$WORK/pp/zh_all.json.gz"
grep -q '"documents_scored": 2' "$WORK/pp.stats.json" || fail "mine perplexity: scored count in stats"
# A NaN cutoff emptied the bucket below it, and a row 60 below row 30 left middle empty.
printf ',en\n30,NaN\n60,49.3\n' > "$WORK/cutoff-nan.csv"
printf ',en\n30,60\n60,49.3\n' > "$WORK/cutoff-decreasing.csv"
run_case "cutoff NaN" 1 'invalid cutoff file ".*cutoff-nan.csv:2": "NaN" is not a finite number' -- "$exe" mine --no-dedup \
    --min-len 0 "$corpora/sample.warc.txt" --sp-model "$lm/gpl3.sp.model" --lm-model "$lm/gpl3.o3.arpa.gz" \
    --cutoff "$WORK/cutoff-nan.csv" -o "$WORK/pp-nan"
run_case "cutoff decreasing" 1 'the row-60 cutoff of en \(49.3\) is below its row-30 cutoff \(60\)' -- "$exe" mine --no-dedup \
    --min-len 0 "$corpora/sample.warc.txt" --sp-model "$lm/gpl3.sp.model" --lm-model "$lm/gpl3.o3.arpa.gz" \
    --cutoff "$WORK/cutoff-decreasing.csv" -o "$WORK/pp-decreasing"
expect_no_file "cutoff decreasing" "$WORK/pp-decreasing"
# The same model as SRILM lays it out (no back-off weight where it is 0, trailing blanks, blank
# lines of spaces, CRLF) gives the same perplexities. Trailing blanks used to hide \data\.
zcat "$lm/gpl3.o3.arpa.gz" | awk -F '\t' '{ if (NF == 3 && $3 == "0") print $1 "\t" $2 " \r"; else if ($0 == "") print "  \r"; else print $0 " \r" }' \
    > "$WORK/srilm.arpa"
run_case "mine SRILM-style ARPA" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --lang en,ru \
    --sp-model "$lm/gpl3.sp.model" --lm-model "$WORK/srilm.arpa" --cutoff "$WORK/cutoff.csv" -o "$WORK/pp-srilm"
for file in en_tail ru_tail; do
    cmp -s <(zcat "$WORK/pp/$file.json.gz") <(zcat "$WORK/pp-srilm/$file.json.gz") ||
        fail "mine SRILM-style ARPA: $file differs from the run with the plain ARPA file"
done
# A gzip-compressed probing binary is named as such, not as an ARPA file without \data\.
gzip -c "$lm/tiny.arpa.bin" > "$WORK/tiny.arpa.bin.gz"
run_case "gzip probing binary" 1 'unsupported language model ".*tiny.arpa.bin.gz": it is a gzip-compressed KenLM binary model; decompress it' -- \
    "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --sp-model "$lm/gpl3.sp.model" \
    --lm-model "$WORK/tiny.arpa.bin.gz" -o "$WORK/pp-gzbin"
expect_one_line_error "gzip probing binary"
expect_no_file "gzip probing binary" "$WORK/pp-gzbin"
# A scored language without a cutoff column goes to bucket all, as in cc_net, with one warning
# per language. A cutoff table made for other languages did that without a word.
printf ',de\n30,40.0\n60,49.3\n' > "$WORK/cutoff-de.csv"
run_case "cutoff without the language" 0 'warning: no cutoff column for en ".*cutoff-de.csv": its documents have a perplexity but go to bucket all' -- \
    "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --lang en --sp-model "$lm/gpl3.sp.model" \
    --lm-model "$lm/gpl3.o3.arpa.gz" --cutoff "$WORK/cutoff-de.csv" -o "$WORK/pp-de"
zcat "$WORK/pp-de/en_all.json.gz" | grep -q '"perplexity": 49\.3, "bucket": "all"' ||
    fail "cutoff without the language: expected en_all with the perplexity"
# A {lang} pattern with no file for a language leaves its documents unscored, in bucket all.
run_case "mine perplexity pattern" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" \
    --sp-model "$lm/gpl3.sp.model" --lm-model "$WORK/{lang}.arpa" -o "$WORK/pp2"
expect_file "mine perplexity pattern" "$WORK/pp2/en_all.json.gz"
zcat "$WORK/pp2/en_all.json.gz" | grep -q '"perplexity"' && fail "mine perplexity pattern: unexpected perplexity"
# A directory or a damaged file as --sp-model: one error line, not an internal error.
mkdir -p "$WORK/sp-dir"
head -c 3000 "$lm/gpl3.sp.model" > "$WORK/truncated.sp.model"
for model in "$WORK/sp-dir" "$WORK/truncated.sp.model"; do
    run_case "bad sp-model $model" 1 'cannot load SentencePiece model ".*": (it is a directory|not a SentencePiece model, or a truncated or damaged one); give a .model file' -- \
        "$exe" -q mine --no-dedup --min-len 0 "$good" --sp-model "$model" --lm-model "$lm/gpl3.o3.arpa.gz" -o "$WORK/bad-sp"
    expect_one_line_error "bad sp-model $model"
    # A model for every language is loaded before the output directory is made.
    expect_no_file "bad sp-model $model" "$WORK/bad-sp"
done
run_case "sp without lm" 2 "one was given without the other" -- "$exe" mine --no-dedup "$corpora/sample.warc.txt" \
    --sp-model "$lm/gpl3.sp.model" -o "$WORK/pp3"

# cutoffs: percentiles of five English perplexities; a document without one is skipped.
for pp in 50 10 40 20 30; do printf '{"url": "u", "language": "en", "language_score": 0.9, "perplexity": %s.0}\n' $pp; done > "$WORK/pp.jsonl"
printf '{"url": "u", "language": "de", "language_score": 0.9}\n' >> "$WORK/pp.jsonl"
run_case "cutoffs" 0 "from 5 of 6 documents" -- "$exe" cutoffs "$WORK/pp.jsonl" -o "$WORK/cut.csv"
[ "$(head -1 "$WORK/cut.csv")" = ",en" ] || fail "cutoffs: header $(head -1 "$WORK/cut.csv")"
run_case "cutoffs -o -" 0 "" -- "$exe" -q cutoffs "$WORK/pp.jsonl" -o -
cmp -s "$WORK/cut.csv" "$WORK/out" || fail "cutoffs -o -: standard output differs from the file"
grep -qx '30,22.0' "$WORK/cut.csv" || fail "cutoffs: row 30 (numpy gives 22.0)"
grep -qx '60,34.0' "$WORK/cut.csv" || fail "cutoffs: row 60 (numpy gives 34.0)"
[ "$(wc -l < "$WORK/cut.csv")" -eq 101 ] || fail "cutoffs: expected 100 rows and a header"
# A line that is not a JSON object, and a perplexity that is not finite, are data errors: they
# were skipped as documents without perplexity, or filled the table with NaN.
printf '{"language": "en", "perplexity": 10.0}\nnot json\n' > "$WORK/not-json.jsonl"
printf '{"language": "en", "perplexity": NaN}\n' > "$WORK/nan.jsonl"
printf '{"language": "en", "perplexity": 1e400}\n' > "$WORK/inf.jsonl"
run_case "cutoffs not JSON" 1 'invalid document ".*not-json.jsonl:2": the line is not a JSON object' -- \
    "$exe" cutoffs "$WORK/not-json.jsonl" -o "$WORK/not-json.csv"
expect_no_file "cutoffs not JSON" "$WORK/not-json.csv"
for name in nan inf; do
    run_case "cutoffs $name" 1 "invalid document \".*$name.jsonl:1\": the perplexity is not a finite number" -- \
        "$exe" cutoffs "$WORK/$name.jsonl" -o "$WORK/$name.csv"
    expect_no_file "cutoffs $name" "$WORK/$name.csv"
done
# mine writes Infinity for a document of probability 0 (an ARPA file with -inf weights). It is
# left out of the percentiles, which stay those of the finite perplexities.
{ cat "$WORK/pp.jsonl"; printf '{"url": "u", "language": "en", "language_score": 0.9, "perplexity": Infinity}\n'; } > "$WORK/pp-inf.jsonl"
run_case "cutoffs with Infinity" 0 "from 5 of 7 documents .*; 1 with an infinite perplexity left out" -- \
    "$exe" cutoffs "$WORK/pp-inf.jsonl" -o "$WORK/cut-inf.csv"
cmp -s "$WORK/cut.csv" "$WORK/cut-inf.csv" || fail "cutoffs with Infinity: the table differs from the finite perplexities' table"
run_case "cutoffs without perplexity" 1 "no document has a perplexity" -- "$exe" cutoffs "$WORK/en.jsonl" -o "$WORK/cut2.csv"
expect_no_file "cutoffs without perplexity" "$WORK/cut2.csv"

# train-classifier: two vocabularies with shared words, 300 documents each (fixed awk seed),
# then the classifier in mine.
make_docs() {  # seed, words...
    local seed=$1
    shift
    awk -v seed="$seed" -v words="$* the of and to in" 'BEGIN {
        srand(seed); n = split(words, w, " ")
        for (d = 0; d < 300; d++) { line = ""; for (k = 0; k < 30; k++) line = line w[int(rand() * n) + 1] " "; print line }
    }'
}
make_docs 1 history science university century population river published region government museum > "$WORK/wiki.txt"
make_docs 2 cheap buy click free shipping casino offer login cart discount > "$WORK/cc.txt"
run_case "train-classifier" 0 "validation on 60: precision 1, recall 1" -- "$exe" train-classifier \
    --wiki "$WORK/wiki.txt" --cc "$WORK/cc.txt" --validation 0.1 --bucket 10000 -o "$WORK/ref.bin"
expect_file "train-classifier" "$WORK/ref.bin"
# The model has the settings of `fasttext supervised`, as RedPajama trained its classifier:
# no character n-grams, no word n-grams, so no hash buckets (--bucket applies to word n-grams).
/usr/bin/python3 -c 'import fasttext, sys
a = fasttext.load_model(sys.argv[1]).f.getArgs()
print(a.minn, a.maxn, a.wordNgrams, a.bucket)' "$WORK/ref.bin" > "$WORK/ref-args.txt" 2> /dev/null
[ "$(cat "$WORK/ref-args.txt")" = "0 0 1 0" ] \
    || fail "train-classifier: minn maxn wordNgrams bucket are $(cat "$WORK/ref-args.txt"), expected 0 0 1 0"
# A training part with one label is an error before fastText writes a model: 3 of the 4
# documents are held out, so the one left is of a single kind.
head -2 "$WORK/wiki.txt" > "$WORK/wiki2.txt"
head -2 "$WORK/cc.txt" > "$WORK/cc2.txt"
run_case "train-classifier one label" 1 'cannot train the reference classifier ".*one-label.bin": the training part left by the --validation split \(1 document\) has no __label__(wiki|cc) document; lower --validation' -- \
    "$exe" train-classifier --wiki "$WORK/wiki2.txt" --cc "$WORK/cc2.txt" --validation 0.75 -o "$WORK/one-label.bin"
expect_no_file "train-classifier one label" "$WORK/one-label.bin"
# Held-out documents that are all cc leave precision and recall undefined, not 0.
head -20 "$WORK/cc.txt" > "$WORK/cc20.txt"
run_case "train-classifier undefined rates" 0 "validation on 2: precision undefined \(no document predicted wiki\), recall undefined \(no wiki document held out\)" -- \
    "$exe" train-classifier --wiki "$WORK/wiki2.txt" --cc "$WORK/cc20.txt" --validation 0.1 --dim 2 --bucket 1000 -o "$WORK/rates.bin"
run_case "train-classifier no validation" 0 "trained on 4 documents; no validation" -- \
    "$exe" train-classifier --wiki "$WORK/wiki2.txt" --cc "$WORK/cc2.txt" --validation 0 --dim 2 -o "$WORK/all-train.bin"
rm -f "$WORK/all-train.bin"
# A --cc file without text is a data error (it was a usage error that named neither file), and
# lines of blanks are no documents: fastText trains on none of them.
: > "$WORK/cc-empty.txt"
printf '\n  \n\t\r\n' > "$WORK/cc-blank.txt"
for name in empty blank; do
    run_case "train-classifier $name cc" 1 "no --cc documents \".*cc-$name.txt\": the files contain no line with text" -- \
        "$exe" train-classifier --wiki "$WORK/wiki.txt" --cc "$WORK/cc-$name.txt" --bucket 1000 -o "$WORK/no-cc.bin"
    expect_one_line_error "train-classifier $name cc"
    expect_no_file "train-classifier $name cc" "$WORK/no-cc.bin"
done
# SIGINT during training removes the training text that fastText reads, as well as the model's
# temporary file. The directory holds only the output while the run goes on.
mkdir -p "$WORK/sig"
for _ in $(seq 1 40); do cat "$WORK/wiki.txt"; done > "$WORK/sig-wiki.txt"
"$exe" train-classifier --wiki "$WORK/sig-wiki.txt" --cc "$WORK/cc.txt" --dim 4 --epoch 100000 \
    -o "$WORK/sig/ref.bin" 2> "$WORK/sig.err" &
training_text_exists() { compgen -G "$WORK/sig/.ref.bin.train.txt.tmp.*" > /dev/null; }
signal_when INT $! training_text_exists
[ "$status" -eq 130 ] || fail "train-classifier SIGINT: exit status $status, expected 130: $(tail -2 "$WORK/sig.err")"
[ -z "$(ls -A "$WORK/sig")" ] || fail "train-classifier SIGINT: files left behind: $(ls -A "$WORK/sig")"
# SIGKILL leaves both temporary files, named with the host and the pid. The next run for the same
# output removes them with one log line each, because their process no longer runs. While that
# run goes on, a third run for the same output keeps its files.
mkdir -p "$WORK/kill"
"$exe" train-classifier --wiki "$WORK/sig-wiki.txt" --cc "$WORK/cc.txt" --dim 4 --epoch 100000 \
    -o "$WORK/kill/ref.bin" 2> "$WORK/kill.err" &
killed=$!
temporaries_of() { find "$WORK/kill" -maxdepth 1 -name ".ref.bin*.tmp.*.$1.??????" | wc -l; }
signal_when KILL $killed test "$(temporaries_of $killed)" -eq 2
[ "$status" -eq 137 ] || fail "train-classifier SIGKILL: exit status $status, expected 137"
[ "$(temporaries_of $killed)" -eq 2 ] || fail "train-classifier SIGKILL: expected 2 temporary files named with pid $killed: $(ls -A "$WORK/kill")"
"$exe" train-classifier --wiki "$WORK/sig-wiki.txt" --cc "$WORK/cc.txt" --dim 4 --epoch 100000 \
    -o "$WORK/kill/ref.bin" 2> "$WORK/running.err" &
running=$!
for _ in $(seq 600); do [ "$(temporaries_of $running)" -eq 2 ] && break; sleep 0.05; done
[ "$(temporaries_of $killed)" -eq 0 ] || fail "train-classifier after SIGKILL: the killed run's files are left: $(ls -A "$WORK/kill")"
[ "$(grep -Ec "^ccnet-filter: removed stale temporary file \".*/kill/\.ref\.bin(\.train\.txt)?\.tmp\.[^\"]+\.$killed\.[A-Za-z0-9]{6}\": process $killed wrote it for \".*/kill/ref\.bin(\.train\.txt)?\" on this host and no longer runs$" "$WORK/running.err")" -eq 2 ] ||
    fail "train-classifier after SIGKILL: expected one log line per removed file: $(cat "$WORK/running.err")"
run_case "train-classifier beside a running one" 0 "" -- "$exe" train-classifier --wiki "$WORK/wiki2.txt" \
    --cc "$WORK/cc2.txt" --validation 0 --dim 2 -o "$WORK/kill/ref.bin"
! grep -q "removed stale" "$WORK/err" || fail "train-classifier beside a running one: removed a file: $(cat "$WORK/err")"
[ "$(temporaries_of $running)" -eq 2 ] || fail "train-classifier beside a running one: the running run's files are gone: $(ls -A "$WORK/kill")"
kill -INT $running
wait $running
[ "$(ls -A "$WORK/kill")" = "ref.bin" ] || fail "train-classifier SIGKILL: expected only ref.bin at the end: $(ls -A "$WORK/kill")"
# The output directory is checked before the work.
for command in "train-lm $WORK/corpus.txt" "cutoffs $WORK/pp.jsonl" "train-classifier --wiki $WORK/wiki.txt --cc $WORK/cc.txt"; do
    run_case "${command%% *} into a missing directory" 1 'cannot write output ".*/nodir/out": cannot create a file in directory' -- \
        "$exe" $command -o "$WORK/nodir/out"
    expect_one_line_error "${command%% *} into a missing directory"
done
run_case "mine ref-model" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --lang en \
    --ref-model "$WORK/ref.bin" --ref-threshold 0 -o "$WORK/ref0"
zcat "$WORK/ref0/en.json.gz" | grep -q '"language_score": [0-9.]*, "ref_score": 0\.[0-9]*, "language_identifier"' \
    || fail "mine ref-model: ref_score field"
grep -q '"reference": {"model": "[^"]*ref.bin", "threshold": 0, "documents_in": 1, "documents_out": 1}' "$WORK/ref0.stats.json" \
    || fail "mine ref-model: stats $(grep -o '"reference": {[^}]*}' "$WORK/ref0.stats.json")"
run_case "mine ref-threshold" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --lang en \
    --ref-model "$WORK/ref.bin" --ref-threshold 1 -o "$WORK/ref1"
grep -q '"documents_in": 1, "documents_out": 0}' "$WORK/ref1.stats.json" || fail "mine ref-threshold: document kept at threshold 1"
# The classifier reads a document as RedPajama's classify.py gives it to fastText: the lines of
# the stripped raw_content (Python's str.splitlines(), which also breaks at U+2028 and U+2029)
# joined by spaces. Python's fastText, given that text, must give each document's ref_score.
/usr/bin/python3 - "$WORK/ref-lines.wet" <<'EOF'
import sys
bodies = [
    "history\u2028cheap\u2028buy\u2028click offer discount",
    "\u00a0cheap\u2029science\u2029university river\r\ncasino login",
    "museum\u2028region\u2028government published\u2029login cart",
]
with open(sys.argv[1], "wb") as out:
    for i, body in enumerate(bodies):
        payload = (f"title {i}\n{body}\n").encode()
        out.write(b"WARC/1.0\r\nWARC-Type: conversion\r\n"
                  + f"WARC-Target-URI: http://example.com/{i}\r\nWARC-Date: 2019-03-18T00:00:00Z\r\n".encode()
                  + f"WARC-Record-ID: <urn:uuid:{i}>\r\nContent-Type: text/plain\r\n".encode()
                  + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload + b"\r\n\r\n")
EOF
run_case "mine ref-model line breaks" 0 "" -- "$exe" mine --no-dedup --min-len 0 --lang-threshold 0 \
    "$WORK/ref-lines.wet" --ref-model "$WORK/ref.bin" --ref-threshold 0 -o "$WORK/ref-lines"
/usr/bin/python3 - "$WORK/ref.bin" "$WORK/ref-lines" > "$WORK/ref-lines.check" 2>&1 <<'EOF' \
    || fail "mine ref-model line breaks: $(tail -1 "$WORK/ref-lines.check")"
import glob, gzip, json, sys
import fasttext
model = fasttext.load_model(sys.argv[1])
checked = 0
for path in sorted(glob.glob(sys.argv[2] + "/*.json.gz")):
    for line in gzip.open(path, "rt", encoding="utf-8"):
        doc = json.loads(line)
        labels, probabilities = model.predict(" ".join(doc["raw_content"].strip().splitlines()))
        wiki = probabilities[0] if labels[0] == "__label__wiki" else 1 - probabilities[0]
        if abs(doc["ref_score"] - wiki) > 1e-4:
            sys.exit(f"{doc['url']}: ref_score {doc['ref_score']}, RedPajama's wiki_prob {wiki:.6f}")
        checked += 1
if checked != 3:
    sys.exit(f"found {checked} documents, expected 3")
EOF
run_case "mine bad ref-model" 1 "cannot load fastText model" -- "$exe" mine --no-dedup "$corpora/sample.warc.txt" \
    --ref-model "$WORK/wiki.txt" -o "$WORK/ref2"
# A truncated model gets a message and exit 1; fastText's own loader accepts it and aborts.
head -c 2000 "$WORK/ref.bin" > "$WORK/ref-truncated.bin"
run_case "mine truncated ref-model" 1 'cannot load fastText model ".*ref-truncated.bin": the file is truncated or damaged' -- \
    "$exe" mine --no-dedup "$corpora/sample.warc.txt" --ref-model "$WORK/ref-truncated.bin" -o "$WORK/ref4"
run_case "mine truncated lid-model" 1 'cannot load fastText model ".*ref-truncated.bin": the file is truncated or damaged' -- \
    "$exe" mine --no-dedup "$corpora/sample.warc.txt" --lid-model "$WORK/ref-truncated.bin" -o "$WORK/ref5"
expect_no_file "mine truncated lid-model" "$WORK/ref5"
run_case "mine missing ref-model" 1 'cannot load fastText model ".*/nosuch.bin": No such file or directory' -- \
    "$exe" mine --no-dedup "$corpora/sample.warc.txt" --ref-model "$WORK/nosuch.bin" -o "$WORK/ref3"
# fastText reports an empty, compressed or foreign file, a directory and a model of a newer
# format all as "has wrong file format!". Each gets a line that names what the file is.
mkdir -p "$WORK/models/dir.bin"
: > "$WORK/models/empty.bin"
gzip -c "$WORK/ref.bin" > "$WORK/models/ref.bin.gz"
printf '\xFD7zXZ\x00\x00\x04\xE6\xD6\xB4\x46' > "$WORK/models/ref.bin.xz"
printf 'lid.176.bin\n' > "$WORK/models/text.bin"
# Format version 13 after fastText's magic number 793712314 (0x2F4F16BA, little-endian).
{ printf '\xBA\x16\x4F\x2F\x0D\x00\x00\x00'; tail -c +9 "$WORK/ref.bin"; } > "$WORK/models/v13.bin"
while IFS='|' read -r name reason; do
    for option in --lid-model --ref-model; do
        run_case "mine $option $name" 1 "cannot load fastText model \".*models/$name\": $reason" -- \
            "$exe" -q mine --no-dedup --min-len 0 "$corpora/whirlwind.warc.wet.gz" "$option" "$WORK/models/$name" \
            -o "$WORK/models/out"
        expect_one_line_error "mine $option $name"
        expect_no_file "mine $option $name" "$WORK/models/out"
    done
done <<'CASES'
dir.bin|it is a directory; give the model file \(\.bin\) inside it
empty.bin|it is empty \(0 bytes\), as an interrupted download or copy leaves it; copy or download the model again
ref.bin.gz|it is gzip-compressed; decompress it \(gzip -dc FILE > MODEL\.bin\)
ref.bin.xz|it is xz-compressed; decompress it \(xz -dc FILE > MODEL\.bin\)
text.bin|it is not a fastText model, because it does not start with fastText's file header; give a
v13.bin|it is a fastText model of format version 13, and this fastText reads versions up to 12; save the model with fastText 0.9
CASES
# The SentencePiece and n-gram models of the perplexity stage: empty and compressed files.
run_case "mine empty sp-model" 1 'cannot load SentencePiece model ".*models/empty.bin": it is empty \(0 bytes\)' -- \
    "$exe" -q mine --no-dedup "$corpora/whirlwind.warc.wet.gz" --sp-model "$WORK/models/empty.bin" \
    --lm-model "$lm/tiny.arpa.bin" -o "$WORK/models/out"
expect_one_line_error "mine empty sp-model"
gzip -c "$lm/gpl3.sp.model" > "$WORK/models/gpl3.sp.model.gz"
run_case "mine gzip sp-model" 1 'cannot load SentencePiece model ".*gpl3.sp.model.gz": it is gzip-compressed' -- \
    "$exe" -q mine --no-dedup "$corpora/whirlwind.warc.wet.gz" --sp-model "$WORK/models/gpl3.sp.model.gz" \
    --lm-model "$lm/tiny.arpa.bin" -o "$WORK/models/out"
expect_one_line_error "mine gzip sp-model"
run_case "mine empty lm-model" 1 'invalid ARPA file ".*models/empty.bin": it is empty' -- \
    "$exe" -q mine --no-dedup "$corpora/whirlwind.warc.wet.gz" --sp-model "$lm/gpl3.sp.model" \
    --lm-model "$WORK/models/empty.bin" -o "$WORK/models/out"
expect_one_line_error "mine empty lm-model"
expect_no_file "mine empty lm-model" "$WORK/models/out"

# A supervised model without __label__wiki is no reference classifier.
sed 's/^/__label__a /' "$WORK/wiki.txt" > "$WORK/other-labels.txt"
sed 's/^/__label__b /' "$WORK/cc.txt" >> "$WORK/other-labels.txt"
fasttext supervised -input "$WORK/other-labels.txt" -output "$WORK/other-labels" -epoch 1 -thread 1 -verbose 0
run_case "mine ref-model without wiki label" 1 'invalid reference model ".*other-labels.bin": it has no label __label__wiki; give a model written by train-classifier' -- \
    "$exe" mine --no-dedup "$corpora/sample.warc.txt" --ref-model "$WORK/other-labels.bin" -o "$WORK/ref6"
expect_one_line_error "mine ref-model without wiki label"

# Gopher rules: only the English sample document has 50 words (55, and 4 in its title line);
# --explain keeps the others aside.
# --lang codes are checked against the labels of the identifier. EN is not a CLD2 code, so the run
# would keep no document.
run_case "lang in capitals" 2 'invalid --lang "EN": it is not a label of cld2, whose labels are en, ' -- \
    "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --lang EN -o "$WORK/caps"
expect_one_line_error "lang in capitals"
expect_no_file "lang in capitals" "$WORK/caps"
run_case "lang with one unknown code" 0 'warning: --lang code that matches no document "eng": it is not a label of cld2' -- \
    "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --lang en,eng -o "$WORK/caps"
expect_file "lang with one unknown code" "$WORK/caps/en.json.gz"
# A forced rerun that writes fewer languages removes the files of the earlier run that it did not
# write (ccnet-merge.py would merge them), and keeps a file that mine did not write.
run_case "mine all languages" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" -o "$WORK/rerun"
[ "$(ls "$WORK/rerun" | wc -l)" -gt 1 ] || fail "mine all languages: expected several language files"
printf 'mine\n' | gzip > "$WORK/rerun/notes.json.gz"
run_case "mine rerun with fewer languages" 0 "removed .*rerun/ru.json.gz, written by an earlier run" -- \
    "$exe" mine --force --no-dedup --min-len 0 --lang en "$corpora/sample.warc.txt" -o "$WORK/rerun"
[ "$(ls "$WORK/rerun" | tr '\n' ' ')" = "en.json.gz notes.json.gz " ] ||
    fail "mine rerun with fewer languages: files left: $(ls "$WORK/rerun" | tr '\n' ' ')"
grep -q '"output_files": \["en.json.gz"\]' "$WORK/rerun.stats.json" || fail "mine rerun: output_files missing from the stats"
run_case "mine quality" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --quality --explain -o "$WORK/q"
expect_file "mine quality" "$WORK/q/en.json.gz"
zcat "$WORK/q/en.json.gz" | grep -q '"quality": {"passed": true, "failed": \[\], "min_doc_words": 59.0,' \
    || fail "mine quality: report of the English document"
[ "$(zcat "$WORK/q/rejected_quality.json.gz" | wc -l)" -eq 2 ] || fail "mine quality: two rejected documents expected"
# The closing count is of the documents written, after the quality rules.
written=$(zcat "$WORK"/q/*.json.gz | wc -l)
rejected=$(zcat "$WORK/q/rejected_quality.json.gz" | wc -l)
grep -q "kept $((written - rejected)) of " "$WORK/err" || fail "mine quality: log does not count the written documents: $(grep kept "$WORK/err")"
grep -q '"quality": {"enabled": true, "documents_in": 3, "documents_out": 1, "first_failed_rule": {"min_doc_words": 2}}' \
    "$WORK/q.stats.json" || fail "mine quality: stats"
run_case "mine quality-set" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$corpora/sample.warc.txt" --quality \
    --quality-set min_doc_words=1 --quality-set min_stop_words=0 --quality-set top_2_gram=1 \
    --quality-set top_3_gram=1 --quality-set top_4_gram=1 --quality-set max_avg_word_length=100 -o "$WORK/q2"
grep -q '"documents_in": 3, "documents_out": 3' "$WORK/q2.stats.json" || fail "mine quality-set: overrides ignored"
run_case "explain without quality" 2 "needs --quality" -- "$exe" mine --no-dedup "$corpora/sample.warc.txt" --explain -o "$WORK/q3"
run_case "unknown quality rule" 2 "known rule" -- "$exe" mine --no-dedup "$corpora/sample.warc.txt" --quality \
    --quality-set bogus=1 -o "$WORK/q4"

# Every stage at once gives the same bytes for 1 and 3 threads (one record per batch). The copy
# of the sample is another file, so each of its documents is written twice (dedup is off).
cp "$corpora/sample.warc.txt" "$WORK/sample-copy.warc.txt"
for threads in 1 3; do
    run_case "all stages threads $threads" 0 "" -- "$exe" --threads $threads mine --min-len 0 --batch 1 \
        "$corpora/sample.warc.txt" "$corpora/whirlwind.warc.wet.gz" "$WORK/sample-copy.warc.txt" --no-dedup \
        --quality --explain --quality-set min_doc_words=5 --ref-model "$WORK/ref.bin" --ref-threshold 0 \
        --sp-model "$lm/gpl3.sp.model" --lm-model "$lm/tiny.arpa.bin" -o "$WORK/all$threads"
done
for file in "$WORK"/all1/*.json.gz; do
    cmp -s <(zcat "$file") <(zcat "$WORK/all3/$(basename "$file")") || fail "all stages: $(basename "$file") differs across threads"
    # One member per one-record batch: gzip and Python must read the whole multi-member file.
    gzip -t "$file" || fail "all stages: gzip -t rejects $(basename "$file")"
    [ "$(/usr/bin/python3 -c 'import gzip, sys; print(len(gzip.open(sys.argv[1]).read().splitlines()))' "$file")" \
        = "$(zcat "$file" | wc -l)" ] || fail "all stages: Python's gzip reads $(basename "$file") differently"
done
[ "$(ls "$WORK/all1" | wc -l)" -ge 2 ] || fail "all stages: expected en_head and rejected_quality files"
[ "$(zcat "$WORK/all1/rejected_quality.json.gz" | wc -l)" -eq 5 ] || fail "all stages: five rejected documents expected (ru, zh twice, es)"

# What --threads and --batch change, as the man page states it. For one --batch, the gzip bytes
# and the stats (apart from times and memory) are the same for any --threads. Another --batch
# gives other gzip members, and other byte counts in the stats, for the same decompressed text.
# Generated files hold many documents of each language, so that batches differ from files.
/usr/bin/python3 "$SRC/bench/ccnet/make_wet.py" --text-dir "$SRC/tests/text/lid" --out "$WORK/det-wet" \
    --files 2 --mb-per-file 0.02 --seed 3 2> "$WORK/make_wet.log" || fail "make_wet.py: $(cat "$WORK/make_wet.log")"
for batch in 1 64; do
    for threads in 1 3; do
        run_case "determinism batch $batch threads $threads" 0 "" -- "$exe" --threads $threads mine --min-len 0 \
            --batch $batch --no-dedup "$WORK"/det-wet/*.warc.wet.gz -o "$WORK/det-$batch-$threads"
    done
done
stats_without() {
    /usr/bin/python3 - "$@" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
for key in ("output", "wall_seconds", "cpu_seconds", "peak_rss_bytes", "stage_seconds"):
    del stats[key]
if sys.argv[2:] == ["bytes"]:
    for language in stats["output_languages"].values():
        del language["bytes"]
print(json.dumps(stats, sort_keys=True))
PY
}
members_differ=0
for file in "$WORK"/det-1-1/*.json.gz; do
    name=$(basename "$file")
    cmp -s "$file" "$WORK/det-1-3/$name" || fail "determinism: $name of --batch 1 differs across threads"
    cmp -s "$WORK/det-64-1/$name" "$WORK/det-64-3/$name" || fail "determinism: $name of --batch 64 differs across threads"
    cmp -s <(zcat "$file") <(zcat "$WORK/det-64-1/$name") || fail "determinism: $name decompresses differently across --batch"
    cmp -s "$file" "$WORK/det-64-1/$name" || members_differ=1
done
[ "$members_differ" -eq 1 ] || fail "determinism: --batch 1 and 64 gave the same gzip bytes, so the man page is wrong"
[ "$(ls "$WORK/det-1-1")" = "$(ls "$WORK/det-64-3")" ] || fail "determinism: other files across --batch"
[ "$(stats_without "$WORK/det-1-1.stats.json")" = "$(stats_without "$WORK/det-1-3.stats.json")" ] ||
    fail "determinism: stats of --batch 1 differ across threads"
[ "$(stats_without "$WORK/det-1-1.stats.json" bytes)" = "$(stats_without "$WORK/det-64-3.stats.json" bytes)" ] ||
    fail "determinism: stats differ across --batch in more than the gzip bytes"
[ "$(stats_without "$WORK/det-1-1.stats.json")" != "$(stats_without "$WORK/det-64-1.stats.json")" ] ||
    fail "determinism: the gzip byte counts in the stats were expected to differ across --batch"
grep -A3 '^Records per work item of mine' "$SRC/man/ccnet-filter.1" | grep -q 'gzip member' ||
    fail "determinism: the man page's --batch entry does not say that the gzip members depend on it"

# The stage graph lists the enabled stages in order; stats carry the per-stage times.
run_case "print-graph" 0 "" -- "$exe" mine --no-dedup x -o "$WORK/g" --quality --lm-model m.arpa --sp-model m.sp --print-graph
grep -q '^digraph mine {$' "$WORK/out" || fail "print-graph: no digraph"
grep -q '^  lang_filter -> quality;$' "$WORK/out" || fail "print-graph: quality after the language filter"
grep -q '^  quality -> perplexity;$' "$WORK/out" || fail "print-graph: perplexity after quality"
expect_no_file "print-graph" "$WORK/g"
grep -q '"stage_seconds": {"lang_filter": [0-9.e-]*, "lid": [0-9.e-]*, "output": [0-9.e-]*, "perplexity": [0-9.e-]*, "read": ' \
    "$WORK/pp.stats.json" || fail "stage_seconds in stats: $(grep -o '"stage_seconds": {[^}]*}' "$WORK/pp.stats.json")"

# Every long option in --help is documented in the man page (roff escapes each '-' as '\-').
for command in "" hash mine train-lm cutoffs train-classifier; do
    "$exe" $command --help > "$WORK/help" 2>&1
    for option in $(grep -oE -- '--[a-z][a-z-]+' "$WORK/help" | sort -u); do
        escaped=$(printf '%s' "$option" | sed 's/-/\\\\-/g')
        grep -q -- "$escaped" "$SRC/man/ccnet-filter.1" || fail "man page lacks $option (from '$command --help')"
    done
done

# The README's dump Makefile as printed, on two fixtures split into its 100 shards, with CLD2 in
# place of the fastText model it names. Its done markers must survive make, so that a second make
# after one mined shard is removed runs only that shard.
mkdir -p "$WORK/dump"
awk '/^```make$/ { keep = 1; next } /^```$/ { keep = 0 } keep' "$SRC/README.md" |
    sed 's/ --lid-model lid.176.bin//' > "$WORK/dump/Makefile"
grep -q 'ccnet-filter hash' "$WORK/dump/Makefile" || fail "README Makefile: block not found"
printf '%s\n' "$corpora/sample.warc.txt" "$corpora/whirlwind.warc.wet.gz" | gzip -c > "$WORK/dump/wet.paths.gz"
(cd "$WORK/dump" && PATH="$BIN:$PATH" make -s -j2 > make1.log 2>&1) || fail "README Makefile: make failed: $(tail -3 "$WORK/dump/make1.log")"
[ "$(ls "$WORK/dump/hashes/"*.bin.done 2>/dev/null | wc -l)" -eq 100 ] || fail "README Makefile: hash done markers were deleted"
[ "$(ls "$WORK/dump/mined/"*.done 2>/dev/null | wc -l)" -eq 100 ] || fail "README Makefile: not every shard was mined"
rm "$WORK/dump/mined/0007.done"
(cd "$WORK/dump" && PATH="$BIN:$PATH" make -n > make2.log 2>&1)
grep -q 'mine .*expr 0007' "$WORK/dump/make2.log" || fail "README Makefile: the rerun does not mine shard 7"
[ "$(grep -c 'ccnet-filter' "$WORK/dump/make2.log")" -eq 1 ] || fail "README Makefile: the rerun runs $(grep -c 'ccnet-filter' "$WORK/dump/make2.log") commands"
# share/slurm/ccnet-merge.py concatenates the shards of one run and rejects a shard of another
# run's split, whose done marker records another shard count.
# Both shards dedup against one group hash file, which the merged statistics list once.
merge_out="$WORK/workflow"
mkdir -p "$merge_out"
"$exe" -q hash --min-len 0 "$corpora/sample.warc.txt" "$good" -o "$merge_out/group.bin" 2> "$WORK/merge.err" ||
    fail "hash for the merge failed: $(cat "$WORK/merge.err")"
for shard in 0 1; do
    "$exe" -q mine --hashes "$merge_out/group.bin" --min-len 0 --shard "$shard/2" "$corpora/sample.warc.txt" "$good" \
        -o "$merge_out/mined/{shard}" 2> "$WORK/merge.err" || fail "mine shard $shard/2 for the merge failed: $(cat "$WORK/merge.err")"
done
run_case "ccnet merge" 0 "merged 2 shards" -- /usr/bin/python3 "$SRC/share/slurm/ccnet-merge.py" --shards 2 "$merge_out"
/usr/bin/python3 -c 'import json, sys; files = json.load(open(sys.argv[1]))["hash_files"]; sys.exit(len(files) != 1)' \
    "$merge_out/merged/stats.json" || fail "ccnet merge: hash_files should list the group file once: $(grep -o '"hash_files": [^]]*]' "$merge_out/merged/stats.json")"
expect_file "ccnet merge" "$merge_out/merged/stats.json"
# Merged files get the usual mode under the umask, though their temporary names are created 0600.
[ "$(stat -c %a "$merge_out/merged/stats.json")" = "$(printf '%o' $((0666 & ~0$(umask))))" ] ||
    fail "ccnet merge: stats.json has mode $(stat -c %a "$merge_out/merged/stats.json")"
[ -z "$(find "$merge_out/merged" -name '.*.tmp.*')" ] || fail "ccnet merge: temporary files left in merged/"
"$exe" -q mine --no-dedup --min-len 0 --force --shard 1/3 "$corpora/sample.warc.txt" "$good" "$WORK/good-copy.wet.gz" \
    -o "$merge_out/mined/0001" 2> "$WORK/merge.err" || fail "mine shard 1/3 for the merge failed: $(cat "$WORK/merge.err")"
run_case "ccnet merge foreign shard" 1 '1 shards in .* are not shards of 2 \(0001.done records shard 1/3\)' -- \
    /usr/bin/python3 "$SRC/share/slurm/ccnet-merge.py" --shards 2 "$merge_out"
expect_one_line_error "ccnet merge foreign shard"

# A merge that fails on a full disk creates no merged/. A rerun that fails into an existing
# merged/ leaves the earlier merge as it was.
full_flow="$WORK/full-flow"
for shard in 0 1; do
    "$exe" -q mine --no-dedup --min-len 0 --shard "$shard/2" "$corpora/sample.warc.txt" "$good" \
        -o "$full_flow/mined/{shard}" 2> "$WORK/merge.err" || fail "mine shard $shard/2 for the full merge failed: $(cat "$WORK/merge.err")"
done
run_case_full_disk "ccnet merge onto a full disk" 1 'ccnet-merge.py: cannot write .*full-flow/merged/es\.json\.gz: File too large' -- \
    /usr/bin/python3 "$SRC/share/slurm/ccnet-merge.py" --shards 2 "$full_flow"
expect_one_line_error "ccnet merge onto a full disk"
[ ! -e "$full_flow/merged" ] || fail "ccnet merge onto a full disk: left $(ls -A "$full_flow/merged")"
run_case "ccnet merge before a rerun" 0 "merged 2 shards" -- \
    /usr/bin/python3 "$SRC/share/slurm/ccnet-merge.py" --shards 2 "$full_flow"
before=$(cd "$full_flow/merged" && ls -A && cat -- * | md5sum)
run_case_full_disk "ccnet merge rerun onto a full disk" 1 'ccnet-merge.py: cannot write .*full-flow/merged/es\.json\.gz' -- \
    /usr/bin/python3 "$SRC/share/slurm/ccnet-merge.py" --shards 2 "$full_flow"
[ "$(cd "$full_flow/merged" && ls -A && cat -- * | md5sum)" = "$before" ] ||
    fail "ccnet merge rerun onto a full disk: the earlier merge changed: $(ls -A "$full_flow/merged")"
[ -z "$(find "$full_flow" -name '.*.tmp.*')" ] || fail "ccnet merge rerun onto a full disk: temporary files left"

finish
