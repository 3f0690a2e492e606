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

// Whether `path` contains `number` as a run of digits with no digit next to it, outside the
// file-type suffix. The 5 of ".h5" is the format of every task's file, not a task id.
bool contains_number(const std::string& path, const std::string& number) {
    const std::string text = path.substr(0, length_without_suffix(path));
    for (std::size_t at = text.find(number); at != std::string::npos; at = text.find(number, at + 1)) {
        const bool digit_before = at > 0 && std::isdigit(static_cast<unsigned char>(text[at - 1]));
        const std::size_t after = at + number.size();
        const bool digit_after = after < text.size() && std::isdigit(static_cast<unsigned char>(text[after]));
        if (!digit_before && !digit_after) return true;
    }
    return false;
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
    // NOTE: a task cannot tell the task id that the shell put into the name from the same number
    // typed in it. A name typed with one such number (run-3/out.h5) passes only in that task and
    // fails in all others. One typed with two task ids (run-1/out-2.h5) passes in both tasks, which
    // then write the same file.
    const std::string expanded = expand_shard_pattern(output, shard.index);
    const bool shared = expanded == output && !contains_number(output, std::to_string(shard.index));
    if (from_environment && shard.count > 1 && output != "-" && !output.empty() && shared) {
        throw UsageError(describe("invalid " + option, output,
                                  "every task of the SLURM array would write this same file",
                                  "put {shard} or the task id in the name, for example -o samples-{shard}.h5"));
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
