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
    // whole batch at once: the MLP evaluator splits it over its own threads, and TorchScript
    // modules use LibTorch's thread pool.
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

// Row c takes its deviates from chain c's stream, so samples do not depend on threads or shards.
void fill_normal(RowMatrix& noise, std::vector<Rng>& streams) {
    const ZigguratNormal normal;
    for (Eigen::Index c = 0; c < noise.rows(); ++c) {
        Rng& stream = streams[c];
        double* row = noise.row(c).data();
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
// entry (log-density) per chain.
template <typename Values>
void check_model_values(const RowMatrix& points, const Values& values, const char* quantity, std::int64_t step,
                        double level, double bound) {
    if (values.allFinite()) return;
    for (Eigen::Index c = 0; c < points.rows(); ++c) {
        const bool inside = points.row(c).allFinite() && points.row(c).cwiseAbs().maxCoeff() <= bound;
        if (!inside || values.row(c).allFinite()) continue;
        const std::string where = "for chain " + std::to_string(c) + " at step " + std::to_string(step) +
                                  (level > 0 ? " at noise level " + format_number(level) : "");
        throw Error(describe_at(std::string("invalid ") + quantity, where,
                                "the model returned NaN or infinite values at a finite point",
                                "check the model there (with --init to start from it); a smaller --step-size "
                                "does not help"));
    }
}

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

namespace {

// Returns the states that ULA and MALA keep per chain: every thin-th step after burn-in, or the
// final state alone for thin = 0.
std::int64_t kept_per_chain(const LangevinOptions& o) { return o.thin == 0 ? 1 : (o.steps - o.burn_in) / o.thin; }

// Throws Error where a state to resume from does not fit the run's chains, dimension and kept
// samples.
void check_resume_state(const LangevinState& state, Eigen::Index chains, Eigen::Index dim, Eigen::Index kept_rows) {
    if (state.z.rows() != chains || state.z.cols() != dim || static_cast<Eigen::Index>(state.streams.size()) != chains ||
        (state.kept.size() > 0 && (state.kept.cols() != dim || state.kept.rows() > kept_rows))) {
        throw Error(describe("cannot resume from a checkpoint of", std::to_string(state.z.rows()) + " chains in dimension " +
                                                                      std::to_string(state.z.cols()),
                             "the run has " + std::to_string(chains) + " chains in dimension " + std::to_string(dim),
                             "resume with the options and data of the interrupted run"));
    }
}

}  // namespace

LangevinResult sample_langevin(const ScoreModel& model, const LangevinOptions& o, const RowMatrix& initial,
                            const StepCallback& on_step, const LangevinCheckpointing& checkpointing) {
    check_options(model, o, initial);
    StandardisedModel target(model, o.threads);
    const Eigen::Index n = o.chains, d = model.dim();
    LangevinResult result;

    std::vector<double> levels = o.levels.empty() ? model.noise_levels() : o.levels;
    result.levels = levels;
    double sigma = o.sigma >= 0 ? o.sigma : (o.levels.empty() ? model.default_sigma() : levels.back());

    std::vector<Rng> streams;
    streams.reserve(n);
    for (Eigen::Index c = 0; c < n; ++c) streams.emplace_back(o.seed, o.first_chain + c);

    RowMatrix z(n, d), noise(n, d);
    const LangevinState* resume = checkpointing.resume;
    if (resume) {
        const Eigen::Index kept_rows = o.method == LangevinMethod::annealed ? 0 : kept_per_chain(o) * n;
        check_resume_state(*resume, n, d, kept_rows);
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

    // Saves the state after `done` steps when a checkpoint is due or a signal arrived.
    auto checkpoint = [&](std::int64_t done, std::int64_t total, const RowMatrix& kept) {
        if (!checkpointing.save || done == total) return;
        const bool interrupted = interrupt_requested();
        if (!interrupted && !(checkpointing.every > 0 && done % checkpointing.every == 0)) return;
        LangevinState state;
        state.step = done;
        state.z = z;
        for (const Rng& stream : streams) state.streams.push_back(stream.state());
        state.kept = kept;
        state.proposals = result.proposals;
        state.accepted = result.accepted;
        state.divergence_bound = bound;
        checkpointing.save(state, interrupted);
        if (interrupted) throw Interrupted("sampling interrupted after step " + std::to_string(done));
    };

    if (o.method == LangevinMethod::annealed) {
        const double last = levels.back();
        const std::int64_t total = o.steps * static_cast<std::int64_t>(levels.size());
        const RowMatrix no_samples;
        std::int64_t done = first_step;
        for (size_t i = static_cast<size_t>(first_step / o.steps); i < levels.size(); ++i) {
            const double level = levels[i];
            const double alpha = o.step_size * level * level / (last * last);
            for (std::int64_t t = done % o.steps; t < o.steps; ++t) {
                fill_normal(noise, streams);
                const RowMatrix score = target.score(z, level);
                check_model_values(z, score, "score", done + 1, level, bound);
                z += (alpha / 2) * score + std::sqrt(alpha) * noise;
                if (t + 1 == o.steps) check_finite(z, done + 1, level, bound);
                ++done;
                if (on_step) on_step(done, total);
                checkpoint(done, total, no_samples);
            }
        }
        if (o.denoise) {
            // E[x | x + sigma u] = z + sigma^2 s(z, sigma) removes the last level's noise
            // (Tweedie's formula), the usual last step of score-based samplers.
            z += last * last * target.score(z, last);
            check_finite(z, done, last, bound);
        }
        result.samples = target.to_data(z);
        result.kept_per_chain = 1;
        return result;
    }

    const double eps = o.step_size;
    const std::int64_t kept = kept_per_chain(o);
    result.kept_per_chain = kept;
    // NOTE: every kept sample stays in memory until the run ends, and is copied once more into
    // data coordinates at the end: 1,000,000 chains of D = 16 peaked at 1.07 GB. --shard bounds it.
    RowMatrix samples_z(kept * n, d);
    std::int64_t next_row = 0;
    if (resume && resume->kept.rows() > 0) {
        samples_z.topRows(resume->kept.rows()) = resume->kept;
        next_row = resume->kept.rows();
    }
    RowMatrix s = target.score(z, sigma);
    check_model_values(z, s, "score", first_step, 0, bound);
    RowMatrix proposal(n, d);  // allocated once, because ULA swaps it with z on every step
    Vector log_p;
    if (o.method == LangevinMethod::mala) {
        log_p = target.log_density(z, sigma);
        check_model_values(z, log_p, "log-density", first_step, 0, bound);
    }

    for (std::int64_t step = first_step + 1; step <= o.steps; ++step) {
        fill_normal(noise, streams);
        proposal.noalias() = z + eps * s + std::sqrt(2 * eps) * noise;
        RowMatrix s_new = target.score(proposal, sigma);
        check_model_values(proposal, s_new, "score", step, 0, bound);
        if (o.method == LangevinMethod::ula) {
            z.swap(proposal);
            s.swap(s_new);
        } else {
            Vector log_p_new = target.log_density(proposal, sigma);
            check_model_values(proposal, log_p_new, "log-density", step, 0, bound);
            for (Eigen::Index c = 0; c < n; ++c) {
                double log_ratio = mala_log_acceptance(z.row(c).transpose(), proposal.row(c).transpose(),
                                                       s.row(c).transpose(), s_new.row(c).transpose(), log_p(c),
                                                       log_p_new(c), eps);
                ++result.proposals;
                if (std::log(streams[c].uniform()) < log_ratio) {
                    ++result.accepted;
                    z.row(c) = proposal.row(c);
                    s.row(c) = s_new.row(c);
                    log_p(c) = log_p_new(c);
                }
            }
        }
        if (step % 100 == 0 || step == o.steps) check_finite(z, step, 0, bound);
        bool keep = o.thin == 0 ? step == o.steps : (step > o.burn_in && (step - o.burn_in) % o.thin == 0);
        if (keep && next_row < kept * n) {
            samples_z.middleRows(next_row, n) = z;
            next_row += n;
        }
        if (on_step) on_step(step, o.steps);
        checkpoint(step, o.steps, samples_z.topRows(next_row));
    }
    result.samples = target.to_data(samples_z);
    return result;
}

}  // namespace scorekit
