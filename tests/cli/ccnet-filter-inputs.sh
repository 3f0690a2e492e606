# Black-box tests of ccnet-filter hash and mine on crawl-file forms that other tools write:
# WARC/1.1 and other record types, header spellings, folded headers, multi-member gzip, empty
# files, path lists, very long lines and NUL bytes. Every input wraps the real text of the
# cc_net sample and the whirlwind WET page in new records.
. "$(dirname "$0")/lib.sh"
exe="$BIN/ccnet-filter"
corpora="$SRC/tests/text/corpora"

# Builds the variants in $WORK from the bodies of the fixtures' conversion records.
/usr/bin/python3 - "$corpora" "$WORK" <<'EOF'
import gzip, os, re, sys
corpora, work = sys.argv[1], sys.argv[2]

def conversion_bodies(path):
    text = open(path, "rb").read().replace(b"\r\n", b"\n")
    bodies = []
    for part in re.split(rb"^WARC/1\.0\n", text, flags=re.M)[1:]:
        headers, _, body = part.partition(b"\n\n")
        if b"WARC-Type: conversion" in headers:
            bodies.append(body.strip(b"\n") + b"\n")
    return bodies

bodies = conversion_bodies(os.path.join(corpora, "sample.warc.txt"))
bodies += conversion_bodies(os.path.join(corpora, "whirlwind.warc.wet"))
assert len(bodies) == 4, len(bodies)

def record(kind, body, n, version="1.1", fields=None, extra=()):
    fields = fields or {}
    lines = ["WARC/" + version,
             "%s: %s" % (fields.get("type", "WARC-Type"), kind),
             "%s: http://page%d.example/" % (fields.get("uri", "WARC-Target-URI"), n),
             "%s: 2024-05-18T01:58:%02dZ" % (fields.get("date", "WARC-Date"), n),
             "WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-%012d>" % n]
    lines += list(extra)
    lines.append("%s: %d" % (fields.get("length", "Content-Length"), len(body)))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body + b"\r\n\r\n"

def write(name, data):
    with open(os.path.join(work, name), "wb") as f:
        f.write(data)

def members(records):
    return b"".join(gzip.compress(r) for r in records)

# WARC/1.1 with warcinfo, request, metadata and revisit records around the conversion records.
mixed = [record("warcinfo", b"software: test\r\nformat: WARC File Format 1.1\r\n", 90)]
for n, body in enumerate(bodies):
    mixed.append(record("request", b"GET / HTTP/1.1\r\nHost: page%d.example\r\n\r\n" % n, 10 + n))
    mixed.append(record("conversion", body, n, extra=["WARC-Refers-To: <urn:uuid:1>", "Content-Type: text/plain"]))
    mixed.append(record("metadata", b"fetchTimeMs: 12\r\n", 20 + n))
    mixed.append(record("revisit", b"", 30 + n, extra=["WARC-Profile: http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"]))
write("mixed.warc.wet.gz", members(mixed))

# Header names in other letter cases, with blanks around names and values.
spellings = [{"type": "warc-type", "uri": "warc-target-uri", "date": "warc-date", "length": "content-length"},
             {"type": "WARC-TYPE", "uri": "WARC-TARGET-URI", "date": "WARC-DATE", "length": "CONTENT-LENGTH"},
             {"type": "WARC-Type ", "uri": "WARC-Target-URI\t", "date": "WARC-Date  ", "length": "Content-Length "},
             {"type": "  WARC-Type", "uri": "WARC-Target-URI", "date": "WARC-Date", "length": "Content-Length"}]
cases = [record("conversion", body, n, fields=spellings[n]) for n, body in enumerate(bodies)]
cases[3] = cases[3].replace(b"Content-Length: ", b"Content-Length:    ").replace(b"WARC-Date: ", b"WARC-Date:\t ")
write("cases.warc.wet", b"".join(cases))

