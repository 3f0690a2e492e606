#!/bin/bash
# Submits the CCNet pipeline over a path list to SLURM as three dependent jobs, skipping every
# shard that has already finished:
#
#   hash array  --afterok-->  mine array  --afterok-->  merge
#
#   ccnet-submit.sh PATHS SHARDS OUT [GROUP_SIZE]
#
# PATHS is a path list (Common Crawl's wet.paths.gz or local paths, one per line). SHARDS is the
# number of array tasks per phase. OUT is the workflow directory (hashes/, mined/, merged/,
# logs/). GROUP_SIZE is the number of shards whose hash files one mine shard deduplicates
# against (default 50, as in cc_net). A shard is finished when ccnet-filter has written its done marker, so running
# this script again after a failed, cancelled or preempted task submits arrays of only the
# unfinished shards (for example --array=3,17-19) and a new merge. It exits 1 without
# submitting while jobs of the previous submission (listed in OUT/jobs) are still queued.
#
# Environment (each value is split at spaces):
#   CCNET_FLAGS         ccnet-filter options for both phases, such as --min-len 300 (the
#                       phases must agree on them)
#   MINE_FLAGS          options for mine only, such as --lid-model lid.176.bin --lang en,de
#   SBATCH_FLAGS        sbatch options for every job, such as --partition=cpu --account=x
#   HASH_SBATCH_FLAGS, MINE_SBATCH_FLAGS, MERGE_SBATCH_FLAGS   sbatch options per job
#   ARRAY_LIMIT         maximum number of array tasks running at once (sbatch --array=...%N)
#   SBATCH              the sbatch command (default sbatch)
# The tools (ccnet-filter, python3) must be on PATH in the jobs; sbatch passes this
# environment on to them.
set -euo pipefail

usage() {
    echo "usage: $0 PATHS SHARDS OUT [GROUP_SIZE]" >&2
    exit 2
}
[ $# -ge 3 ] && [ $# -le 4 ] || usage
paths=$1 shards=$2 out=$3 group=${4:-50}
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "$0: invalid SHARDS '$shards': expected a positive integer" >&2; exit 2; }
[[ $group =~ ^[1-9][0-9]*$ ]] || { echo "$0: invalid GROUP_SIZE '$group': expected a positive integer" >&2; exit 2; }
[ -r "$paths" ] || { echo "$0: path list '$paths' not found or not readable" >&2; exit 1; }

slurm_dir=$(cd "$(dirname "$0")" && pwd)
export SCOREKIT_SLURM_DIR=$slurm_dir
sbatch_command=${SBATCH:-sbatch}
paths=$(cd "$(dirname "$paths")" && pwd)/$(basename "$paths")
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)

# Shards 0..SHARDS-1 whose marker $1/NNNN$2 is missing, as an sbatch --array list of ranges.
unfinished_ranges() {
    local dir=$1 suffix=$2 index start=-1 previous=-1 list=""
    for ((index = 0; index <= shards; index++)); do
        if [ $index -lt "$shards" ] && [ ! -e "$dir/$(printf %04d $index)$suffix" ]; then
            [ $start -ge 0 ] || start=$index
            previous=$index
            continue
        fi
        if [ $start -ge 0 ]; then
            [ $start -eq $previous ] && list+=",$start" || list+=",$start-$previous"
            start=-1
        fi
    done
    echo "${list#,}"
}

# Reject a new submission while the previous one is still queued, because its pending tasks
# would race the new ones.
if [ -s "$out/jobs" ]; then
    # One query per job, because squeue rejects the whole list when SLURM has forgotten one id.
    queued=""
    while read -r job; do
        [ -n "$(squeue --noheader --format=%i --jobs="$job" 2>/dev/null)" ] && queued+=" $job"
    done < "$out/jobs"
    queued=${queued# }
    if [ -n "$queued" ]; then
        echo "$0: jobs of the previous submission are still queued ($queued); wait for them or" \
            "cancel them with: scancel $(paste -sd' ' "$out/jobs")" >&2
        exit 1
    fi
fi

# Done markers of a run with another shard count cover other slices of the path list. This run
# would skip those shards as finished, and its merge would fail on them.
shopt -s nullglob
markers=("$out"/hashes/*.bin.done "$out"/mined/*.done)
shopt -u nullglob
foreign=""
if [ ${#markers[@]} -gt 0 ]; then
    # grep -L lists the markers without the field; its exit status differs between grep versions.
    foreign=$(grep -L "\"shards\": *$shards[,}]" "${markers[@]}" | head -n 3 | paste -sd' ' || true)
fi
if [ -n "$foreign" ]; then
    echo "$0: done markers in $out record another shard count than $shards ($foreign); give the" \
        "SHARDS of that run, or use a new OUT directory" >&2
    exit 1
fi

array_option() {
    echo "--array=$1${ARRAY_LIMIT:+%$ARRAY_LIMIT}"
}

# --open-mode=append keeps the log of a task that SLURM requeued (scontrol requeue, preemption
# with PreemptMode=REQUEUE, --requeue after a node failure): the next run appends to it instead
# of truncating the lines that explain why the first run ended.
submit() {
    local id
    # shellcheck disable=SC2086
    id=$($sbatch_command --parsable --open-mode=append ${SBATCH_FLAGS:-} "$@")
    echo "${id%%;*}"
}

hash_todo=$(unfinished_ranges "$out/hashes" .bin.done)
mine_todo=$(unfinished_ranges "$out/mined" .done)
: > "$out/jobs"
dependency=""

if [ -n "$hash_todo" ]; then
    # shellcheck disable=SC2086
    hash_job=$(submit $(array_option "$hash_todo") ${HASH_SBATCH_FLAGS:-} --output="$out/logs/hash-%A_%a.log" \
        "$slurm_dir/ccnet-hash.sbatch" "$paths" "$shards" "$out" ${CCNET_FLAGS:-})
    echo "$hash_job" >> "$out/jobs"
    dependency="--dependency=afterok:$hash_job"
    echo "submitted hash array $hash_job for shards $hash_todo"
fi

if [ -n "$mine_todo" ]; then
    # shellcheck disable=SC2086
    mine_job=$(submit $(array_option "$mine_todo") $dependency ${MINE_SBATCH_FLAGS:-} \
        --output="$out/logs/mine-%A_%a.log" \
        "$slurm_dir/ccnet-mine.sbatch" "$paths" "$shards" "$out" "$group" ${CCNET_FLAGS:-} ${MINE_FLAGS:-})
    echo "$mine_job" >> "$out/jobs"
    dependency="--dependency=afterok:$mine_job"
    echo "submitted mine array $mine_job for shards $mine_todo"
fi

# shellcheck disable=SC2086
merge_job=$(submit $dependency ${MERGE_SBATCH_FLAGS:-} --output="$out/logs/merge-%j.log" \
    "$slurm_dir/ccnet-merge.sbatch" "$shards" "$out")
echo "$merge_job" >> "$out/jobs"
echo "submitted merge $merge_job; outputs will be in $out/merged"
