// Internal: checkpoints of metric-eval runs over many points, so that a run stopped by SIGINT,
// SIGTERM, SIGHUP or a SLURM time limit continues with --resume at its first unfinished chunk.
// A checkpoint contains the results of the points evaluated so far (/checkpoint/NAME, the output's
// datasets cut to those rows) and the settings that decide them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "checkpoint_file.hpp"
#include "metric_eval_output.hpp"

namespace scorekit {

struct PointCheckpointPlan {
    std::string path;             // where checkpoints are written; empty writes none
    std::int64_t every = 0;       // points between checkpoints; 0 writes one only on a signal
    std::string resume;           // checkpoint to continue from; empty starts afresh
    CheckpointSettings settings;  // what decides the results besides the inputs (model, metric)
    // The points and tangent vectors, whose checksum (checksum_text) identifies them. It is
    // computed on first use, because it costs a pass over every input byte (0.1 s for 110,000
    // points in 64 dimensions with their vectors) and most runs never write a checkpoint.
    std::vector<const RowMatrix*> inputs;
    mutable std::string checksum;
    Eigen::Index points = 0;      // rows of the whole run
    bool written = false;         // set once a checkpoint has been written to `path`
};

// The number of points already evaluated in plan.resume, 0 without one. Throws Error when it is not a
// metric-eval checkpoint of this build's results revision, and UsageError when it was written
// for other settings, points, vectors or outputs (`blocks`), naming the first difference.
Eigen::Index check_point_resume(const PointCheckpointPlan& plan, const std::vector<OutputBlock>& blocks);

// Reads the first `done` rows of plan.resume, `chunk` rows at a time, and passes them to `write`
// with the index of their first row.
void copy_resumed_rows(const PointCheckpointPlan& plan, const std::vector<OutputBlock>& blocks, Eigen::Index done,
                       Eigen::Index chunk, const std::function<void(Eigen::Index, const BlockRows&)>& write);

// Writes plan.path with the first `done` rows of `source`, copied `chunk` rows at a time, and
// sets plan.written.
void write_point_checkpoint(PointCheckpointPlan& plan, const std::vector<OutputBlock>& blocks, const RowSource& source,
                            Eigen::Index done, Eigen::Index chunk);

}  // namespace scorekit
