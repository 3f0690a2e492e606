#include "scorekit/slurm.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/points.hpp"

namespace scorekit {
namespace {

bool parse_int(const std::string& text, int& value) {
    if (text.empty() || text.size() > 9) return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    value = std::atoi(text.c_str());
    return true;
}

std::string environment(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

// Throws UsageError unless the array's task ids are 0..count-1. In --array=1-4 or --array=0-6:2
// some ids are below COUNT, so those tasks would run shards of a split that the other tasks
// never complete. A re-submitted subset (--array=3,17) cannot be mapped to shards either. SLURM
// sets SLURM_ARRAY_TASK_MIN/MAX/STEP in every array task (checked with slurm-wlm 22.05). Without
// them, as in a shell that sets only the ID and COUNT, nothing is checked.
void check_array_numbering(int count) {
    int first = 0, last = 0, step = 1;
    if (!parse_int(environment("SLURM_ARRAY_TASK_MIN"), first) || !parse_int(environment("SLURM_ARRAY_TASK_MAX"), last)) {
        return;
    }
    if (!parse_int(environment("SLURM_ARRAY_TASK_STEP"), step) || step < 1) step = 1;
    if (first == 0 && last == count - 1) return;

    const std::string array = "tasks " + std::to_string(first) + " to " + std::to_string(last) +
                              (step > 1 ? " step " + std::to_string(step) : "") + ", " + std::to_string(count) +
                              " tasks";
    // A fresh array numbered otherwise and a re-submitted subset of an earlier array look the
    // same, so the message offers the --shard of both.
    const std::string rerun = "--shard $SLURM_ARRAY_TASK_ID/N to re-run shards of an earlier array of N shards";
    std::string remedy = "submit --array=0-" + std::to_string(count - 1) + ", or give " + rerun;
    const bool progression = (last - first) % step == 0 && (last - first) / step + 1 == count;
    if (progression && count > 1) {
        std::string index = "SLURM_ARRAY_TASK_ID";
        if (first != 0) index += "-" + std::to_string(first);
        if (first != 0 && step != 1) index = "(" + index + ")";
        if (step != 1) index += "/" + std::to_string(step);
        remedy = "submit --array=0-" + std::to_string(count - 1) + ", or give --shard $((" + index + "))/" +
                 std::to_string(count) + " to split the work over these tasks, or " + rerun;
    }
    throw UsageError(describe("invalid SLURM array for shards", array,
                              "the task ids are not 0 to " + std::to_string(count - 1) +
                                  ", so they cannot be taken as shard indices",
                              remedy));
}

}  // namespace

ShardSpec parse_shard(const std::string& text) {
    ShardSpec shard;
    std::size_t slash = text.find('/');
    bool ok = slash != std::string::npos && parse_int(text.substr(0, slash), shard.index) &&
              parse_int(text.substr(slash + 1), shard.count) && shard.count > 0 && shard.index < shard.count;
    if (!ok) {
        throw UsageError(describe("invalid --shard", text, "expected I/N with 0 <= I < N", "for example --shard 3/16"));
    }
    return shard;
}

ShardSpec shard_from_environment() {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (!id || !count) return ShardSpec();
    ShardSpec shard;
    const bool numbers = parse_int(id, shard.index) && parse_int(count, shard.count) && shard.count > 0;
    // Every task of a misnumbered array gets the same message, also those whose ID >= COUNT.
    if (numbers) check_array_numbering(shard.count);
    if (!numbers || shard.index >= shard.count) {
        throw UsageError(describe("invalid SLURM array variables",
                                  std::string("SLURM_ARRAY_TASK_ID=") + id + " SLURM_ARRAY_TASK_COUNT=" + count,
                                  "expected 0 <= ID < COUNT",
                                  "submit the array as --array=0-(N-1) or give --shard I/N"));
    }
    return shard;
}

namespace {

// The length of the path without its file-type suffix: ".h5" in "run/out.h5". A suffix of digits
// only ("out.3") is kept, because a user may put the task id there.
std::size_t length_without_suffix(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    const std::size_t dot = path.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path.size();
    const bool has_letter = std::any_of(path.begin() + static_cast<std::ptrdiff_t>(dot) + 1, path.end(),
                                        [](unsigned char c) { return std::isalpha(c) != 0; });
    return has_letter ? dot : path.size();
}

// The numbers in the file name `path` outside its file-type suffix, each without leading zeros
// ("0" for zeros only). Directories count: run-3/out.h5 contains 3. The 5 of ".h5" is the format
// of every task's file, not a task id.
std::vector<std::string> numbers_in(const std::string& path) {
    const std::string text = path.substr(0, length_without_suffix(path));
    const auto is_digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    std::vector<std::string> numbers;
    for (auto begin = std::find_if(text.begin(), text.end(), is_digit); begin != text.end();
         begin = std::find_if(begin, text.end(), is_digit)) {
        const auto end = std::find_if_not(begin, text.end(), is_digit);
        const std::string digits(begin, end);
        const std::size_t nonzero = digits.find_first_not_of('0');
        numbers.push_back(nonzero == std::string::npos ? "0" : digits.substr(nonzero));
        begin = end;
    }
    return numbers;
}

}  // namespace

std::string expand_shard_pattern(const std::string& pattern, int shard) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%04d", shard);
    std::string out = pattern;
    for (std::size_t at = out.find("{shard}"); at != std::string::npos; at = out.find("{shard}", at)) {
        out.replace(at, 7, digits);
    }
    return out;
}

std::string shard_output_path(const std::string& output, ShardSpec shard, bool from_environment,
                              const std::string& option) {
    // A task cannot tell a task id that the shell put into the name from the same number typed
    // there, so the name passes when any number in it is the task id: 2024/run-3/out-v2.h5 in
    // task 3. A name that all tasks share then passes only in the tasks whose ids it contains
    // and fails in the others. Only the file counts, because the tasks of an array cannot write
    // different datasets of one file: out.h5:/task3 is shared.
    // NOTE: a shared name that contains every task id of the array, such as run-0/out-1.h5 in a
    // two-task array, passes in every task.
    const std::string expanded = expand_shard_pattern(output, shard.index);
    if (!from_environment || shard.count == 1 || output == "-" || output.empty() || expanded != output) {
        return expanded;
    }

    const std::vector<std::string> numbers = numbers_in(split_dataset_spec(output).file);
    if (std::find(numbers.begin(), numbers.end(), std::to_string(shard.index)) == numbers.end()) {
        throw UsageError(describe("invalid " + option, output,
                                  "every task of the SLURM array would write this same file",
                                  "put {shard} or the task id in the name, for example -o "
                                  "samples-{shard}.h5 or samples-$SLURM_ARRAY_TASK_ID.h5"));
    }
    return expanded;
}

void shard_checkpoint_names(std::string& checkpoint, std::string& resume, ShardSpec shard, bool from_environment) {
    if (!checkpoint.empty()) checkpoint = shard_output_path(checkpoint, shard, from_environment, "--checkpoint");
    resume = expand_shard_pattern(resume, shard.index);
}

ShardRange shard_range(std::int64_t items, ShardSpec shard) {
    return ShardRange{shard.index * items / shard.count, (shard.index + 1) * items / shard.count};
}

SlurmContext slurm_context() {
    SlurmContext context;
    context.job_id = environment("SLURM_JOB_ID");
    context.array_job_id = environment("SLURM_ARRAY_JOB_ID");
    context.array_task_id = environment("SLURM_ARRAY_TASK_ID");
    context.array_task_count = environment("SLURM_ARRAY_TASK_COUNT");
    context.step_id = environment("SLURM_STEP_ID");
    context.proc_id = environment("SLURM_PROCID");
    context.ntasks = environment("SLURM_STEP_NUM_TASKS");
    if (context.ntasks.empty()) context.ntasks = environment("SLURM_NTASKS");
    context.node = environment("SLURMD_NODENAME");
    return context;
}

std::string describe_slurm_context(const SlurmContext& context) {
    if (!context.in_job()) return "";
    std::string line = "SLURM job " + context.job_id;
    if (!context.array_task_id.empty()) {
        line += " (array " + context.array_job_id + " task " + context.array_task_id;
        if (!context.array_task_count.empty()) line += " of " + context.array_task_count;
        line += ")";
    }
    // Ranks exist only inside a job step (srun). A batch script is one process, whatever the
    // value of SLURM_NTASKS.
    if (!context.step_id.empty()) {
        line += ", step " + context.step_id + ", rank " + (context.proc_id.empty() ? std::string("0") : context.proc_id) +
                " of " + (context.ntasks.empty() ? std::string("1") : context.ntasks);
    }
    if (!context.node.empty()) line += ", node " + context.node;
    return line;
}

}  // namespace scorekit
