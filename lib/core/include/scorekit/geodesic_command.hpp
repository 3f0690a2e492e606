// The geodesic tool: boundary-value geodesics between pairs of points (one pair, a pairs file or
// all pairs of a point set), the exponential map (--exp) and the logarithmic map (--log).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scorekit/cli.hpp"
#include "scorekit/geodesic_shooting.hpp"

namespace scorekit {

struct GeodesicCommandOptions {
    std::string model;
    std::string metric = "stein";
    MetricOptions settings;              // kind is set from `metric`
    // One pair (--from/--to) or, with --exp, --from and --velocity, as typed: comma-separated
    // coordinates, possibly over several arguments (--from 1 0). They are read against the
    // model's dimension, so that a message can quote what was typed.
    std::vector<std::string> from, to;
    std::vector<std::string> velocity;
    std::string pairs;                   // rows of 2 D numbers: start then end (or start then velocity)
    std::string all_pairs;               // point set: all pairs, written as a distance matrix
    // Shard "I/N". --all-pairs solves pairs [I*P/N, (I+1)*P/N) of the P upper-triangle pairs and
    // writes them as a table (i, j, length, converged); --pairs solves rows [I*P/N, (I+1)*P/N)
    // of its P rows and writes them as one run would. Empty takes SLURM_ARRAY_TASK_ID/COUNT,
    // else 0/1.
    std::string shard;
    bool exp = false;
    bool log = false;
    std::string paths;                   // where to write the path nodes; empty writes none
    bool allow_unconverged = false;
    // Checkpoints of --pairs and --all-pairs runs: the file (empty: OUTPUT.ckpt where the output
    // is a file), pairs between checkpoints (0: only on SIGINT/SIGTERM), and the checkpoint to
    // continue from.
    std::string checkpoint;
    std::int64_t checkpoint_every = 0;
    std::string resume;
    GeodesicOptions solver;
    // Whether --batch-size was given. Without it, --exp and --log take map_batch_size: their
    // rows cost less than a boundary-value pair, so larger chunks spread each model call further.
    bool batch_size_given = false;
    int map_batch_size = 256;
    ExpMapOptions integration;
    double shooting_tolerance = LogMapOptions{}.tolerance;
    // Whether --ode-tolerance and --shooting-tolerance were given. Without them the tolerances
    // follow the model's precision (default_ode_tolerance(), default_shooting_tolerance()).
    bool ode_tolerance_given = false;
    bool shooting_tolerance_given = false;
    CommonOptions common;
};

// Solves the requested geodesics for `model` and writes them. Every pair's result is written,
// unconverged ones flagged; afterwards Error is thrown if any pair failed to converge, unless
// allow_unconverged is set.
void run_geodesic(const GeodesicCommandOptions& options, const ScoreModel& model);

}  // namespace scorekit
