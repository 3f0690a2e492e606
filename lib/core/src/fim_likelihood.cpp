#include "fim_likelihood.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/rng.hpp"

namespace scorekit {

Likelihood parse_likelihood(const std::string& name) {
    if (name == "categorical") return Likelihood::categorical;
    if (name == "bernoulli") return Likelihood::bernoulli;
    if (name == "gaussian") return Likelihood::gaussian;
    throw UsageError(describe("invalid --likelihood", name, "expected one of categorical, bernoulli, gaussian"));
}

std::string to_string(Likelihood likelihood) {
    switch (likelihood) {
        case Likelihood::categorical: return "categorical";
        case Likelihood::bernoulli: return "bernoulli";
        case Likelihood::gaussian: return "gaussian";
    }
    return "?";
}

EstimatorSpec parse_estimator(const std::string& text) {
    EstimatorSpec spec;
    if (text == "exact") return spec;
    if (text == "empirical") {
        spec.kind = EstimatorSpec::Kind::empirical;
        return spec;
    }
    if (text.rfind("mc:", 0) == 0) {
        try {
            size_t used = 0;
            int k = std::stoi(text.substr(3), &used);
            if (used == text.size() - 3 && k >= 1) {
                spec.kind = EstimatorSpec::Kind::monte_carlo;
                spec.samples = k;
                return spec;
            }
        } catch (const std::exception&) {
        }
    }
    throw UsageError(describe("invalid --estimator", text, "expected exact, mc:K with an integer K >= 1, or empirical"));
}

std::string EstimatorSpec::name() const {
    switch (kind) {
        case Kind::exact: return "exact";
        case Kind::monte_carlo: return "mc:" + std::to_string(samples);
        case Kind::empirical: return "empirical";
    }
    return "?";
}

std::string EstimatorSpec::quantity() const {
    return kind == Kind::empirical ? "empirical Fisher (not an estimate of the Fisher information)"
                                   : "Fisher information";
}

Reduction parse_reduction(const std::string& name) {
    if (name == "sum") return Reduction::sum;
    if (name == "mean") return Reduction::mean;
    throw UsageError(describe("invalid --reduction", name, "expected sum or mean"));
}

std::string to_string(Reduction reduction) { return reduction == Reduction::sum ? "sum" : "mean"; }

std::int64_t vectors_per_input(const FisherProblem& problem, std::int64_t outputs) {
    switch (problem.estimator.kind) {
        case EstimatorSpec::Kind::exact:
            if (problem.likelihood == Likelihood::bernoulli) return 1;
            return problem.likelihood == Likelihood::categorical ? outputs - 1 : outputs;
        case EstimatorSpec::Kind::monte_carlo: return problem.estimator.samples;
        case EstimatorSpec::Kind::empirical: return 1;
    }
    return 1;
}

namespace {

// Square-root factors S of Lambda with Lambda = S S^T, as e [R, B, C].
void exact_vectors(const double* f, std::int64_t batch, std::int64_t outputs, const FisherProblem& problem,
                   double* e) {
    switch (problem.likelihood) {
        case Likelihood::categorical: {
            // Lambda = diag(p) - p p^T = D (I - s s^T) D with s = sqrt(p), D = diag(s), has rank
            // C - 1, so C - 1 columns suffice. The Householder reflection H = I - v w^T with
            // v = s - e_k and w = s / (1 - s_k) maps e_k to s; its other columns are an
            // orthonormal basis of s's complement, so S = D H without column k. k is the most
            // likely class, and 1 - s_k = (1 - p_k) / (1 + s_k), with 1 - p_k summed over the
            // other classes, stays accurate when p_k is near 1.
            // Computed in float64 also for --single: the factors are small, and float32 lost
            // about 1e-6 relative accuracy in KFAC's G.
            std::vector<double> p(outputs), s(outputs), v(outputs), w(outputs);
            for (std::int64_t n = 0; n < batch; ++n) {
                const double* logits = f + n * outputs;
                const double top = *std::max_element(logits, logits + outputs);
                double total = 0;
                for (std::int64_t c = 0; c < outputs; ++c) total += p[c] = std::exp(logits[c] - top);
                std::int64_t k = 0;
                for (std::int64_t c = 0; c < outputs; ++c) {
                    p[c] /= total;
                    s[c] = std::sqrt(p[c]);
                    if (p[c] > p[k]) k = c;
                }
                double others = 0;
                for (std::int64_t c = 0; c < outputs; ++c) others += c == k ? 0.0 : p[c];
                const double rest = others / (1 + s[k]);  // 1 - s_k
                for (std::int64_t c = 0; c < outputs; ++c) {
                    // v_k = s_k - 1 equals -rest, which keeps full relative accuracy where the
                    // subtraction would keep only about eps / (1 - s_k).
                    v[c] = c == k ? -rest : s[c];
                    // Where p_k rounds to 1, Lambda and v vanish: the factor is 0, not 0 / 0.
                    w[c] = rest > 0 ? s[c] / rest : 0.0;
                }
                std::int64_t r = 0;
                for (std::int64_t j = 0; j < outputs; ++j) {
                    if (j == k) continue;
                    double* column = e + (r++ * batch + n) * outputs;
                    for (std::int64_t i = 0; i < outputs; ++i) column[i] = s[i] * ((i == j ? 1.0 : 0.0) - v[i] * w[j]);
                }
            }
            return;
        }
        case Likelihood::bernoulli:
            for (std::int64_t n = 0; n < batch; ++n) {
                const double p = 1 / (1 + std::exp(-f[n]));
                e[n] = std::sqrt(p * (1 - p));
            }
            return;
        case Likelihood::gaussian:
            std::fill(e, e + outputs * batch * outputs, 0.0);
            for (std::int64_t r = 0; r < outputs; ++r) {
                for (std::int64_t n = 0; n < batch; ++n) e[(r * batch + n) * outputs + r] = 1 / problem.sigma;
            }
            return;
    }
}

void softmax_row(const double* logits, std::int64_t outputs, double* p) {
    const double top = *std::max_element(logits, logits + outputs);
    double total = 0;
    for (std::int64_t c = 0; c < outputs; ++c) total += p[c] = std::exp(logits[c] - top);
    for (std::int64_t c = 0; c < outputs; ++c) p[c] /= total;
}

// K draws y ~ p(. | f) per input, each giving d log p(y | f) / df / sqrt(K). Input n of the batch
// draws from its own stream first_input + first_row + n, so the draws depend neither on the
// batch size nor on how the inputs are split into shards.
void sampled_vectors(const double* f, std::int64_t batch, std::int64_t outputs, const FisherProblem& problem,
                     std::uint64_t first_row, double* e) {
    const std::int64_t draws = problem.estimator.samples;
    const double weight = 1.0 / std::sqrt(static_cast<double>(draws));
    std::vector<double> p(outputs);
    for (std::int64_t n = 0; n < batch; ++n) {
        Rng rng(problem.seed, problem.first_input + first_row + n);
        const double* logits = f + n * outputs;
        if (problem.likelihood == Likelihood::categorical) softmax_row(logits, outputs, p.data());
        for (std::int64_t k = 0; k < draws; ++k) {
            double* out = e + (k * batch + n) * outputs;
            if (problem.likelihood == Likelihood::categorical) {
                // Inverse CDF; the last class takes any rounding remainder.
                double u = rng.uniform(), cumulative = 0;
                std::int64_t y = outputs - 1;
                for (std::int64_t c = 0; c + 1 < outputs; ++c) {
                    cumulative += p[c];
                    if (u < cumulative) {
                        y = c;
                        break;
                    }
                }
                for (std::int64_t c = 0; c < outputs; ++c) out[c] = weight * ((c == y ? 1.0 : 0.0) - p[c]);
            } else if (problem.likelihood == Likelihood::bernoulli) {
                const double probability = 1 / (1 + std::exp(-logits[0]));
                double y = rng.uniform() < probability ? 1.0 : 0.0;
                out[0] = weight * (y - probability);
            } else {
                // y = f + sigma z gives d log p / df = (y - f) / sigma^2 = z / sigma.
                for (std::int64_t c = 0; c < outputs; ++c) out[c] = weight * rng.normal() / problem.sigma;
            }
        }
    }
}

}  // namespace

void log_likelihood_output_gradient(const double* f, std::int64_t batch, std::int64_t outputs, const double* labels,
                                    const FisherProblem& problem, double* e) {
    switch (problem.likelihood) {
        case Likelihood::categorical:
            for (std::int64_t n = 0; n < batch; ++n) {
                double* out = e + n * outputs;
                softmax_row(f + n * outputs, outputs, out);
                const auto y = static_cast<std::int64_t>(labels[n]);
                for (std::int64_t c = 0; c < outputs; ++c) out[c] = (c == y ? 1.0 : 0.0) - out[c];
            }
            return;
        case Likelihood::bernoulli:
            for (std::int64_t n = 0; n < batch; ++n) e[n] = labels[n] - 1 / (1 + std::exp(-f[n]));
            return;
        case Likelihood::gaussian:
            for (std::int64_t i = 0; i < batch * outputs; ++i) e[i] = (labels[i] - f[i]) / (problem.sigma * problem.sigma);
            return;
    }
}

void check_finite_outputs(const double* f, std::int64_t batch, std::int64_t outputs, const FisherProblem& problem,
                          std::uint64_t first_row) {
    for (std::int64_t n = 0; n < batch; ++n) {
        for (std::int64_t c = 0; c < outputs; ++c) {
            const double value = f[n * outputs + c];
            if (std::isfinite(value)) continue;
            const std::uint64_t input = problem.first_input + first_row + static_cast<std::uint64_t>(n) + 1;
            throw Error(describe_at("invalid model output", "at input " + std::to_string(input) + ", output " +
                                                                std::to_string(c + 1),
                                    "the value is " + format_number(value) + ", and the likelihood needs finite outputs",
                                    "check the model's parameters and the scale of that input"));
        }
    }
}

void output_vectors(const double* f, std::int64_t batch, std::int64_t outputs, const double* labels,
                    const FisherProblem& problem, std::uint64_t first_row, double* e) {
    // An infinite or NaN logit would give a Fisher matrix of zeros or NaN without any error.
    check_finite_outputs(f, batch, outputs, problem, first_row);
    switch (problem.estimator.kind) {
        case EstimatorSpec::Kind::exact: return exact_vectors(f, batch, outputs, problem, e);
        case EstimatorSpec::Kind::monte_carlo: return sampled_vectors(f, batch, outputs, problem, first_row, e);
        case EstimatorSpec::Kind::empirical: return log_likelihood_output_gradient(f, batch, outputs, labels, problem, e);
    }
}

void check_outputs_and_labels(const std::string& source, std::int64_t outputs, const Labels& labels,
                              const FisherProblem& problem) {
    if (problem.likelihood == Likelihood::categorical && outputs < 2) {
        throw Error(describe("cannot use the categorical likelihood with", source,
                             "the model has " + std::to_string(outputs) + " output; categorical needs C >= 2 logits",
                             "use --likelihood bernoulli for a single logit"));
    }
    if (problem.likelihood == Likelihood::bernoulli && outputs != 1) {
        throw Error(describe("cannot use the bernoulli likelihood with", source,
                             "the model has " + std::to_string(outputs) + " outputs; bernoulli needs one logit",
                             "use --likelihood categorical for C logits"));
    }
    if (problem.likelihood == Likelihood::gaussian && !(problem.sigma > 0)) {
        throw UsageError(describe("invalid --sigma", format_number(problem.sigma), "the gaussian likelihood needs sigma > 0"));
    }
    if (labels.size() == 0) return;

    const std::int64_t width = problem.likelihood == Likelihood::gaussian ? outputs : 1;
    if (labels.cols() != width) {
        const std::string columns = std::to_string(labels.cols()) + (labels.cols() == 1 ? " column" : " columns");
        throw Error(describe_at("invalid labels", "with " + columns,
                             "the " + to_string(problem.likelihood) + " likelihood needs " + std::to_string(width) +
                                 " label column" + (width == 1 ? "" : "s"),
                             problem.likelihood == Likelihood::gaussian ? "give one target per model output"
                                                                        : "give one label per input"));
    }
    if (problem.likelihood == Likelihood::gaussian) return;
    const double classes = problem.likelihood == Likelihood::categorical ? static_cast<double>(outputs) : 2.0;
    for (Eigen::Index row = 0; row < labels.rows(); ++row) {
        double y = labels(row, 0);
        if (!(y >= 0 && y < classes && y == std::floor(y))) {
            throw Error(describe("invalid label", "row " + std::to_string(row + 1) + ": " + format_number(y),
                                 "labels must be integers in [0, " + format_number(classes - 1) + "]",
                                 problem.likelihood == Likelihood::categorical ? "give 0-based class indices"
                                                                              : "give 0 or 1"));
        }
    }
}

}  // namespace scorekit
