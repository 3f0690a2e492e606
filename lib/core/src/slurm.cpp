#include "scorekit/slurm.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "scorekit/error.hpp"

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
    if (!parse_int(id, shard.index) || !parse_int(count, shard.count) || shard.count == 0 ||
        shard.index >= shard.count) {
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

// The last run of digits in `path` outside its file-type suffix, without leading zeros ("0" for
// zeros only), or "" when there is none. The 5 of ".h5" is the format of every task's file, not
// a task id.
std::string last_number(const std::string& path) {
    const std::string text = path.substr(0, length_without_suffix(path));
    const auto is_digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    const auto last_digit = std::find_if(text.rbegin(), text.rend(), is_digit);
    if (last_digit == text.rend()) return "";
    const auto first_digit = std::find_if_not(last_digit, text.rend(), is_digit);
    std::string digits(first_digit.base(), last_digit.base());
    const std::size_t nonzero = digits.find_first_not_of('0');
    return nonzero == std::string::npos ? "0" : digits.substr(nonzero);
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
    // A task cannot tell a task id that the shell put into the name from one typed in it, so only
    // the last number of the name may be the task id. Then one typed name passes in at most one
    // task: run-1/out-2.h5 passes in task 2 and fails in task 1, where "any number" let both
    // tasks write it.
    const std::string expanded = expand_shard_pattern(output, shard.index);
    const bool shared = expanded == output && last_number(output) != std::to_string(shard.index);
    if (from_environment && shard.count > 1 && output != "-" && !output.empty() && shared) {
        throw UsageError(describe("invalid " + option, output,
                                  "every task of the SLURM array would write this same file",
                                  "put {shard} in the name, or the task id as its last number, for example -o "
                                  "samples-{shard}.h5 or samples-$SLURM_ARRAY_TASK_ID.h5"));
    }
    return expanded;
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
