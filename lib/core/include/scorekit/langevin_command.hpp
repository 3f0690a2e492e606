// The langevin tool: loads a score model, runs a sampler (langevin.hpp) and writes the samples.
#pragma once

#include <cstdint>
#include <string>

#include "scorekit/cli.hpp"
#include "scorekit/langevin.hpp"

namespace scorekit {

struct LangevinCommandOptions {
    std::string model;
    std::string method = "ula";
    std::string init;  // initial points (one per chain); empty draws them from N(0, sigma_max^2 I)
    double sigma_max = 0;  // with sigma_min and levels: noise levels for models that have none
    double sigma_min = 0;
    int levels = 10;
    // "I/N": run chains [I*C/N, (I+1)*C/N) of C; empty takes SLURM_ARRAY_TASK_ID/COUNT, else 0/1.
    std::string shard;
    // Checkpoints: the file (empty: OUTPUT.ckpt where the output is a file), steps between
    // checkpoints (0: only on SIGINT/SIGTERM), and the checkpoint to continue from.
    std::string checkpoint;
    std::int64_t checkpoint_every = 0;
    std::string resume;
    LangevinOptions sampler;
    CommonOptions common;
};

void run_langevin(const LangevinCommandOptions& options);

}  // namespace scorekit