# Folded header lines: the URI on a continuation line, and a folded field that is not read.
folded = []
for n, body in enumerate(bodies):
    r = record("conversion", body, n, extra=["X-Comment: first part", "  second part: with a colon"])
    folded.append(r.replace(b"WARC-Target-URI: http", b"WARC-Target-URI:\r\n  http") if n % 2 == 0 else r)
write("folded.warc.wet.gz", members(folded))

# One file of plain records, and the same bytes as concatenated gzip members cut anywhere.
plain = b"".join([record("warcinfo", b"software: test\r\n", 90)] +
                 [record("conversion", body, n, version="1.0") for n, body in enumerate(bodies)])
write("plain.warc.wet", plain)
cuts = [0, 1, 7, 100, 1000, 1001, len(plain) // 2, len(plain) - 3, len(plain)]
write("cut.warc.wet.gz", b"".join(gzip.compress(plain[a:b], compresslevel=1 + i % 9)
                                  for i, (a, b) in enumerate(zip(cuts, cuts[1:]))))

# A zero-byte file, and a file of only a warcinfo record.
write("empty.warc.wet.gz", b"")
write("info.warc.wet.gz", members([record("warcinfo", b"software: test\r\n", 90)]))

# A 6 MB line without a newline (the English text over and over) inside the second document.
english = b" ".join(bodies[0].split(b"\n")[1:]).strip() + b" "
long_body = bodies[0] + (english * (6_000_000 // len(english) + 1))[:6_000_000] + b"\n" + bodies[0]
write("long.warc.wet.gz", members([record("conversion", bodies[0], 0), record("conversion", long_body, 1),
                                   record("conversion", bodies[2], 2)]))

# NUL bytes: three in one body (deleted), 2000 in another (a binary body, skipped).
few = bodies[0].replace(b" ", b"\0 ", 3)
many = bodies[3][:200] + b"\0" * 2000 + bodies[3][200:]
write("nul.warc.wet", b"".join([record("conversion", few, 0), record("conversion", many, 1),
                                record("conversion", bodies[2], 2)]))
# Stray bytes between two records: a line of NUL bytes and a 5 MB line.
write("stray.warc.wet", record("conversion", bodies[0], 0) + b"\0" * 10 + b"\n" + b"y" * 5_000_000 + b"\n" +
      record("conversion", bodies[2], 2))
# A 512 MiB stray line between two records, compressed as one gzip member of 2.3 MB.
import zlib
stream = zlib.compressobj(1, zlib.DEFLATED, 31)
with open(os.path.join(work, "long-stray.warc.wet.gz"), "wb") as f:
    f.write(stream.compress(record("conversion", bodies[0], 0)))
    for _ in range(32):
        f.write(stream.compress(b"y" * (16 << 20)))
    f.write(stream.compress(b"\n" + record("conversion", bodies[2], 2)))
    f.write(stream.flush())
# A byte order mark before the first record, as Windows editors save a file.
write("bom.warc.wet", b"\xef\xbb\xbf" + record("conversion", bodies[0], 0) + record("conversion", bodies[2], 2))
EOF
[ -s "$WORK/plain.warc.wet" ] || fail "building the inputs failed"

# urls_of DIR: the URLs of the documents that mine wrote to DIR, sorted.
urls_of() {
    zcat "$1"/*.json.gz 2> /dev/null | grep -o '^{"url": "[^"]*"' | sed 's/^{"url": //' | sort | tr '\n' ' '
}
all_four='"http://page0.example/" "http://page1.example/" "http://page2.example/" "http://page3.example/" '

# WARC/1.1 headers and other record types: every conversion record gives its document, and
# the other records are no fault.
run_case "hash mixed record types" 0 "hashed 4 documents" -- "$exe" hash --min-len 0 "$WORK/mixed.warc.wet.gz" \
    -o "$WORK/mixed.bin"
run_case "mine mixed record types" 0 "kept 4 of 4 documents" -- "$exe" mine --min-len 0 --hashes "$WORK/mixed.bin" \
    "$WORK/mixed.warc.wet.gz" -o "$WORK/mixed"
[ "$(urls_of "$WORK/mixed")" = "$all_four" ] || fail "mine mixed record types: documents $(urls_of "$WORK/mixed")"
grep -q "warning" "$WORK/err" && fail "mine mixed record types: unexpected warning: $(grep warning "$WORK/err")"

# Header names in any letter case and with blanks: no record is lost or merged into another.
run_case "mine header spellings" 0 "kept 4 of 4 documents" -- "$exe" mine --no-dedup --min-len 0 \
    "$WORK/cases.warc.wet" -o "$WORK/cases"
[ "$(urls_of "$WORK/cases")" = "$all_four" ] || fail "mine header spellings: documents $(urls_of "$WORK/cases")"
grep -q "warning" "$WORK/err" && fail "mine header spellings: unexpected warning: $(grep warning "$WORK/err")"
zcat "$WORK/cases/"*.json.gz | grep -q '"date_download": "2024-05-18T01:58:03Z"' ||
    fail "mine header spellings: the date with blanks around it"

# Folded headers: the continued URI is read whole.
run_case "mine folded headers" 0 "kept 4 of 4 documents" -- "$exe" mine --no-dedup --min-len 0 \
    "$WORK/folded.warc.wet.gz" -o "$WORK/folded"
[ "$(urls_of "$WORK/folded")" = "$all_four" ] || fail "mine folded headers: documents $(urls_of "$WORK/folded")"
run_case "hash folded headers" 0 "hashed 4 documents" -- "$exe" hash --min-len 0 "$WORK/folded.warc.wet.gz" \
    -o "$WORK/folded.bin"

# gzip members cut at any byte read as the plain file: the same hash file and documents.
run_case "hash plain" 0 "hashed 4 documents" -- "$exe" hash --min-len 0 "$WORK/plain.warc.wet" -o "$WORK/plain.bin"
run_case "hash cut members" 0 "hashed 4 documents" -- "$exe" hash --min-len 0 "$WORK/cut.warc.wet.gz" -o "$WORK/cut.bin"
cmp -s "$WORK/plain.bin" "$WORK/cut.bin" || fail "hash cut members: hash file differs from the plain file's"
run_case "mine plain" 0 "kept 4 of 4" -- "$exe" mine --no-dedup --min-len 0 "$WORK/plain.warc.wet" -o "$WORK/plain"
run_case "mine cut members" 0 "kept 4 of 4" -- "$exe" mine --no-dedup --min-len 0 "$WORK/cut.warc.wet.gz" -o "$WORK/cut"
for file in "$WORK/plain/"*.json.gz; do
    cmp -s <(zcat "$file" | sed 's/"cc_segment": "[^"]*"//') \
        <(zcat "$WORK/cut/$(basename "$file")" | sed 's/"cc_segment": "[^"]*"//') ||
        fail "mine cut members: $(basename "$file") differs from the plain file's"
done

# A zero-byte file is an error that names it; the other inputs are still processed, but the
# shard gets no done marker.
run_case "hash empty file" 1 'cannot read ".*empty.warc.wet.gz": the file is empty; download it again' -- \
    "$exe" -q hash --min-len 0 "$WORK/empty.warc.wet.gz" -o "$WORK/empty.bin"
expect_one_line_error "hash empty file"
expect_no_file "hash empty file" "$WORK/empty.bin.done"
run_case "mine empty file" 1 'cannot read ".*empty.warc.wet.gz": the file is empty' -- \
    "$exe" mine --no-dedup --min-len 0 "$WORK/plain.warc.wet" "$WORK/empty.warc.wet.gz" -o "$WORK/empty"
expect_no_file "mine empty file" "$WORK/empty.done"
[ "$(urls_of "$WORK/empty")" = "$all_four" ] || fail "mine empty file: documents of the good file $(urls_of "$WORK/empty")"
# A file of a warcinfo record only is a WARC file without documents: a counted warning.
run_case "mine warcinfo only" 0 'warning: no conversion record ".*info.warc.wet.gz": 1 record of type warcinfo' -- \
    "$exe" mine --no-dedup --min-len 0 "$WORK/info.warc.wet.gz" -o "$WORK/info"
grep -q '"files_without_conversion": 1' "$WORK/info.stats.json" || fail "mine warcinfo only: count in the stats"
expect_file "mine warcinfo only" "$WORK/info.done"

# --paths lists: CRLF, blank lines, comments, blanks around paths, relative paths (from the
# current directory), a gzip list and a list on standard input all give the same inputs.
mkdir -p "$WORK/lists/crawl"
cp "$WORK/mixed.warc.wet.gz" "$WORK/lists/crawl/"
cp "$WORK/plain.warc.wet" "$WORK/lists/"
printf '# wet.paths\r\n\r\ncrawl/mixed.warc.wet.gz\r\n   \r\n  plain.warc.wet  \r\n# end\r\n' > "$WORK/lists/wet.paths"
gzip -c "$WORK/lists/wet.paths" > "$WORK/lists/wet.paths.gz"
# A byte order mark, as Windows editors write it, before a first path or a first comment.
printf '\xEF\xBB\xBFcrawl/mixed.warc.wet.gz\r\nplain.warc.wet\r\n' > "$WORK/lists/bom.paths"
printf '\xEF\xBB\xBF# wet.paths\r\ncrawl/mixed.warc.wet.gz\r\nplain.warc.wet\r\n' > "$WORK/lists/bom-comment.paths"
cd "$WORK/lists" || exit 1
for list in wet.paths wet.paths.gz bom.paths bom-comment.paths; do
    run_case "mine --paths $list" 0 "kept 8 of 8 documents" -- "$exe" mine --no-dedup --min-len 0 --paths "$list" \
        -o "out-$list"
done
run_case_stdin "mine --paths -" 0 "kept 8 of 8 documents" "wet.paths.gz" -- "$exe" mine --no-dedup --min-len 0 \
    --paths - -o out-stdin
cd - > /dev/null || exit 1
# From another directory, the relative paths name no file: an error that names the path.
run_case "mine --paths relative elsewhere" 1 'cannot open "crawl/mixed.warc.wet.gz": No such file or directory; check the path, which is taken from the current directory' -- \
    "$exe" -q mine --no-dedup --min-len 0 --paths "$WORK/lists/wet.paths" -o "$WORK/elsewhere"
expect_one_line_error "mine --paths relative elsewhere"
expect_no_file "mine --paths relative elsewhere" "$WORK/elsewhere.done"

# A list without any path (a failed download, say) is an error, not a shard of nothing that
# gets its done marker. hash and mine read the list alike.
printf '# wet.paths\n\n   \n' > "$WORK/lists/comments.paths"
: > "$WORK/lists/zero.paths"
gzip -c "$WORK/lists/zero.paths" > "$WORK/lists/zero.paths.gz"
for list in comments.paths zero.paths zero.paths.gz; do
    run_case "hash --paths $list" 1 "cannot read --paths \".*$list\": it lists no path" -- \
        "$exe" -q hash --paths "$WORK/lists/$list" -o "$WORK/lists/$list.bin"
    expect_one_line_error "hash --paths $list"
    expect_no_file "hash --paths $list" "$WORK/lists/$list.bin.done"
    run_case "mine --paths $list" 1 "cannot read --paths \".*$list\": it lists no path" -- \
        "$exe" -q mine --no-dedup --paths "$WORK/lists/$list" -o "$WORK/lists/out-$list"
    expect_no_file "mine --paths $list" "$WORK/lists/out-$list.done"
done

# A file named twice was read twice with a warning, and dedup then removed every line of it. Each
# spelling of the same file is a usage error that names both, and the check covers the whole
# list, not only the shard's part.
cd "$WORK/lists" || exit 1
ln -s plain.warc.wet link.warc.wet
ln plain.warc.wet hard.warc.wet
cp plain.warc.wet copy.warc.wet
for second in plain.warc.wet ./plain.warc.wet "$WORK/lists/plain.warc.wet" ../lists/plain.warc.wet link.warc.wet hard.warc.wet; do
    case "$second" in
        plain.warc.wet) reason='it is given twice' ;;
        *) reason='it is the same file as input "plain.warc.wet"' ;;
    esac
    for command in hash mine; do
        [ "$command" = hash ] && dedup="--min-len 0" || dedup="--no-dedup --min-len 0"
        run_case "$command input twice as $second" 2 \
            "invalid input \"$second\": $reason; list each file once, because dedup would remove every line" -- \
            "$exe" -q $command $dedup plain.warc.wet crawl/mixed.warc.wet.gz "$second" -o "twice-$command"
        expect_one_line_error "$command input twice as $second"
        expect_no_file "$command input twice as $second" "twice-$command"
        expect_no_file "$command input twice as $second" "twice-$command.done"
    done
done
printf 'plain.warc.wet\n# a comment\ncrawl/mixed.warc.wet.gz\n\n%s\n' "$WORK/lists/plain.warc.wet" > twice.paths
for shard in 0/2 1/2; do
    run_case "hash --paths twice, shard $shard" 2 \
        "invalid --paths \"twice.paths\": lines 1 and 5 name the same file \(\"plain.warc.wet\" and \".*/lists/plain.warc.wet\"\); list each file once" -- \
        "$exe" -q hash --min-len 0 --paths twice.paths --shard "$shard" -o "twice-{shard}.bin"
    expect_one_line_error "hash --paths twice, shard $shard"
done
# Paths that do not exist are compared after resolving them, before the missing file is reported.
printf 'gone.warc.wet\n./gone.warc.wet\n' > gone.paths
run_case "mine --paths missing twice" 2 'invalid --paths "gone.paths": lines 1 and 2 name the same file' -- \
    "$exe" -q mine --no-dedup --paths gone.paths -o twice-gone
expect_no_file "mine --paths missing twice" twice-gone
# A copy under another name is another file; dedup removes the lines it shares with the original
# from both, as the man page states.
run_case "hash original and copy" 0 "" -- "$exe" -q hash --min-len 0 plain.warc.wet copy.warc.wet -o copy.bin
run_case "mine original and copy" 0 "kept 0 of 8 documents" -- "$exe" mine --min-len 0 --hashes copy.bin \
    plain.warc.wet copy.warc.wet -o copy-mined
run_case "mine original and copy without dedup" 0 "kept 8 of 8 documents" -- "$exe" mine --no-dedup --min-len 0 \
    plain.warc.wet copy.warc.wet -o copy-kept
# A hash file given twice marked every hash as found in two files, so dedup removed every line.
run_case "hash for --hashes twice" 0 "" -- "$exe" -q hash --min-len 0 plain.warc.wet -o plain.bin
run_case "mine --hashes twice" 2 'invalid --hashes "./plain.bin": it is the same file as --hashes "plain.bin"; give each file once' -- \
    "$exe" -q mine --min-len 0 --hashes plain.bin --hashes ./plain.bin plain.warc.wet -o hashes-twice
expect_no_file "mine --hashes twice" hashes-twice
# The other subcommands that read a list of files would weigh a file read twice double.
printf 'a b c\nb c d\n' > words.txt
ln -s words.txt words-link.txt
run_case "train-lm input twice" 2 'invalid input "words-link.txt": it is the same file as input "words.txt"; give each file once' -- \
    "$exe" -q train-lm --order 2 --discount-fallback words.txt words-link.txt -o twice.arpa
expect_no_file "train-lm input twice" twice.arpa
zcat "$WORK/lists/out-wet.paths/"*.json.gz > mined.json
run_case "cutoffs input twice" 2 'invalid input "mined.json": it is given twice; give each file once' -- \
    "$exe" -q cutoffs mined.json mined.json -o twice.csv
expect_no_file "cutoffs input twice" twice.csv
run_case "train-classifier file in both classes" 2 'invalid --cc "words.txt": it is the same file as --wiki "words.txt"; give each file once' -- \
    "$exe" -q train-classifier --wiki words.txt --cc words.txt -o twice-ref.bin
expect_no_file "train-classifier file in both classes" twice-ref.bin
cd - > /dev/null || exit 1

# A gzip file appended to a plain one: its records were skipped as bytes outside any record,
# with a warning and exit status 0. Now the plain part's records are written and the run fails
# with the offset where the gzip data starts, as for plain bytes after gzip members.
cat "$WORK/plain.warc.wet" "$WORK/mixed.warc.wet.gz" > "$WORK/plain-gzip.warc.wet"
plain_size=$(stat -c %s "$WORK/plain.warc.wet")
for command in hash mine; do
    if [ "$command" = hash ]; then
        output="$WORK/plain-gzip.bin"
        run_case "hash plain then gzip" 1 "cannot read \".*plain-gzip.warc.wet\": gzip data at byte $plain_size after uncompressed records.*head -c $plain_size" -- \
            "$exe" -q hash --min-len 0 "$WORK/plain-gzip.warc.wet" -o "$output"
    else
        output="$WORK/plain-gzip"
        run_case "mine plain then gzip" 1 "cannot read \".*plain-gzip.warc.wet\": gzip data at byte $plain_size after uncompressed records" -- \
            "$exe" -q mine --no-dedup --min-len 0 "$WORK/plain-gzip.warc.wet" -o "$output"
        [ "$(urls_of "$output")" = "$all_four" ] || fail "mine plain then gzip: documents $(urls_of "$output")"
    fi
    expect_one_line_error "$command plain then gzip"
    expect_no_file "$command plain then gzip" "$output.done"
done

# A list compressed with xz was read as one path of binary bytes.
printf '\xFD7zXZ\x00\x00\x04\xE6\xD6\xB4\x46\x02\x00\x21\x01\n' > "$WORK/lists/wet.paths.xz"
run_case "hash --paths xz" 1 'cannot read --paths ".*wet.paths.xz": it is xz-compressed; decompress it' -- \
    "$exe" -q hash --paths "$WORK/lists/wet.paths.xz" -o "$WORK/lists/xz.bin"
expect_one_line_error "hash --paths xz"

# A 6 MB line is read whole, and the documents around it too.
run_case "mine long line" 0 "kept 3 of 3 documents" -- "$exe" mine --no-dedup --min-len 0 \
    "$WORK/long.warc.wet.gz" -o "$WORK/long"
longest=$(zcat "$WORK/long/"*.json.gz | /usr/bin/python3 -c 'import json, sys
print(max(len(line) for d in map(json.loads, sys.stdin) for line in d["raw_content"].split("\n")))')
[ "$longest" -eq 6000000 ] || fail "mine long line: the longest output line has $longest characters"

# NUL bytes: a few are deleted and counted, a body full of them is skipped as binary.
run_case "mine NUL bytes" 0 "skipped record with binary content .*2000 control bytes" -- "$exe" mine --no-dedup \
    --min-len 0 "$WORK/nul.warc.wet" -o "$WORK/nul"
grep -q 'deleted control characters ".*record 0 at byte 0": 3 in this record' "$WORK/err" ||
    fail "mine NUL bytes: deleted NUL bytes not reported: $(cat "$WORK/err")"
[ "$(urls_of "$WORK/nul")" = '"http://page0.example/" "http://page2.example/" ' ] ||
    fail "mine NUL bytes: documents $(urls_of "$WORK/nul")"
zcat "$WORK/nul/"*.json.gz | grep -q '\\u0000' && fail "mine NUL bytes: a NUL byte reached the output"

# Stray lines after a correctly framed record are skipped and counted, not read as its text.
run_case "mine stray lines" 0 'skipped bytes outside any record ".*stray.warc.wet": 5000012 bytes before the record' \
    -- "$exe" mine --no-dedup --min-len 0 "$WORK/stray.warc.wet" -o "$WORK/stray"
grep -q "wrong Content-Length" "$WORK/err" && fail "mine stray lines: the right Content-Length was taken as wrong"
[ "$(urls_of "$WORK/stray")" = '"http://page0.example/" "http://page2.example/" ' ] ||
    fail "mine stray lines: documents $(urls_of "$WORK/stray")"
zcat "$WORK/stray/"*.json.gz | grep -q 'yyyy' && fail "mine stray lines: the stray line reached a document"

# A stray line is skipped in parts of 1 MiB, not buffered whole: with 1 GB of address space,
# hash and mine read past a 512 MiB line, which took 1.1 GB of memory when it was buffered.
for subcommand in hash mine; do
    output="$WORK/long-stray-$subcommand"
    [ "$subcommand" = hash ] && output="$output.bin"
    options=()
    [ "$subcommand" = mine ] && options=(--no-dedup --min-len 0)
    run_case "$subcommand long stray line" 0 \
        'skipped bytes outside any record ".*long-stray.warc.wet.gz": 536870913 bytes before the record' \
        -- bash -c 'ulimit -v 1000000 && exec "$@"' limit "$exe" "$subcommand" "${options[@]}" \
        "$WORK/long-stray.warc.wet.gz" -o "$output"
done
[ "$(urls_of "$WORK/long-stray-mine")" = '"http://page0.example/" "http://page2.example/" ' ] ||
    fail "mine long stray line: documents $(urls_of "$WORK/long-stray-mine")"

# A byte order mark before the first record does not hide that record.
run_case "mine byte order mark" 0 "" -- "$exe" mine --no-dedup --min-len 0 "$WORK/bom.warc.wet" -o "$WORK/bom"
grep -q "outside any record" "$WORK/err" && fail "mine byte order mark: the first record was skipped as stray bytes"
[ "$(urls_of "$WORK/bom")" = '"http://page0.example/" "http://page2.example/" ' ] ||
    fail "mine byte order mark: documents $(urls_of "$WORK/bom")"

# Documents without text, which cc_net keeps at parsing when the newlines of raw_content reach its
# min_len: ccnet-filter drops them for every --min-len, as the man page states. A body of blank
# lines or blanks is an empty body, a title alone is below --min-len, and a title over blank lines
# gets no language.
/usr/bin/python3 - "$WORK/blank.warc.wet" <<'PY'
import sys
bodies = {"empty": "", "three-blank-lines": "\r\n\r\n\r\n", "blanks": "  \t \r\n \r\n \r\n",
          "title-only": "Title only\r\n", "title-then-blank": "Title\r\n\r\n\r\n\r\n",
          "text": "A title\r\nDon't part with your illusions. When they are gone you may still exist.\r\n"}
records = []
for n, (name, body) in enumerate(bodies.items()):
    records.append("WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://%s.example/\r\n"
                   "WARC-Date: 2019-03-18T00:00:0%dZ\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n"
                   % (name, n, len(body.encode()), body))
open(sys.argv[1], "w", newline="").write("".join(records))
PY
for min_len in 0 1; do
    run_case "mine blank documents, --min-len $min_len" 0 "kept 1 of 2 documents" -- "$exe" mine --no-dedup \
        --min-len $min_len "$WORK/blank.warc.wet" -o "$WORK/blank-$min_len"
    [ "$(urls_of "$WORK/blank-$min_len")" = '"http://text.example/" ' ] ||
        fail "mine blank documents, --min-len $min_len: documents $(urls_of "$WORK/blank-$min_len")"
    grep -q '"documents": 3, "documents_below_min_len": 1, "documents_out": 2' "$WORK/blank-$min_len.stats.json" ||
        fail "mine blank documents, --min-len $min_len: read stats $(grep -o '"read": {[^}]*}' "$WORK/blank-$min_len.stats.json")"
    grep -q '"empty_body": 3' "$WORK/blank-$min_len.stats.json" ||
        fail "mine blank documents, --min-len $min_len: $(grep -o '"empty_body": [0-9]*' "$WORK/blank-$min_len.stats.json")"
done
grep -q 'cc_net keeps such documents while parsing' "$SRC/man/ccnet-filter.1" ||
    fail "man page: the difference from cc_net on documents without text is not documented"

finish
