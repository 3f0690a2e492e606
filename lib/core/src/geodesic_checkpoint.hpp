// Internal: checkpoints of geodesic runs over many pairs (--pairs, --all-pairs, and --exp or --log
// with --pairs), so that a run stopped by SIGINT, SIGTERM or a SLURM time limit continues with
// --resume where it stopped.
#pragma once

#include <cstdint>
#include <functional>
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
    // as (name, value) to compare with the checkpoint's. A "map" entry (exp or log) names the
    // map; a boundary-value run has none.
    CheckpointSettings settings;
    bool written = false;     // set once a checkpoint has been written to `path`
};

// One result of every pair: `rows_per_pair` rows of `values` per pair (1 for a length, the
// nodes for a path). The checkpoint stores it as /checkpoint/NAME of shape [pairs] for one
// number per pair, [pairs, columns] for one row, else [pairs, rows_per_pair, columns].
struct PairColumn {
    std::string name;
    Eigen::Index rows_per_pair = 1;
    Eigen::Index columns = 1;
    bool integer = false;
    RowMatrix values;
};
using PairResults = std::vector<PairColumn>;

// The values of the column called `name`. Throws Error if `results` has no such column.
const RowMatrix& column_values(const PairResults& results, const std::string& name);

// Solves the pairs [first, first + count) and returns their results in the layout's columns.
using ChunkSolver = std::function<PairResults(Eigen::Index first, Eigen::Index count)>;

// Solves `pairs` pairs chunk by chunk (`chunk` pairs at a time) with `solve`, which must give
// each pair the same result whatever chunk it is in. Continues from plan.resume when given
// (UsageError if the checkpoint was written for other pairs, settings or columns) and writes
// plan.path every plan.every pairs. After SIGINT or SIGTERM (catch_interrupts() enabled) it
// writes a checkpoint once the current chunk is solved and throws Interrupted naming it.
// `layout` gives the columns' names and widths (its values are ignored), and `checksum`
// identifies the pairs. `progress` is called with the pairs done so far first (0, or those of
// the checkpoint), then after every chunk.
PairResults solve_in_chunks(Eigen::Index pairs, Eigen::Index chunk, const std::string& checksum,
                            const PairResults& layout, GeodesicCheckpointPlan& plan, const ChunkSolver& solve,
                            const PairProgress& progress);

// Throws as solve_in_chunks does where plan.resume does not fit these pairs, settings and
// columns, so that a wrong --resume fails before any log line or work.
void check_resume(const GeodesicCheckpointPlan& plan, Eigen::Index pairs, const std::string& checksum,
                  const PairResults& layout);

// The checksum of the pairs' coordinates that a checkpoint records.
std::string pairs_checksum(const RowMatrix& starts, const RowMatrix& ends);

// Boundary-value pairs: solve_geodesics chunk by chunk (solver.batch_size pairs at a time) with
// solve_in_chunks. Without plan.keep_paths the returned paths are empty, which saves P * T * D
// doubles.
void check_resume(const GeodesicCheckpointPlan& plan, const RowMatrix& starts, const RowMatrix& ends);
GeodesicBatch solve_with_checkpoints(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                                     const GeodesicOptions& solver, GeodesicCheckpointPlan& plan,
                                     const PairProgress& progress);

}  // namespace scorekit
