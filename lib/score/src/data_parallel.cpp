#include "data_parallel.hpp"

// Debian's LibTorch 1.13 is built with Gloo, but its CMake package does not export the
// definition that unlocks the Gloo process group's declarations.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cstdlib>

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
    } catch (const c10::Error& e) {
        throw Error(describe("cannot join the data-parallel group", placement.rendezvous, e.what_without_backtrace(),
                             "check that every rank started and sees this file"));
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
    } catch (const c10::Error& e) {
        throw Error(describe("allreduce failed", "rank " + std::to_string(placement_.rank) + " of " +
                                                     std::to_string(placement_.world_size),
                             e.what_without_backtrace(), "check the logs of the other ranks"));
    }

    gradients.copy_(buffer_.narrow(0, 0, count));
    any_interrupted = control[1] > 0;
    return control[0];
}

}  // namespace scorekit
