// score-train: denoising score matching for the noise-conditional MLP (see mlp_score.hpp).
//
// Loss (Vincent 2011; Song and Ermon 2019, NCSN): the mean over the batch, with one noise level
// drawn uniformly per example, of sigma^2 || s(x + sigma u, sigma) + u / sigma ||^2, u ~ N(0, I),
// in standardised coordinates. With the network output f = sigma s this is || f + u ||^2.
#pragma once

#include <cstdint>
#include <string>

#include "scorekit/cli.hpp"

namespace scorekit {

struct ScoreTrainOptions {
    std::string input;   // point set (HDF5 or text)
    std::string checkpoint;  // default: <output>.ckpt
    std::string resume;      // checkpoint to continue from

    int width = 128;
    int depth = 2;
    std::string activation = "softplus";

    int levels = 10;
    double sigma_max = 0;  // 0: the largest pairwise distance of the standardised data
    double sigma_min = 0.1;  // denoising targets below about 0.1 are mostly noise on small data sets

    std::int64_t batch_size = 128;
    std::int64_t steps = 10000;
    std::int64_t epochs = 0;  // > 0 overrides steps
    double learning_rate = 1e-3;
    std::string lr_schedule = "constant";  // constant, cosine, linear
    std::int64_t warmup = 0;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double adam_eps = 1e-8;
    double ema = 0.999;  // 0 disables the moving average of weights
    double val_fraction = 0.1;
    std::int64_t log_every = 500;
    std::int64_t checkpoint_every = 0;  // 0: only on SIGINT/SIGTERM

    // Data-parallel training over the tasks of a SLURM step (srun -n K): rank and world size
    // from SLURM_PROCID and SLURM_NTASKS, c10d Gloo allreduce of the gradients, rank 0 writes.
    bool distributed = false;
    std::string rendezvous;  // c10d FileStore path; default <output>.rendezvous.<job>.<step>
    // Seconds a rank waits for the others at the rendezvous and in each allreduce.
    double distributed_timeout = 600;

    CommonOptions common;
};

// Trains and writes the model file. Throws UsageError for invalid options, Error for bad data,
// and Interrupted after writing a checkpoint when SIGINT or SIGTERM arrives.
void run_score_train(const ScoreTrainOptions& options);

}  // namespace scorekit
