#!/usr/bin/env bash
# Benchmark score-train and langevin (ULA) against equivalent PyTorch scripts, side by side.
#
# Usage: bench/score/run.sh BIN_DIR [--rounds N] [--threads N] [--raw FILE] [--quick]
#                             [--only train|ula-gmm|ula-mlp]
#
# BIN_DIR contains the built score-train and langevin, because this script builds nothing. Each
# workload runs on both sides twice per round, with a short and a long step count. The rate is
# (long steps - short steps) / (long time - short time), so start-up (loading LibTorch, importing
# torch, reading files) cancels out. Rates are given per wall-clock second and per CPU second
# (user + system); the CPU rate is steadier on a shared machine. The table shows the median
# over rounds. Rounds alternate which side runs first. Peak memory is the maximum resident set
# size of the long run, from GNU time. --raw FILE keeps the per-run measurements (TSV).
# --only runs one workload.
#
# Both sides get the same BLAS and threads: OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=N,
# score-train/langevin --threads N and torch.set_num_threads(N) (N from --threads, default 1).
set -euo pipefail

usage() {
    echo "usage: $0 BIN_DIR [--rounds N] [--threads N] [--raw FILE] [--quick] [--only train|ula-gmm|ula-mlp]" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
bin_dir=$(cd "$1" && pwd)
shift
rounds=3
threads=1
quick=0
raw=
only=
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --raw) raw=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --only) only=$2; shift 2 ;;
        *) usage ;;
    esac
done

case $only in "" | train | ula-gmm | ula-mlp) ;; *) usage ;; esac
# Whether a workload runs: all of them unless --only names one.
wanted() { [[ -z $only || $only == "$1" ]]; }

here=$(cd "$(dirname "$0")" && pwd)
data=$(cd "$here/../.." && pwd)/share/data/faithful.csv
python=/usr/bin/python3  # Debian's python3-torch, because a python3 earlier on PATH may lack torch
for tool in score-train langevin; do
    [[ -x $bin_dir/$tool ]] || { echo "$0: $bin_dir/$tool not found: build it first" >&2; exit 1; }
done
"$python" -c 'import torch, h5py' || { echo "$0: $python cannot import torch and h5py" >&2; exit 1; }

# Step counts (short, long) per workload. The --quick counts only check that the script runs.
if [[ $quick == 1 ]]; then
    train_steps=(100 600); gmm_steps=(20 220); mlp_steps=(20 220); chains=500
else
    train_steps=(500 5500); gmm_steps=(100 5100); mlp_steps=(100 1100); chains=2000
fi
batch=256
seed=1
mixture='gmm:weights=0.8,0.2;means=5,5/-5,-5;covs=1'

