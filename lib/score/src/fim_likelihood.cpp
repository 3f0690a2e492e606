#include "fim_likelihood.hpp"

#include <cmath>

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

// Square-root factors S of Lambda with Lambda = S S^T, as [R, B, C].
torch::Tensor exact_vectors(const torch::Tensor& f, const FisherProblem& problem) {
    const int64_t batch = f.size(0), outputs = f.size(1);
    switch (problem.likelihood) {
        case Likelihood::categorical: {
            // Lambda = diag(p) - p p^T = D (I - s s^T) D with s = sqrt(p), D = diag(s), has rank
            // C - 1, so C - 1 columns suffice. The Householder reflection H = I - v v^T / (1 - s_k),
            // v = s - e_k, maps e_k to s; its other columns are an orthonormal basis of s's
            // complement, so S = D H without column k. k is the most likely class, and
            // 1 - s_k = (1 - p_k) / (1 + s_k), with 1 - p_k summed over the other classes, stays
            // accurate when p_k is near 1.
            // Computed in float64 even for --single: the factors are small, and float32 lost
            // about 1e-6 relative accuracy in KFAC's G.
            torch::Tensor p = torch::softmax(f.to(torch::kFloat64), 1);  // [B, C]
            torch::Tensor s = p.sqrt();
            torch::Tensor k = p.argmax(1, /*keepdim=*/true);  // [B, 1]
            torch::Tensor unit = torch::zeros_like(s).scatter_(1, k, 1.0);     // e_k [B, C]
            torch::Tensor others = (p * (1 - unit)).sum(1, /*keepdim=*/true);  // 1 - p_k without cancellation
            torch::Tensor rest = others / (1 + s.gather(1, k));                 // 1 - s_k
            torch::Tensor v = s - unit;                                          // [B, C]
            // Where p_k rounds to 1, Lambda and v vanish: the factor is 0, not 0 / 0.
            torch::Tensor w = torch::where(rest > 0, s / rest, torch::zeros_like(s));
            torch::Tensor eye = torch::eye(outputs, p.options()).unsqueeze(0);  // [1, C, C]
            torch::Tensor h = eye - v.unsqueeze(2) * w.unsqueeze(1);            // [B, i, j]
            torch::Tensor factors = s.unsqueeze(2) * h;                        // D H
            torch::Tensor columns = torch::arange(outputs - 1, k.options()).unsqueeze(0);  // [1, C - 1]
            columns = columns + (columns >= k).to(torch::kLong);                           // skip column k
            torch::Tensor basis = factors.gather(2, columns.unsqueeze(1).expand({batch, outputs, outputs - 1}));
            return basis.permute({2, 0, 1}).to(f.scalar_type()).contiguous();  // [C - 1, B, C]
        }
        case Likelihood::bernoulli: {
            torch::Tensor p = torch::sigmoid(f);
            return (p * (1 - p)).sqrt().unsqueeze(0);  // [1, B, 1]
        }
        case Likelihood::gaussian: {
            torch::Tensor eye = torch::eye(outputs, f.options()) / problem.sigma;  // [C, C]
            return eye.unsqueeze(1).expand({outputs, batch, outputs}).contiguous();
        }
    }
    return {};
}

// K draws y ~ p(. | f) per input, each giving d log p(y | f) / df / sqrt(K). Input n of the batch
// draws from its own stream first_row + n, so the draws do not depend on the batch size.
torch::Tensor sampled_vectors(const torch::Tensor& f, const FisherProblem& problem, std::uint64_t first_row) {
    const int64_t batch = f.size(0), outputs = f.size(1), draws = problem.estimator.samples;
    torch::Tensor f64 = f.to(torch::kFloat64).contiguous();
    torch::Tensor result = torch::zeros({draws, batch, outputs}, torch::kFloat64);
    auto out = result.accessor<double, 3>();
    const double weight = 1.0 / std::sqrt(static_cast<double>(draws));

    if (problem.likelihood == Likelihood::categorical) {
        torch::Tensor p = torch::softmax(f64, 1).contiguous();
        auto prob = p.accessor<double, 2>();
        for (int64_t n = 0; n < batch; ++n) {
            Rng rng(problem.seed, first_row + n);
            for (int64_t k = 0; k < draws; ++k) {
                // Inverse CDF; the last class takes any rounding remainder.
                double u = rng.uniform(), cumulative = 0;
                int64_t y = outputs - 1;
                for (int64_t c = 0; c + 1 < outputs; ++c) {
                    cumulative += prob[n][c];
                    if (u < cumulative) {
                        y = c;
                        break;
                    }
                }
                for (int64_t c = 0; c < outputs; ++c) out[k][n][c] = weight * ((c == y ? 1.0 : 0.0) - prob[n][c]);
            }
        }
    } else if (problem.likelihood == Likelihood::bernoulli) {
        torch::Tensor p = torch::sigmoid(f64).contiguous();
        auto prob = p.accessor<double, 2>();
        for (int64_t n = 0; n < batch; ++n) {
            Rng rng(problem.seed, first_row + n);
            for (int64_t k = 0; k < draws; ++k) {
                double y = rng.uniform() < prob[n][0] ? 1.0 : 0.0;
                out[k][n][0] = weight * (y - prob[n][0]);
            }
        }
    } else {
        // y = f + sigma z gives d log p / df = (y - f) / sigma^2 = z / sigma.
        for (int64_t n = 0; n < batch; ++n) {
            Rng rng(problem.seed, first_row + n);
            for (int64_t k = 0; k < draws; ++k) {
                for (int64_t c = 0; c < outputs; ++c) out[k][n][c] = weight * rng.normal() / problem.sigma;
            }
        }
    }
    return result.to(f.scalar_type());
}

}  // namespace

torch::Tensor log_likelihood_output_gradient(const torch::Tensor& f, const torch::Tensor& labels,
                                             const FisherProblem& problem) {
    switch (problem.likelihood) {
        case Likelihood::categorical: {
            torch::Tensor onehot = torch::one_hot(labels.view({-1}).to(torch::kLong), f.size(1)).to(f.scalar_type());
            return onehot - torch::softmax(f, 1);
        }
        case Likelihood::bernoulli: return labels.to(f.scalar_type()).view({-1, 1}) - torch::sigmoid(f);
        case Likelihood::gaussian: return (labels.to(f.scalar_type()) - f) / (problem.sigma * problem.sigma);
    }
    return {};
}

torch::Tensor output_vectors(const torch::Tensor& f, const torch::Tensor& labels, const FisherProblem& problem,
                             std::uint64_t first_row) {
    switch (problem.estimator.kind) {
        case EstimatorSpec::Kind::exact: return exact_vectors(f, problem);
        case EstimatorSpec::Kind::monte_carlo: return sampled_vectors(f, problem, first_row);
        case EstimatorSpec::Kind::empirical: return log_likelihood_output_gradient(f, labels, problem).unsqueeze(0);
    }
    return {};
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
        throw Error(describe_at("invalid labels", "with " + std::to_string(labels.cols()) + " columns",
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
