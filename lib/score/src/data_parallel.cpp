#include "data_parallel.hpp"

// Debian's LibTorch 1.13 is built with Gloo, but its CMake package does not export the
// definition that unlocks the Gloo process group's declarations.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "scorekit/error.hpp"

namespace scorekit {
namespace {

int parse_count(const std::string& name, const std::string& value, int minimum) {
    char* end = nullptr;
    long number = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || number < minimum || number > 1 << 20) {
        throw UsageError(describe("invalid " + name, value.empty() ? std::string("(not set)") : value,
                                  "--distributed takes the rank and world size from SLURM",
                                  "start score-train with srun -n K, or set SLURM_PROCID and SLURM_NTASKS"));
    }
    return static_cast<int>(number);
}

// The message of a LibTorch or Gloo exception without LibTorch's stack trace. Gloo reports a
// rank that died as gloo::IoException, which is not a c10::Error.
std::string message_of(const std::exception& error) {
    if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) return torch_error->what_without_backtrace();
    return error.what();
}

std::vector<std::uint8_t> bytes_of(const std::string& text) { return std::vector<std::uint8_t>(text.begin(), text.end()); }

std::string text_of(const std::vector<std::uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

// The first line of `config` that differs from `reference`, as "NAME is X where rank 0 has Y";
// "" when they are equal.
std::string first_difference(const std::string& config, const std::string& reference) {
    std::istringstream mine(config), theirs(reference);
    std::string line, other;
    while (true) {
        const bool has_mine = static_cast<bool>(std::getline(mine, line));
        const bool has_theirs = static_cast<bool>(std::getline(theirs, other));
        if (!has_mine && !has_theirs) return "";
        if (has_mine && has_theirs && line == other) continue;
        const std::string name = line.substr(0, line.find(' '));
        const std::size_t space = other.find(' ');
        const std::string value = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
        const std::string reference_value = space == std::string::npos ? other : other.substr(space + 1);
        return name + " is " + value + " where rank 0 has " + reference_value;
    }
}

// A config or verdict that starts with this reports a rank's failure instead of its options.
const std::string kFailed = "failed\t";

bool is_failure(const std::string& text) { return text.compare(0, kFailed.size(), kFailed) == 0; }

// The error "failed\tRANK\tMESSAGE" that a failed rank posted, as this rank reports it.
Error failure_error(const std::string& failure) {
    const std::size_t tab = failure.find('\t', kFailed.size());
    return Error("data-parallel rank " + failure.substr(kFailed.size(), tab - kFailed.size()) +
                 " failed before training: " + failure.substr(tab + 1));
}

// The failure that another rank posted to `store` (see report_failure), or "" when none did.
// Reads only keys that Store::check finds, so it does not wait, and it catches every exception.
std::string posted_failure(c10d::Store* store, int world_size, int self) noexcept {
    if (!store) return "";
    try {
        for (int rank = 0; rank < world_size; ++rank) {
            const std::string key = "scorekit/config/" + std::to_string(rank);
            if (rank == self || !store->check({key})) continue;
            const std::string value = text_of(store->get(key));
            if (is_failure(value)) return value;
        }
    } catch (...) {
    }
    return "";
}

}  // namespace

struct DataParallel::Group {
    c10::intrusive_ptr<c10d::FileStore> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> process_group;
};

DataParallelPlacement data_parallel_placement(const SlurmContext& context, const std::string& output,
                                              const std::string& rendezvous) {
    DataParallelPlacement placement;
    if (!context.job_id.empty() && context.step_id.empty()) {
        throw UsageError("--distributed in a batch script without srun: the ranks are the tasks of a job step; "
                         "start it as srun score-train ... --distributed");
    }
    placement.world_size = parse_count("SLURM_NTASKS", context.ntasks, 1);
    placement.rank = parse_count("SLURM_PROCID", context.proc_id, 0);
    if (placement.rank >= placement.world_size) {
        throw UsageError(describe("invalid SLURM_PROCID", context.proc_id,
                                  "must be below SLURM_NTASKS=" + context.ntasks, "start score-train with srun -n K"));
    }
    placement.rendezvous = rendezvous;
    if (placement.rendezvous.empty()) {
        if (context.job_id.empty()) {
            throw UsageError("no rendezvous file for --distributed: SLURM_JOB_ID is not set; give --rendezvous FILE "
                             "on a filesystem that every rank sees");
        }
        // One file per job step, so a re-run never finds the store of an earlier step.
        placement.rendezvous = output + ".rendezvous." + context.job_id + "." + context.step_id;
    }
    return placement;
}

