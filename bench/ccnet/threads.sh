#!/bin/bash
# Thread scaling of ccnet-filter: hash, mine (dedup + LID) and mine with the language model, each
# with 1 and then 2 threads, alternating for REPEATS rounds, on an otherwise idle machine. Prints
# each run's wall and CPU seconds, checks that both thread counts wrote the same output, and
# prints the median wall-time speed-up per job.
#
#   bench/ccnet/threads.sh BIN_DIR WET_DIR LID_MODEL HASH_FILE LM_DIR
#
# WET_DIR contains the bench-*.warc.wet.gz files of make_wet.py. LID_MODEL and HASH_FILE are those
# of run.sh. LM_DIR contains en.sp.model and en.arpa.bin, which share/demo/ccnet_lm.sh writes.
# Environment: REPEATS (3), WORK (/tmp/ccnet-threads).
set -u
bin=${1:?usage: threads.sh BIN_DIR WET_DIR LID_MODEL HASH_FILE LM_DIR}
wet_dir=${2:?}
lid=${3:?}
hashes=${4:?}
models=${5:?}
REPEATS=${REPEATS:-3}
WORK=${WORK:-/tmp/ccnet-threads}
rm -rf "$WORK" && mkdir -p "$WORK"
wet=("$wet_dir"/bench-*.warc.wet.gz)

run() {
    local name=$1
    shift
    /usr/bin/time -f "$name %e %U %S" -a -o "$WORK/times.txt" "$@" > /dev/null 2>> "$WORK/log"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$WORK/load.txt"
for round in $(seq "$REPEATS"); do
    for threads in 1 2; do
        rm -rf "$WORK/hash$threads".*
        run "hash_t$threads" "$bin/ccnet-filter" -q --threads "$threads" hash "${wet[@]}" -o "$WORK/hash$threads.bin"
    done
    for threads in 1 2; do
        rm -rf "$WORK/mine$threads" "$WORK/mine$threads".*
        run "mine_t$threads" "$bin/ccnet-filter" -q --threads "$threads" mine "${wet[@]}" --hashes "$hashes" \
            --lid-model "$lid" -o "$WORK/mine$threads"
    done
    for threads in 1 2; do
        rm -rf "$WORK/lm$threads" "$WORK/lm$threads".*
        run "lm_t$threads" "$bin/ccnet-filter" -q --threads "$threads" mine --no-dedup "${wet[0]}" --lid-model "$lid" \
            --sp-model "$models/{lang}.sp.model" --lm-model "$models/{lang}.arpa.bin" -o "$WORK/lm$threads"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/load.txt"

cmp -s "$WORK/hash1.bin" "$WORK/hash2.bin" || echo "DIFFERENT: hash files of 1 and 2 threads"
for job in mine lm; do
    for file in "$WORK/${job}1"/*.json.gz; do
        cmp -s <(zcat "$file") <(zcat "$WORK/${job}2/$(basename "$file")") || echo "DIFFERENT: $job $(basename "$file")"
    done
done
cat "$WORK/times.txt"
/usr/bin/python3 - "$WORK/times.txt" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, wall, user, system = line.split()
    runs[name].append((float(wall), float(user) + float(system)))
for job in ("hash", "mine", "lm"):
    wall = [statistics.median(w for w, _ in runs[f"{job}_t{t}"]) for t in (1, 2)]
    cpu = [statistics.median(c for _, c in runs[f"{job}_t{t}"]) for t in (1, 2)]
    print(f"{job}: median wall {wall[0]:.2f} s with 1 thread, {wall[1]:.2f} s with 2, speed-up {wall[0] / wall[1]:.2f}x; "
          f"CPU {cpu[0]:.2f} and {cpu[1]:.2f} s")
PY
