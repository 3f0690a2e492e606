// Internal: checkpoints of boundary-value geodesic runs (--pairs, --all-pairs), so that a run
// stopped by SIGINT, SIGTERM or a SLURM time limit continues with --resume where it stopped.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint_file.hpp"
#include "scorekit/geodesic.hpp"

namespace scorekit {

struct GeodesicCheckpointPlan {
    std::string path;         // where checkpoints are written; empty writes none
    std::int64_t every = 0;   // pairs between checkpoints; 0 writes one only on SIGINT/SIGTERM
    std::string resume;       // checkpoint to continue from; empty starts afresh
    bool keep_paths = true;   // keep every pair's nodes (the output or --paths needs them)
    // What decides the results besides the pairs themselves (model, metric, solver settings),
    // as (name, value) to compare with the checkpoint's.
    CheckpointSettings settings;
    bool written = false;     // set once a checkpoint has been written to `path`
};

// Solves the pairs chunk by chunk (solver.batch_size pairs at a time) as solve_geodesics does,
// with the same result for every pair. Continues from plan.resume when given (UsageError if
// the checkpoint was written for other pairs or settings) and writes plan.path every
// plan.every pairs. After SIGINT or SIGTERM (catch_interrupts() enabled) it writes a checkpoint
// once the current chunk is solved and throws Interrupted naming it. Without keep_paths the
// returned paths are empty, which saves P * T * D doubles. `progress` is called with the pairs
// done so far first (0, or those of the checkpoint), then after every chunk.
// Throws as solve_with_checkpoints does where plan.resume does not fit these pairs and settings,
// so that a wrong --resume fails before any log line or work.
void check_resume(const GeodesicCheckpointPlan& plan, const RowMatrix& starts, const RowMatrix& ends);

GeodesicBatch solve_with_checkpoints(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                                     const GeodesicOptions& solver, GeodesicCheckpointPlan& plan,
                                     const PairProgress& progress);

}  // namespace scorekit