DataParallel::DataParallel(const DataParallelPlacement& placement, std::chrono::milliseconds timeout)
    : placement_(placement), group_(std::make_unique<Group>()) {
    try {
        group_->store = c10::make_intrusive<c10d::FileStore>(placement.rendezvous, placement.world_size);
        group_->store->setTimeout(timeout);
        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
        options->devices.push_back(interface && *interface
                                       ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                       : c10d::ProcessGroupGloo::createDefaultDevice());
        options->threads = 1;
        group_->process_group = c10::make_intrusive<c10d::ProcessGroupGloo>(group_->store, placement.rank,
                                                                            placement.world_size, options);
    } catch (const std::exception& e) {
        // A rank that fails right after it joined posts its error and exits, which can close
        // its Gloo connections while this rank is still setting up its own. That error is the cause.
        const std::string failure = posted_failure(group_->store.get(), placement.world_size, placement.rank);
        if (!failure.empty()) throw failure_error(failure);

        const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
        std::string reason = message_of(e);
        std::string hint = "check that every rank started and sees this file";
        if (interface && *interface) {
            hint += ", and that GLOO_SOCKET_IFNAME=" + std::string(interface) + " names a network interface of every node";
        }
        // c10d's FileStore reports "Wait timeout" without the limit or what it waited for.
        if (reason.find("imeout") != std::string::npos) {
            reason = "timed out after " + format_number(static_cast<double>(timeout.count()) / 1000) +
                     " s waiting for the other ranks (" + reason + ")";
            hint += "; raise --distributed-timeout if ranks start far apart";
        }
        throw Error(describe("cannot join the data-parallel group", placement.rendezvous, reason, hint));
    }
}

void DataParallel::check_same_config(const std::string& config) {
    c10d::Store& store = *group_->store;
    const std::string rank = std::to_string(placement_.rank);
    std::string verdict;
    configs_compared_ = true;
    try {
        store.set("scorekit/config/" + rank, bytes_of(config));
        const std::string reference = text_of(store.get("scorekit/config/0"));
        if (is_failure(reference)) {
            verdict = reference;
        } else {
            const std::string difference = first_difference(config, reference);
            if (!difference.empty()) verdict = "rank " + rank + ": " + difference;
        }
        // Rank 0 collects every rank's verdict and passes the first difference back, so that
        // every rank stops with the same message instead of waiting in the first allreduce.
        if (placement_.rank == 0) {
            for (int other = 1; other < placement_.world_size && verdict.empty(); ++other) {
                verdict = text_of(store.get("scorekit/verdict/" + std::to_string(other)));
            }
            store.set("scorekit/verdict/all", bytes_of(verdict));
        } else {
            store.set("scorekit/verdict/" + rank, bytes_of(verdict));
            if (verdict.empty()) verdict = text_of(store.get("scorekit/verdict/all"));
        }
    } catch (const std::exception& e) {
        throw Error(describe("cannot compare the options of the data-parallel ranks", placement_.rendezvous,
                             message_of(e), "check the logs of the other ranks"));
    }
    // The failed rank printed its message itself; the others name it here too.
    if (is_failure(verdict)) throw failure_error(verdict);
    if (!verdict.empty()) {
        throw Error(describe("options or data differ between data-parallel ranks", verdict.substr(0, verdict.find(':')),
                             verdict.substr(verdict.find(':') + 2),
                             "start every rank with the same command line and the same input data"));
    }
}

void DataParallel::report_failure(const std::string& message) noexcept {
    if (configs_compared_) return;  // later failures reach the others through Gloo's connections
    configs_compared_ = true;
    try {
        const std::string rank = std::to_string(placement_.rank);
        const std::vector<std::uint8_t> failure = bytes_of(kFailed + rank + "\t" + message);
        // Every other rank reads rank 0's config first, and rank 0 reads the others' verdicts
        // and passes the first verdict on to everyone.
        c10d::Store& store = *group_->store;
        store.set("scorekit/config/" + rank, failure);
        store.set(placement_.rank == 0 ? std::string("scorekit/verdict/all") : "scorekit/verdict/" + rank, failure);
    } catch (...) {
        // The failing rank reports its own error; the others then wait for the timeout as before.
    }
}

DataParallel::~DataParallel() = default;

ShardRange DataParallel::batch_slice(std::int64_t batch) const {
    return shard_range(batch, ShardSpec{placement_.rank, placement_.world_size});
}

double DataParallel::reduce_step(torch::Tensor& gradients, double loss, bool interrupted, bool& any_interrupted) {
    const std::int64_t count = gradients.numel();
    if (!buffer_.defined()) buffer_ = torch::empty({count + 2}, torch::kFloat32);
    buffer_.narrow(0, 0, count).copy_(gradients);
    float* control = buffer_.data_ptr<float>() + count;
    control[0] = static_cast<float>(loss);
    control[1] = interrupted ? 1.0f : 0.0f;

    std::vector<torch::Tensor> tensors{buffer_};
    try {
        group_->process_group->allreduce(tensors)->wait();
    } catch (const std::exception& e) {
        throw Error(describe("allreduce failed", "rank " + std::to_string(placement_.rank) + " of " +
                                                     std::to_string(placement_.world_size),
                             message_of(e), "check the logs of the other ranks"));
    }

    gradients.copy_(buffer_.narrow(0, 0, count));
    any_interrupted = control[1] > 0;
    return control[0];
}

}  // namespace scorekit
