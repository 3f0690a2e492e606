#!/bin/bash
# Runs libFuzzer targets for a bounded time each, seeded with the repository's fixtures.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS TARGET... (run from the source tree's root).
# Findings go to fuzz-findings/<target>/, corpora to fuzz-corpus/<target>/ (both untracked).
set -u
build=$1 seconds=$2
shift 2
root=$(pwd)
seed_dir() {
    local dir=fuzz-seeds/$1
    mkdir -p "$dir"
    case $1 in
        fuzz_ngram) cp tests/text/lm/tiny.arpa tests/text/lm/tiny.arpa.bin "$dir" ;;
        fuzz_sentencepiece) cp tests/text/lm/gpl3.sp.model "$dir" ;;
        fuzz_wet) cp tests/text/corpora/whirlwind.warc.wet tests/text/corpora/whirlwind.warc.wet.gz \
                     tests/text/corpora/sample.warc.txt "$dir" ;;
        fuzz_small_files) head -c 3000 share/ccnet/cutoff.csv > "$dir/cutoff.csv" ;;
        fuzz_text_points) cp share/data/faithful.csv "$dir" && head -c 2000 share/data/faithful.csv | gzip > "$dir/faithful.csv.gz" ;;
        fuzz_model_spec)
            printf 'gaussian:mean=1,-1;cov=2,0.5,0.5,1' > "$dir/gaussian"
            printf 'gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1/0.5,2' > "$dir/gmm"
            printf 'halfplane' > "$dir/halfplane" ;;
        fuzz_torchscript | fuzz_pickle)
            if [ ! -d fuzz-seeds/archives ]; then
                /usr/bin/python3 tests/fixtures/make_archive_fixtures.py fuzz-seeds/archives > /dev/null
            fi
            if [ "$1" = fuzz_torchscript ]; then
                cp fuzz-seeds/archives/*.pt "$dir"
            else
                for archive in fuzz-seeds/archives/*.pt; do
                    name=$(basename "$archive" .pt)
                    unzip -p "$archive" '*/data.pkl' > "$dir/$name.pkl" 2> /dev/null || rm -f "$dir/$name.pkl"
                done
            fi ;;
    esac
    echo "$dir"
}
for target in "$@"; do
    mkdir -p "fuzz-corpus/$target" "fuzz-findings/$target"
    seeds=$(seed_dir "$target")
    # A 10 s limit per input catches hangs; malloc_limit_mb catches single allocations that the
    # input's size does not justify, rss_limit_mb slow growth.
    "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$root/fuzz-findings/$target/" "fuzz-corpus/$target" "$seeds" \
        > "fuzz-findings/$target.log" 2>&1
    echo "$target: exit $?, $(grep -E '^stat::number_of_executed_units' "fuzz-findings/$target.log")"
done