export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$threads
work=$(mktemp -d /tmp/scorekit-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv  # workload, side, round, steps, wall s, CPU s, peak KiB

# Runs one command under GNU time and appends its measurements to the results table.
measure() {
    local workload=$1 side=$2 round=$3 steps=$4
    shift 4
    local log=$work/$workload.$side.$round.$steps.log
    if ! /usr/bin/time -f '%e %U %S %M' -o "$log.time" "$@" >"$log" 2>&1; then
        echo "$0: command failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
    read -r wall user system peak <"$log.time"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$workload" "$side" "$round" "$steps" "$wall" \
        "$(echo "$user + $system" | bc)" "$peak" >>"$results"
}

train_cpp() {
    measure train scorekit "$1" "$2" "$bin_dir/score-train" "$data" -o "$work/model_cpp_$2.h5" \
        --width 128 --depth 2 --sigma-min 0.01 --batch-size $batch --steps "$2" --seed $seed --threads "$threads" -q
}
train_python() {
    measure train pytorch "$1" "$2" "$python" "$here/train_reference.py" "$data" -o "$work/model_py_$2.h5" \
        --width 128 --depth 2 --batch-size $batch --steps "$2" --seed $seed --threads "$threads"
}
ula_cpp() {  # workload model round steps
    measure "$1" scorekit "$3" "$4" "$bin_dir/langevin" -m "$2" --method ula --chains $chains --steps "$4" \
        --step-size 0.01 --seed $seed --threads "$threads" -q -o "$work/samples_cpp_$1_$4.h5"
}
ula_python() {
    measure "$1" pytorch "$3" "$4" "$python" "$here/langevin_reference.py" -m "$2" --chains $chains \
        --steps "$4" --step-size 0.01 --seed $seed --threads "$threads" -o "$work/samples_py_$1_$4.h5"
}

# The MLP workload samples from a model trained by score-train, the same file on both sides.
if wanted ula-mlp; then
    echo "preparing the model for the MLP workload" >&2
    "$bin_dir/score-train" "$data" -o "$work/model.h5" --width 128 --depth 2 --sigma-min 0.01 --batch-size $batch \
        --steps "${train_steps[1]}" --seed $seed --threads "$threads" -q
fi

for ((round = 1; round <= rounds; ++round)); do
    echo "round $round of $rounds" >&2
    if ((round % 2)); then sides=(cpp python); else sides=(python cpp); fi
    for steps in "${train_steps[@]}"; do
        wanted train || break
        for side in "${sides[@]}"; do "train_$side" "$round" "$steps"; done
    done
    for steps in "${gmm_steps[@]}"; do
        wanted ula-gmm || break
        for side in "${sides[@]}"; do "ula_$side" ula-gmm "$mixture" "$round" "$steps"; done
    done
    for steps in "${mlp_steps[@]}"; do
        wanted ula-mlp || break
        for side in "${sides[@]}"; do "ula_$side" ula-mlp "$work/model.h5" "$round" "$steps"; done
    done
done

# Rates per round from the step-count differences, then medians per workload and side.
echo
echo "scorekit vs PyTorch $("$python" -c 'import torch; print(torch.__version__)'), threads $threads," \
    "OPENBLAS_NUM_THREADS=1, $rounds rounds, median"
echo "train: steps/s, batch $batch, 2-128-128-2 MLP; ula-*: samples/s = chains x steps / s, $chains chains"
awk -v short_train="${train_steps[0]}" -v short_gmm="${gmm_steps[0]}" -v short_mlp="${mlp_steps[0]}" \
    -v chains=$chains -v only="$only" '
    function median(list,    n, values, i, j, t) {
        n = split(list, values, " ")
        for (i = 2; i <= n; ++i) for (j = i; j > 1 && values[j - 1] > values[j]; --j) {
            t = values[j]; values[j] = values[j - 1]; values[j - 1] = t
        }
        return n % 2 ? values[(n + 1) / 2] : (values[n / 2] + values[n / 2 + 1]) / 2
    }
    {
        key = $1 SUBSEP $2 SUBSEP $3
        short = $1 == "train" ? short_train : $1 == "ula-gmm" ? short_gmm : short_mlp
        if ($4 == short) { short_wall[key] = $5; short_cpu[key] = $6 }
        else { long_steps[key] = $4; long_wall[key] = $5; long_cpu[key] = $6; peak[key] = $7; first[key] = short }
    }
    END {
        for (key in long_steps) {
            split(key, part, SUBSEP)
            unit = part[1] == "train" ? 1 : chains
            work = (long_steps[key] - first[key]) * unit
            group = part[1] SUBSEP part[2]
            wall_rates[group] = wall_rates[group] " " work / (long_wall[key] - short_wall[key])
            cpu_rates[group] = cpu_rates[group] " " work / (long_cpu[key] - short_cpu[key])
            peaks[group] = peaks[group] " " peak[key] / 1024
            cpu_time[key] = long_cpu[key] - short_cpu[key]
        }
        printf "%-9s %-9s %14s %14s %10s %10s %10s\n", "workload", "side", "rate/wall-s", "rate/CPU-s", \
            "peak MiB", "x (wall)", "x (CPU)"
        split("train ula-gmm ula-mlp", workloads, " ")
        for (w = 1; w <= 3; ++w) {
            wl = workloads[w]
            if (only != "" && wl != only) continue
            py_wall = median(wall_rates[wl SUBSEP "pytorch"]); py_cpu = median(cpu_rates[wl SUBSEP "pytorch"])
            for (s = 1; s <= 2; ++s) {
                side = s == 1 ? "scorekit" : "pytorch"
                g = wl SUBSEP side
                wall = median(wall_rates[g]); cpu = median(cpu_rates[g])
                printf "%-9s %-9s %14.0f %14.0f %10.1f %10.2f %10.2f\n", wl, side, wall, cpu, median(peaks[g]), \
                    wall / py_wall, cpu / py_cpu
            }
        }
        printf "per-round CPU ratios:"
        for (w = 1; w <= 3; ++w) {
            if (only != "" && workloads[w] != only) continue
            printf "%s %s", (shown++ ? ";" : ""), workloads[w]
            for (r = 1; ((workloads[w], "pytorch", r) in cpu_time); ++r) {
                printf " %.2f", cpu_time[workloads[w] SUBSEP "pytorch" SUBSEP r] / \
                    cpu_time[workloads[w] SUBSEP "scorekit" SUBSEP r]
            }
        }
        printf "\n"
    }' "$results"

# Sanity check that both sides did the same work: losses and sample moments of the long runs.
echo
if [[ -n $raw ]]; then
    { printf 'workload\tside\tround\tsteps\twall_s\tcpu_s\tpeak_kib\n'; cat "$results"; } >"$raw"
fi
"$python" - "$work" "${train_steps[1]}" "${gmm_steps[1]}" "${mlp_steps[1]}" "$only" <<'EOF'
import sys
import h5py
import numpy as np

work, train_steps = sys.argv[1], sys.argv[2]
long_steps = {"ula-gmm": sys.argv[3], "ula-mlp": sys.argv[4]}
only = sys.argv[5]
for side, path, dataset in [] if only not in ("", "train") else [("scorekit", f"{work}/model_cpp_{train_steps}.h5", "training/log"),
                            ("pytorch", f"{work}/model_py_{train_steps}.h5", "training_log")]:
    with h5py.File(path, "r") as file:
        step, train, validation = file[dataset][-1]
    print(f"train    {side:9s} step {step:.0f}: train loss {train:.3f}, validation loss {validation:.3f}")
for workload in [w for w in ["ula-gmm", "ula-mlp"] if only in ("", w)]:
    for side, tag in [("scorekit", "cpp"), ("pytorch", "py")]:
        with h5py.File(f"{work}/samples_{tag}_{workload}_{long_steps[workload]}.h5", "r") as file:
            samples = file["samples"][:]
        print(f"{workload:8s} {side:9s} sample mean {np.array2string(samples.mean(0), precision=2)}, "
              f"std {np.array2string(samples.std(0), precision=2)}")
EOF
