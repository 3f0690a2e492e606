// Running under SLURM: the job, array task and rank a process belongs to, and shards of work
// split over array tasks.
#pragma once

#include <cstdint>
#include <string>

namespace scorekit {

// Shard `index` of `count`, both from "I/N" (0 <= I < N).
struct ShardSpec {
    int index = 0;  // 0-based
    int count = 1;
};

// Parses "I/N" (0 <= I < N). Throws UsageError naming the value.
ShardSpec parse_shard(const std::string& text);

// The shard from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT when both are set, else 0/1.
// Throws UsageError when they are set but invalid, and when SLURM_ARRAY_TASK_MIN/MAX show an
// array whose task ids are not 0..COUNT-1 (--array=1-4, --array=0-6:2, --array=3,17).
ShardSpec shard_from_environment();

// Replaces every "{shard}" in `pattern` with the shard index in 4 digits (0007).
std::string expand_shard_pattern(const std::string& pattern, int shard);

// The output name of one shard: every "{shard}" in `output` becomes the shard index as four
// digits (0003), as in ccnet-filter. When the shard comes from the SLURM array variables
// (`from_environment`) and there is more than one, every task runs the same command line, so
// the name must differ per task: it must contain {shard}, or the task id as a number of its own
// in the file name, directories included (samples-3.h5, samples-0003.h5 or run-3/out-v2.h5 for
// task 3). Digits in the file-type suffix (the 5 of .h5) and in a dataset suffix (out.h5:/x3) do
// not count. A typed name thus passes only in the tasks whose ids it contains. Otherwise, or if
// `output` is standard output ("-"), the rule does not apply. Throws UsageError naming `option`
// and the value for a name that does not pass.
std::string shard_output_path(const std::string& output, ShardSpec shard, bool from_environment,
                              const std::string& option = "--output");

// Names the checkpoint files of one shard. An explicit `checkpoint` follows the rule of
// shard_output_path (option "--checkpoint"), because array tasks that shared one checkpoint
// would overwrite each other's state. `{shard}` in `resume` becomes the shard index, so that
// "--checkpoint ck-{shard}.h5 --resume ck-{shard}.h5" works. Empty names stay empty.
void shard_checkpoint_names(std::string& checkpoint, std::string& resume, ShardSpec shard, bool from_environment);

// The items [index*n/count, (index+1)*n/count) of n items, cc_net's contiguous split, as
// {begin, end}. Concatenating the ranges of shards 0..count-1 in order gives 0..n-1.
struct ShardRange {
    std::int64_t begin = 0, end = 0;
};
ShardRange shard_range(std::int64_t items, ShardSpec shard);

// The SLURM variables of this process; empty strings where a variable is not set.
struct SlurmContext {
    std::string job_id;            // SLURM_JOB_ID
    std::string array_job_id;      // SLURM_ARRAY_JOB_ID
    std::string array_task_id;     // SLURM_ARRAY_TASK_ID
    std::string array_task_count;  // SLURM_ARRAY_TASK_COUNT
    std::string step_id;           // SLURM_STEP_ID (set inside srun steps)
    std::string proc_id;           // SLURM_PROCID, the rank of this task in the step
    std::string ntasks;            // SLURM_NTASKS (SLURM_STEP_NUM_TASKS inside a step)
    std::string node;              // SLURMD_NODENAME

    bool in_job() const { return !job_id.empty(); }
};

SlurmContext slurm_context();

// One line such as "SLURM job 42 (array 40 task 2 of 4), node n01" or, inside an srun step,
// "SLURM job 42, step 0, rank 1 of 4, node n01"; "" outside SLURM.
std::string describe_slurm_context(const SlurmContext& context);

}  // namespace scorekit
