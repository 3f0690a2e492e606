// Internal: fim's checkpoints. A checkpointed run computes the stored representations one batch
// at a time and keeps the running sums, which a checkpoint saves after a batch together with the
// number of inputs done and the settings that decide the result.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "checkpoint_file.hpp"
#include "scorekit/fim.hpp"

namespace scorekit {

struct FimCheckpointing {
    std::string path;              // where checkpoints are written
    std::int64_t every = 0;        // batches between checkpoints; 0: only on SIGINT, SIGTERM or SIGHUP
    std::string resume;            // checkpoint to continue from; empty for a fresh run
    CheckpointSettings settings;   // compared with a checkpoint's on --resume
    bool written = false;          // set once a checkpoint was written
};

// Computes what compute_fisher computes for dense, diag, block and kfac, one batch of
// problem.batch_size inputs at a time, continuing from checkpointing.resume when given. Each
// batch's draws use the same streams as in one compute_fisher call, and the sums are added in
// input order, so a resumed run equals an uninterrupted checkpointed run bit for bit. Summed
// per batch, the result can differ from compute_fisher's in the last digits.
//
// Writes a checkpoint every checkpointing.every batches. After a signal it writes one after the
// current batch and throws Interrupted, which names the checkpoint and --resume. Calls `on_batch`
// with the inputs done at the start (those of the checkpoint) and after each batch. Throws
// UsageError when the checkpoint's settings differ from checkpointing.settings.
FisherMatrix compute_fisher_resumable(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                                      const FisherProblem& problem, Representation representation,
                                      BlockGrouping grouping, FimCheckpointing& checkpointing,
                                      const std::function<void(std::int64_t done, std::int64_t total)>& on_batch);

}  // namespace scorekit
