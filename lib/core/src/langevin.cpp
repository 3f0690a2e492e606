#include "scorekit/langevin.hpp"

#include <algorithm>
#include <cmath>
#include <future>

#include "scorekit/error.hpp"
#include "scorekit/rng.hpp"
#include "scorekit/signals.hpp"

namespace scorekit {
namespace {

// The sampler's view of a model in standardised coordinates z = (x - location) / scale.
class StandardisedModel {
public:
    StandardisedModel(const ScoreModel& model, int threads)
        : model_(model),
          location_(model.location()),
          scale_(model.scale()),
          identity_(location_.isZero(0) && scale_.isOnes(0)),
          threads_(threads) {}

    RowMatrix to_data(const RowMatrix& z) const {
        if (identity_) return z;
        return (z.array().rowwise() * scale_.transpose().array()).rowwise() + location_.transpose().array();
    }

    // s_z(z) = scale * s_x(x), elementwise per dimension. Analytic models have location 0 and
    // scale 1, and skipping the two passes gives the same numbers because z * 1 + 0 == z.
    RowMatrix score(const RowMatrix& z, double sigma) const {
        if (identity_) return evaluate(z, sigma);
        RowMatrix x = to_data(z);
        RowMatrix s = evaluate(x, sigma);
        return s.array().rowwise() * scale_.transpose().array();
    }

    // log p_z differs from log p_x by a constant, which cancels in acceptance ratios.
    Vector log_density(const RowMatrix& z, double sigma) const { return model_.log_density(to_data(z), sigma); }

private:
    // Analytic models are evaluated in row blocks on several threads here. Trained models get the
    // sampler's block of chains at once: the MLP evaluator splits it over its own threads, and
    // TorchScript modules use LibTorch's thread pool.
    // NOTE: LibTorch may round a row differently in a batch of another size. A traced two-layer
    // module gave the same samples in blocks as in one batch (40,000 chains, D = 4), but no test
    // covers TorchScript models.
    RowMatrix evaluate(const RowMatrix& x, double sigma) const {
        bool analytic = model_.kind() == "gaussian" || model_.kind() == "gmm";
        if (!analytic || threads_ <= 1 || x.rows() < 4 * threads_) return model_.score(x, sigma);
        RowMatrix out(x.rows(), x.cols());
        std::vector<std::future<void>> jobs;
        const Eigen::Index block = (x.rows() + threads_ - 1) / threads_;
        for (Eigen::Index start = 0; start < x.rows(); start += block) {
            Eigen::Index rows = std::min(block, x.rows() - start);
            jobs.push_back(std::async(std::launch::async, [&, start, rows] {
                out.middleRows(start, rows) = model_.score(x.middleRows(start, rows), sigma);
            }));
        }
        for (auto& job : jobs) job.get();
        return out;
    }

    const ScoreModel& model_;
    Vector location_, scale_;
    bool identity_;
    int threads_;
};

// Row r takes its deviates from the stream of chain first_chain + r, so samples do not depend on
// threads, shards or blocks.
void fill_normal(RowMatrix& noise, std::vector<Rng>& streams, Eigen::Index first_chain = 0) {
    const ZigguratNormal normal;
    for (Eigen::Index r = 0; r < noise.rows(); ++r) {
        Rng& stream = streams[first_chain + r];
        double* row = noise.row(r).data();
        for (Eigen::Index j = 0; j < noise.cols(); ++j) row[j] = normal(stream);
    }
}

// A chain has diverged when a coordinate is not finite or larger in magnitude than
// kDivergenceFactor times the largest initial coordinate (at least 1), in standardised units.
// A stable chain stays within a few noise levels of the data, far below that bound.
constexpr double kDivergenceFactor = 1e10;

double divergence_bound(const RowMatrix& initial) {
    const double largest = initial.size() ? initial.cwiseAbs().maxCoeff() : 0.0;
    return kDivergenceFactor * std::max(1.0, std::isfinite(largest) ? largest : 1.0);
}

// A step size too large for the score's scale makes chains blow up; report it instead of
// writing NaN or absurdly large samples.
void check_finite(const RowMatrix& z, std::int64_t step, double level, double bound) {
    const bool finite = z.allFinite();
    if (finite && (z.size() == 0 || z.cwiseAbs().maxCoeff() <= bound)) return;
    std::string where = "at step " + std::to_string(step) + (level > 0 ? " at noise level " + format_number(level) : "");
    const std::string reason = finite ? "chains moved beyond " + format_short(bound) + " standardised units"
                                      : "chains reached infinite or NaN values";
    throw Error(describe_at("sampler diverged", where, reason,
                         "lower --step-size (annealed steps scale with (sigma_i / sigma_min)^2)"));
}

// A score or log-density that is not finite at a point inside the divergence bound is a fault
// of the model, which a smaller step size would not mend. Beyond the bound, or at non-finite
// points, the chain diverged, and check_finite reports that. `values` has one row (score) or one
// entry (log-density) per chain of a block whose first chain is `first_chain`. Returns the error
// message for the first such chain, or "" when there is none.
template <typename Values>
std::string invalid_values_message(const RowMatrix& points, const Values& values, const char* quantity,
                                   std::int64_t step, double level, double bound, Eigen::Index first_chain) {
    if (values.allFinite()) return {};
    for (Eigen::Index c = 0; c < points.rows(); ++c) {
        const bool inside = points.row(c).allFinite() && points.row(c).cwiseAbs().maxCoeff() <= bound;
        if (!inside || values.row(c).allFinite()) continue;
        const std::string where = "for chain " + std::to_string(first_chain + c) + " at step " + std::to_string(step) +
                                  (level > 0 ? " at noise level " + format_number(level) : "");
        return describe_at(std::string("invalid ") + quantity, where,
                           "the model returned NaN or infinite values at a finite point",
                           "check the model there (with --init to start from it); a smaller --step-size "
                           "does not help");
    }
    return {};
}

// The first invalid score and log-density of a step over all blocks. They are thrown once the
// blocks are done, scores first, as a sampler that evaluated all chains at once would report
// them, so that the error does not depend on the block size.
struct InvalidValues {
    std::string score, log_density;

