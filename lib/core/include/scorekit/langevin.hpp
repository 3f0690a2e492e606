// Langevin samplers over any ScoreModel.
//
// All samplers run in the model's standardised coordinates z (see score_model.hpp), where the
// update rules below hold exactly; samples are returned in data coordinates. For analytic
// models z = x.
//   ULA       z <- z + eps s(z) + sqrt(2 eps) xi
//   MALA      proposal y ~ N(z + eps s(z), 2 eps I), Metropolis-Hastings accept (needs log p)
//   annealed  NCSN (Song and Ermon 2019, Algorithm 1): for each level sigma_i, `steps` updates
//             z <- z + (alpha_i / 2) s(z, sigma_i) + sqrt(alpha_i) xi, alpha_i = eps sigma_i^2 / sigma_L^2
// Each chain draws from its own random stream derived from (seed, chain index), so results do not
// depend on the thread count or on how chains are split into shards.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "scorekit/rng.hpp"
#include "scorekit/score_model.hpp"

namespace scorekit {

enum class LangevinMethod { ula, mala, annealed };

// Parses "ula", "mala" or "annealed"; throws UsageError listing the choices.
LangevinMethod parse_langevin_method(const std::string& name);
std::string to_string(LangevinMethod method);

struct LangevinOptions {
    LangevinMethod method = LangevinMethod::ula;
    std::int64_t chains = 1000;
    std::int64_t steps = 1000;  // per noise level for `annealed`
    double step_size = 0.01;    // eps, in standardised units
    std::int64_t burn_in = 0;   // ula/mala: steps dropped before the first kept sample
    std::int64_t thin = 0;      // ula/mala: keep every thin-th step; 0 keeps only the final state
    double sigma = -1;          // ula/mala noise level; < 0 uses the model's default
    std::vector<double> levels; // annealed: noise levels, largest first; empty uses the model's
    bool denoise = false;       // annealed: finish with z + sigma_L^2 s(z, sigma_L) (Tweedie's formula)
    std::uint64_t seed = 0;
    std::uint64_t first_chain = 0;  // index of the first chain, for sharded runs
    int threads = 1;
    // Chains whose scores and proposals are evaluated together; 0 picks about 2^17 values per
    // block. Samples do not depend on it, but the working memory grows with it.
    std::int64_t block_chains = 0;
};

struct LangevinResult {
    // [kept * chains, D], data coordinates, grouped by kept step; empty when the samples went to
    // a KeptRowsCallback instead.
    RowMatrix samples;
    std::int64_t kept_per_chain = 0;
    std::int64_t proposals = 0;   // MALA only
    std::int64_t accepted = 0;    // MALA only
    std::vector<double> levels;   // the noise levels used (annealed)
    double acceptance_rate() const { return proposals ? static_cast<double>(accepted) / proposals : 0.0; }
};

// Called after each step with (steps done, total steps); used for progress reporting.
using StepCallback = std::function<void(std::int64_t, std::int64_t)>;

// A block of kept samples: rows [first_row, first_row + x.rows()) of the output, whose row
// k * chains + c is chain c at its k-th kept state.
struct KeptRows {
    std::int64_t first_row = 0;
    const RowMatrix& z;       // standardised coordinates, as checkpoints store them
    const RowMatrix& x;       // data coordinates, as written to the output
    bool resumed = false;     // rows kept before the checkpoint resumed from, read back
    bool last_step = false;   // rows of the last step, after which no checkpoint is saved
};

// Receives the kept samples in row order as the sampler produces them.
using KeptRowsCallback = std::function<void(const KeptRows&)>;

// A run's state between two steps, for checkpoints: a run continued from it gives the samples
// of an uninterrupted run. The samples kept so far are not part of it: the caller receives them
// through a KeptRowsCallback and stores them beside the state.
struct LangevinState {
    std::int64_t step = 0;             // steps done (annealed: over all levels)
    RowMatrix z;                       // positions [chains, D], standardised coordinates
    std::vector<Rng::State> streams;   // each chain's random stream
    std::int64_t kept_rows = 0;        // rows of samples kept so far
    std::int64_t proposals = 0, accepted = 0;  // MALA
    double divergence_bound = 0;       // set from the initial positions
};

// Checkpoints of sample_langevin. `save` gets the state every `every` steps (0: never) and,
// with interrupted = true, after the step in which SIGINT or SIGTERM arrived (with
// catch_interrupts() on); the run then ends with Interrupted, which `save` may throw itself
// with a message naming the checkpoint. No state is saved after the last step.
struct LangevinCheckpointing {
    const LangevinState* resume = nullptr;  // continue from this state
    // Reads rows [first, first + rows.rows()) of the samples kept before `resume`, in
    // standardised coordinates; needed when resume->kept_rows > 0.
    std::function<void(std::int64_t first, RowMatrix& rows)> read_kept;
    std::int64_t every = 0;
    std::function<void(const LangevinState&, bool interrupted)> save;
};

// Returns the states that each chain keeps: every thin-th step after burn-in (ULA, MALA), or
// the final state alone for thin = 0 and annealed sampling. Expects options that sample_langevin
// accepts.
std::int64_t kept_per_chain(const LangevinOptions& options);

// Throws Error when `model` lacks what the method of `o` needs: a log-density for MALA, noise
// levels for annealed sampling without o.levels. `model_name` names the model in the message.
// sample_langevin checks this too, naming the model by its kind.
void check_method_support(const ScoreModel& model, const LangevinOptions& o, const std::string& model_name);

// Runs the sampler. `initial` [chains, D] in data coordinates, or empty to draw the starting
// points from N(0, sigma_max^2 I) in standardised coordinates (sigma_max: the largest level, or
// 1 when the model has none). Kept samples go to `on_kept` as they are produced, those of a
// resumed checkpoint first; without it they are collected in LangevinResult::samples. Memory
// is then the chains' state (positions, scores, random streams) plus one block of chains, not
// the kept samples. Throws UsageError for inconsistent options and Error when the model lacks
// what the method needs (log p for MALA, noise levels for annealed).
LangevinResult sample_langevin(const ScoreModel& model, const LangevinOptions& options, const RowMatrix& initial,
                            const StepCallback& on_step = {}, const LangevinCheckpointing& checkpointing = {},
                            const KeptRowsCallback& on_kept = {});

// log of the MALA acceptance ratio for a move x -> y with scores sx, sy and log-densities
// lpx, lpy: log p(y) - log p(x) + log q(x | y) - log q(y | x), q(y | x) = N(y; x + eps s(x), 2 eps I).
double mala_log_acceptance(const Vector& x, const Vector& y, const Vector& sx, const Vector& sy, double lpx,
                           double lpy, double eps);

// Geometric noise levels from sigma_max down to sigma_min (count >= 1).
std::vector<double> geometric_levels(double sigma_max, double sigma_min, int count);

}  // namespace scorekit
