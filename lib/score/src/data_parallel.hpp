// Data-parallel training over the tasks of a SLURM step with PyTorch c10d and the Gloo backend
// (private to the score layer).
//
// Every rank draws the same global batch from the same random streams and trains on its own
// contiguous slice of it. One allreduce per step sums the gradients of the slices over the
// ranks, so every rank applies the update that a single process would apply to the whole batch,
// up to the order of float32 sums.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "scorekit/slurm.hpp"

namespace scorekit {

// Rank, world size and rendezvous file of this process in a data-parallel run.
struct DataParallelPlacement {
    int rank = 0;
    int world_size = 1;
    std::string rendezvous;  // path of the c10d FileStore shared by all ranks
};

// Rank and world size from SLURM_PROCID and SLURM_NTASKS (SLURM_STEP_NUM_TASKS inside srun).
// `rendezvous` empty means <output>.rendezvous.<job id>.<step id>, next to the output file, which
// must be on a filesystem that every node can read and write. Throws UsageError when the
// variables are missing or invalid, when a SLURM job runs it outside a job step (a batch script
// without srun), or when there is no job id to name the default file store.
DataParallelPlacement data_parallel_placement(const SlurmContext& context, const std::string& output,
                                              const std::string& rendezvous);

// The process group of one data-parallel run.
class DataParallel {
public:
    // Joins the group through a c10d FileStore at placement.rendezvous; blocks until all ranks
    // have joined or `timeout` passes (then throws Error). The Gloo transport binds to the
    // interface in GLOO_SOCKET_IFNAME when set, as in PyTorch, else to the address of this
    // host's name, falling back to loopback.
    DataParallel(const DataParallelPlacement& placement, std::chrono::milliseconds timeout);
    ~DataParallel();

    int rank() const { return placement_.rank; }
    int world_size() const { return placement_.world_size; }

    // Throws Error in every rank unless all ranks pass the same `config` lines ("name value"),
    // naming the first rank and line that differ from rank 0's. Ranks started with other options
    // or other data would otherwise train a model that no single run gives, or crash in Gloo when
    // their gradient buffers differ in size. Blocks until every rank has called it.
    void check_same_config(const std::string& config);

    // Tells the other ranks that this one failed with `message` before check_same_config, so
    // that they stop at check_same_config with that message instead of waiting for this rank
    // until the timeout (srun leaves them running unless --kill-on-bad-exit). Never throws.
    void report_failure(const std::string& message) noexcept;

    // Items [begin, end) of a global batch of `batch` items that this rank trains on.
    ShardRange batch_slice(std::int64_t batch) const;

    // Sums `gradients` (contiguous float32) over all ranks in place, together with each rank's
    // share of the loss and its interrupt flag, in one allreduce. Returns the summed loss and
    // sets `any_interrupted` when any rank has received SIGINT or SIGTERM, so that all ranks
    // stop after the same step.
    double reduce_step(torch::Tensor& gradients, double loss, bool interrupted, bool& any_interrupted);

private:
    struct Group;
    DataParallelPlacement placement_;
    std::unique_ptr<Group> group_;
    bool configs_compared_ = false;
    torch::Tensor buffer_;  // [gradients..., loss, interrupt count]
};

}  // namespace scorekit