    static void record(std::string& first, std::string message) {
        if (first.empty()) first = std::move(message);
    }
    void throw_first() const {
        if (!score.empty()) throw Error(score);
        if (!log_density.empty()) throw Error(log_density);
    }
};

}  // namespace

void check_method_support(const ScoreModel& model, const LangevinOptions& o, const std::string& model_name) {
    if (o.method == LangevinMethod::mala && !model.has_log_density()) {
        throw Error(describe("cannot run MALA with model", model_name, "the model has no log-density",
                             "use --method ula or annealed, or an analytic model"));
    }
    if (o.method == LangevinMethod::annealed && o.levels.empty() && model.noise_levels().empty()) {
        throw Error(describe("cannot run annealed Langevin with model", model_name, "the model has no noise levels",
                             "give --sigma-max, --sigma-min and --levels"));
    }
}

namespace {

void check_options(const ScoreModel& model, const LangevinOptions& o, const RowMatrix& initial) {
    if (o.chains < 1) throw UsageError(describe("invalid --chains", std::to_string(o.chains), "must be at least 1"));
    if (o.steps < 1) throw UsageError(describe("invalid --steps", std::to_string(o.steps), "must be at least 1"));
    if (!(o.step_size > 0) || !std::isfinite(o.step_size)) {
        throw UsageError(describe("invalid --step-size", format_number(o.step_size), "must be positive"));
    }
    if (o.burn_in < 0 || o.burn_in >= o.steps) {
        throw UsageError(describe("invalid --burn-in", std::to_string(o.burn_in), "must be in [0, steps)"));
    }
    if (o.thin < 0) throw UsageError(describe("invalid --thin", std::to_string(o.thin), "must be 0 or positive"));
    if (o.thin > o.steps - o.burn_in) {
        throw UsageError(describe("invalid --thin", std::to_string(o.thin),
                                  "it keeps no sample of the " + std::to_string(o.steps - o.burn_in) +
                                      " steps after burn-in",
                                  "use more --steps or a smaller --thin"));
    }
    // Options of the other methods would be ignored without a word.
    if (o.method != LangevinMethod::annealed && o.denoise) {
        throw UsageError(describe("invalid option", "--denoise", "it applies to --method annealed only",
                                  "remove it, or use --method annealed"));
    }
    if (o.method == LangevinMethod::annealed && (o.burn_in > 0 || o.thin > 0 || o.sigma >= 0)) {
        std::string option = "--sigma";
        if (o.thin > 0) option = "--thin";
        if (o.burn_in > 0) option = "--burn-in";
        throw UsageError(describe("invalid option", option, "it applies to --method ula and mala only",
                                  "remove it; annealed keeps the final state of every chain"));
    }
    if (initial.size() && (initial.rows() != o.chains || initial.cols() != model.dim())) {
        throw UsageError(describe("invalid initial points",
                                  std::to_string(initial.rows()) + "x" + std::to_string(initial.cols()),
                                  "expected one row per chain: " + std::to_string(o.chains) + "x" +
                                      std::to_string(model.dim()),
                                  "give as many initial points as --chains"));
    }
    check_method_support(model, o, model.kind());
}

}  // namespace

LangevinMethod parse_langevin_method(const std::string& name) {
    if (name == "ula") return LangevinMethod::ula;
    if (name == "mala") return LangevinMethod::mala;
    if (name == "annealed") return LangevinMethod::annealed;
    throw UsageError(describe("invalid --method", name, "expected one of ula, mala, annealed"));
}

std::string to_string(LangevinMethod method) {
    switch (method) {
        case LangevinMethod::ula: return "ula";
        case LangevinMethod::mala: return "mala";
        case LangevinMethod::annealed: return "annealed";
    }
    return "?";
}

std::vector<double> geometric_levels(double sigma_max, double sigma_min, int count) {
    if (count < 1 || !(sigma_max > 0) || !(sigma_min > 0) || sigma_min > sigma_max) {
        throw UsageError(describe("invalid noise levels",
                                  format_number(sigma_max) + " to " + format_number(sigma_min) + " in " +
                                      std::to_string(count),
                                  "need 0 < sigma_min <= sigma_max and at least one level"));
    }
    std::vector<double> levels(count);
    for (int i = 0; i < count; ++i) {
        double t = count == 1 ? 0.0 : static_cast<double>(i) / (count - 1);
        levels[i] = sigma_max * std::pow(sigma_min / sigma_max, t);
    }
    return levels;
}

double mala_log_acceptance(const Vector& x, const Vector& y, const Vector& sx, const Vector& sy, double lpx,
                           double lpy, double eps) {
    double forward = (y - x - eps * sx).squaredNorm() / (4 * eps);
    double backward = (x - y - eps * sy).squaredNorm() / (4 * eps);
    return lpy - lpx + forward - backward;
}

std::int64_t kept_per_chain(const LangevinOptions& o) {
    return o.method == LangevinMethod::annealed || o.thin == 0 ? 1 : (o.steps - o.burn_in) / o.thin;
}

namespace {

// Returns the states that a chain has kept after `step` steps. Annealed sampling and thin = 0
// keep only the final state, which no checkpoint follows.
std::int64_t kept_after(const LangevinOptions& o, std::int64_t step) {
    if (o.method == LangevinMethod::annealed || o.thin == 0) return 0;
    return step > o.burn_in ? std::min(kept_per_chain(o), (step - o.burn_in) / o.thin) : 0;
}

// Throws Error where a state to resume from does not fit the run's chains and dimension, or
// records another count of kept samples than the run keeps up to its step.
void check_resume_state(const LangevinState& state, const LangevinOptions& o, Eigen::Index dim, std::int64_t total) {
    const Eigen::Index chains = o.chains;
    if (state.z.rows() != chains || state.z.cols() != dim || static_cast<Eigen::Index>(state.streams.size()) != chains) {
        throw Error(describe("cannot resume from a checkpoint of", std::to_string(state.z.rows()) + " chains in dimension " +
                                                                      std::to_string(state.z.cols()),
                             "the run has " + std::to_string(chains) + " chains in dimension " + std::to_string(dim),
                             "resume with the options and data of the interrupted run"));
    }
    const std::int64_t expected = state.step >= 0 && state.step < total ? kept_after(o, state.step) * chains : -1;
    if (state.kept_rows != expected) {
        throw Error(describe("cannot resume from a checkpoint with", std::to_string(state.kept_rows) + " kept rows after step " +
                                                                       std::to_string(state.step),
                             expected < 0 ? "the run has " + std::to_string(total) + " steps"
                                          : "the run keeps " + std::to_string(expected) + " rows by then",
                             "start the run again without --resume"));
    }
}

// Chains per block. The default keeps each block's matrices near 1 MiB and is a multiple of 64,
// the row block of the MLP evaluator, so that its blocks start at the same chains as in one
// call over all chains.
Eigen::Index chains_per_block(const LangevinOptions& o, Eigen::Index dim) {
    constexpr Eigen::Index kBlockValues = Eigen::Index(1) << 17;
    constexpr Eigen::Index kMlpBlock = 64;
    Eigen::Index block = o.block_chains;
    if (block <= 0) block = std::max(kMlpBlock, kBlockValues / std::max<Eigen::Index>(dim, 1) / kMlpBlock * kMlpBlock);
    return std::min<Eigen::Index>(block, o.chains);
}

}  // namespace

LangevinResult sample_langevin(const ScoreModel& model, const LangevinOptions& o, const RowMatrix& initial,
                            const StepCallback& on_step, const LangevinCheckpointing& checkpointing,
                            const KeptRowsCallback& on_kept) {
    check_options(model, o, initial);
    StandardisedModel target(model, o.threads);
    const Eigen::Index n = o.chains, d = model.dim();
    const Eigen::Index block = chains_per_block(o, d);
    LangevinResult result;

    std::vector<double> levels = o.levels.empty() ? model.noise_levels() : o.levels;
    result.levels = levels;
    double sigma = o.sigma >= 0 ? o.sigma : (o.levels.empty() ? model.default_sigma() : levels.back());
    const bool annealed = o.method == LangevinMethod::annealed;
    const std::int64_t total = annealed ? o.steps * static_cast<std::int64_t>(levels.size()) : o.steps;
    result.kept_per_chain = kept_per_chain(o);

    std::vector<Rng> streams;
    streams.reserve(n);
    for (Eigen::Index c = 0; c < n; ++c) streams.emplace_back(o.seed, o.first_chain + c);

    RowMatrix z(n, d);
    const LangevinState* resume = checkpointing.resume;
    if (resume) {
        check_resume_state(*resume, o, d, total);
        z = resume->z;
        for (Eigen::Index c = 0; c < n; ++c) streams[c].restore(resume->streams[c]);
        result.proposals = resume->proposals;
        result.accepted = resume->accepted;
    } else if (initial.size()) {
        z = (initial.rowwise() - model.location().transpose()).array().rowwise() / model.scale().transpose().array();
    } else {
        fill_normal(z, streams);
        z *= levels.empty() ? 1.0 : levels.front();
    }
    const double bound = resume ? resume->divergence_bound : divergence_bound(z);
    const std::int64_t first_step = resume ? resume->step : 0;

    // Without a receiver the samples are collected, as callers of the library expect them.
    KeptRowsCallback emit = on_kept;
    if (!emit) {
        result.samples.resize(result.kept_per_chain * n, d);
        emit = [&](const KeptRows& rows) { result.samples.middleRows(rows.first_row, rows.x.rows()) = rows.x; };
    }
    if (resume && resume->kept_rows > 0) {
        if (!checkpointing.read_kept) {
            throw Error(describe("cannot resume from step", std::to_string(resume->step),
                                 "the samples kept before it cannot be read"));
        }
        RowMatrix rows;
        for (std::int64_t first = 0; first < resume->kept_rows; first += block) {
            rows.resize(std::min<std::int64_t>(block, resume->kept_rows - first), d);
            checkpointing.read_kept(first, rows);
            const RowMatrix x = target.to_data(rows);
            emit(KeptRows{first, rows, x, true, false});
        }
    }
    std::int64_t kept_rows = resume ? resume->kept_rows : 0;

    // Hands the chains' current positions to `emit` block by block as kept state `kept_rows / n`.
    auto keep_positions = [&](bool last_step) {
        for (Eigen::Index start = 0; start < n; start += block) {
            const Eigen::Index rows = std::min(block, n - start);
            const RowMatrix z_rows = z.middleRows(start, rows);
            const RowMatrix x_rows = target.to_data(z_rows);
            emit(KeptRows{kept_rows + start, z_rows, x_rows, false, last_step});
        }
        kept_rows += n;
    };

    // Saves the state after `done` steps when a checkpoint is due or a signal arrived.
    auto checkpoint = [&](std::int64_t done) {
        if (!checkpointing.save || done == total) return;
        const bool interrupted = interrupt_requested();
        if (!interrupted && !(checkpointing.every > 0 && done % checkpointing.every == 0)) return;
        LangevinState state;
        state.step = done;
        state.z = z;
        for (const Rng& stream : streams) state.streams.push_back(stream.state());
        state.kept_rows = kept_rows;
        state.proposals = result.proposals;
        state.accepted = result.accepted;
        state.divergence_bound = bound;
        checkpointing.save(state, interrupted);
        if (interrupted) throw Interrupted("sampling interrupted after step " + std::to_string(done));
    };

    RowMatrix noise;  // one block's deviates, reused across blocks and steps
    if (annealed) {
        const double last = levels.back();
        std::int64_t done = first_step;
        for (size_t i = static_cast<size_t>(first_step / o.steps); i < levels.size(); ++i) {
            const double level = levels[i];
            const double alpha = o.step_size * level * level / (last * last);
            for (std::int64_t t = done % o.steps; t < o.steps; ++t) {
                InvalidValues invalid;
                for (Eigen::Index start = 0; start < n; start += block) {
                    const Eigen::Index rows = std::min(block, n - start);
                    noise.resize(rows, d);
                    fill_normal(noise, streams, start);
                    const RowMatrix z_rows = z.middleRows(start, rows);
                    const RowMatrix score = target.score(z_rows, level);
                    InvalidValues::record(invalid.score,
                                          invalid_values_message(z_rows, score, "score", done + 1, level, bound, start));
                    if (!invalid.score.empty()) break;
                    z.middleRows(start, rows) += (alpha / 2) * score + std::sqrt(alpha) * noise;
                }
                invalid.throw_first();
                if (t + 1 == o.steps) check_finite(z, done + 1, level, bound);
                ++done;
                if (on_step) on_step(done, total);
                checkpoint(done);
            }
        }
        if (o.denoise) {
            // E[x | x + sigma u] = z + sigma^2 s(z, sigma) removes the last level's noise
            // (Tweedie's formula), the usual last step of score-based samplers.
            for (Eigen::Index start = 0; start < n; start += block) {
                const Eigen::Index rows = std::min(block, n - start);
                const RowMatrix z_rows = z.middleRows(start, rows);
                z.middleRows(start, rows) += last * last * target.score(z_rows, last);
            }
            check_finite(z, done, last, bound);
        }
        keep_positions(true);
        return result;
    }

    const double eps = o.step_size;
    const bool mala = o.method == LangevinMethod::mala;
    // Per chain, the score and (MALA) log-density at its position, which the next step reuses.
    RowMatrix s(n, d);
    Vector log_p(mala ? n : 0);
    {
        InvalidValues invalid;
        for (Eigen::Index start = 0; start < n; start += block) {
            const Eigen::Index rows = std::min(block, n - start);
            const RowMatrix z_rows = z.middleRows(start, rows);
            s.middleRows(start, rows) = target.score(z_rows, sigma);
            InvalidValues::record(invalid.score, invalid_values_message(z_rows, s.middleRows(start, rows), "score",
                                                                        first_step, 0, bound, start));
            if (!mala) continue;
            log_p.segment(start, rows) = target.log_density(z_rows, sigma);
            InvalidValues::record(invalid.log_density,
                                  invalid_values_message(z_rows, log_p.segment(start, rows), "log-density", first_step,
                                                         0, bound, start));
        }
        invalid.throw_first();
    }

    RowMatrix proposal;  // one block's proposals
    for (std::int64_t step = first_step + 1; step <= o.steps; ++step) {
        InvalidValues invalid;
        for (Eigen::Index start = 0; start < n; start += block) {
            const Eigen::Index rows = std::min(block, n - start);
            noise.resize(rows, d);
            fill_normal(noise, streams, start);
            auto z_rows = z.middleRows(start, rows);
            auto s_rows = s.middleRows(start, rows);
            proposal.noalias() = z_rows + eps * s_rows + std::sqrt(2 * eps) * noise;
            const RowMatrix s_new = target.score(proposal, sigma);
            InvalidValues::record(invalid.score,
                                  invalid_values_message(proposal, s_new, "score", step, 0, bound, start));
            // The first invalid score is the error of this step, whatever later blocks hold.
            if (!invalid.score.empty()) break;
            if (!mala) {
                z_rows = proposal;
                s_rows = s_new;
                continue;
            }
            // After an invalid log-density only later blocks' scores can change the error.
            if (!invalid.log_density.empty()) continue;
            const Vector log_p_new = target.log_density(proposal, sigma);
            InvalidValues::record(invalid.log_density, invalid_values_message(proposal, log_p_new, "log-density",
                                                                              step, 0, bound, start));
            if (!invalid.log_density.empty()) continue;
            for (Eigen::Index r = 0; r < rows; ++r) {
                const Eigen::Index c = start + r;
                double log_ratio = mala_log_acceptance(z.row(c).transpose(), proposal.row(r).transpose(),
                                                       s.row(c).transpose(), s_new.row(r).transpose(), log_p(c),
                                                       log_p_new(r), eps);
                ++result.proposals;
                if (std::log(streams[c].uniform()) < log_ratio) {
                    ++result.accepted;
                    z.row(c) = proposal.row(r);
                    s.row(c) = s_new.row(r);
                    log_p(c) = log_p_new(r);
                }
            }
        }
        invalid.throw_first();
        if (step % 100 == 0 || step == o.steps) check_finite(z, step, 0, bound);
        bool keep = o.thin == 0 ? step == o.steps : (step > o.burn_in && (step - o.burn_in) % o.thin == 0);
        if (keep && kept_rows < result.kept_per_chain * n) keep_positions(step == o.steps);
        if (on_step) on_step(step, o.steps);
        checkpoint(step);
    }
    return result;
}

}  // namespace scorekit
