// Fisher information of the analytic family N(mu, sigma^2) in three parameterisations, a check
// of the estimators against closed forms. Per observation, in (mu, sigma) the Fisher information
// is diag(1 / sigma^2, 2 / sigma^2); with theta = (mu, s) and s = sigma, log sigma or sigma^2 it is
// diag(1 / sigma^2, 2 (d sigma / d s)^2 / sigma^2).
#include <cmath>

#include "scorekit/error.hpp"
#include "scorekit/fim.hpp"
#include "scorekit/rng.hpp"

namespace scorekit {

std::string NormalFamily::scale_name() const {
    switch (parameterisation) {
        case NormalParameterisation::mu_sigma: return "sigma";
        case NormalParameterisation::mu_log_sigma: return "log_sigma";
        case NormalParameterisation::mu_variance: return "variance";
    }
    return "?";
}

std::string to_string(NormalParameterisation parameterisation) {
    switch (parameterisation) {
        case NormalParameterisation::mu_sigma: return "mu-sigma";
        case NormalParameterisation::mu_log_sigma: return "mu-log-sigma";
        case NormalParameterisation::mu_variance: return "mu-variance";
    }
    return "?";
}

bool is_normal_family_spec(const std::string& spec) { return spec.rfind("normal:", 0) == 0; }

NormalFamily parse_normal_family(const std::string& spec) {
    NormalFamily family;
    const std::string hint = "write normal:mu=M,sigma=S[,parameters=mu-sigma|mu-log-sigma|mu-variance]";
    std::string rest = spec.substr(std::string("normal:").size());
    bool has_mu = false, has_sigma = false;
    size_t start = 0;
    while (start <= rest.size()) {
        size_t comma = rest.find(',', start);
        std::string field = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        size_t equals = field.find('=');
        if (equals == std::string::npos) throw UsageError(describe("invalid model", spec, "field \"" + field + "\" has no '='", hint));
        std::string key = field.substr(0, equals), value = field.substr(equals + 1);
        try {
            if (key == "mu") {
                family.mu = std::stod(value);
                has_mu = true;
            } else if (key == "sigma") {
                family.sigma = std::stod(value);
                has_sigma = true;
            } else if (key == "parameters") {
                if (value == "mu-sigma") family.parameterisation = NormalParameterisation::mu_sigma;
                else if (value == "mu-log-sigma") family.parameterisation = NormalParameterisation::mu_log_sigma;
                else if (value == "mu-variance") family.parameterisation = NormalParameterisation::mu_variance;
                else throw UsageError(describe("invalid model", spec, "unknown parameters \"" + value + "\"", hint));
            } else {
                throw UsageError(describe("invalid model", spec, "unknown field \"" + key + "\"", hint));
            }
        } catch (const std::invalid_argument&) {
            throw UsageError(describe("invalid model", spec, "\"" + value + "\" is not a number", hint));
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (!has_mu || !has_sigma || !(family.sigma > 0) || !std::isfinite(family.mu)) {
        throw UsageError(describe("invalid model", spec, "mu and a positive sigma are required", hint));
    }
    return family;
}

namespace {

// d sigma / d s for the second parameter s.
double scale_derivative(const NormalFamily& family) {
    switch (family.parameterisation) {
        case NormalParameterisation::mu_sigma: return 1.0;
        case NormalParameterisation::mu_log_sigma: return family.sigma;
        case NormalParameterisation::mu_variance: return 0.5 / family.sigma;
    }
    return 1.0;
}

// grad_theta log N(y; mu, sigma^2).
Eigen::Vector2d observation_score(const NormalFamily& family, double y) {
    const double s = family.sigma, r = y - family.mu;
    return {r / (s * s), (r * r - s * s) / (s * s * s) * scale_derivative(family)};
}

FisherMatrix from_dense(const RowMatrix& dense, std::vector<ParameterInfo> parameters, Representation representation) {
    FisherMatrix fisher;
    fisher.representation = representation;
    fisher.parameters = std::move(parameters);
    switch (representation) {
        case Representation::dense:
        case Representation::implicit: fisher.representation = Representation::dense; fisher.dense = dense; break;
        case Representation::diag: fisher.diagonal = dense.diagonal(); break;
        case Representation::block:
            for (const auto& p : fisher.parameters) {
                fisher.blocks.push_back({p.name, p.offset, p.size, dense.block(p.offset, p.offset, p.size, p.size)});
            }
            break;
        case Representation::kfac:
            throw UsageError(describe("cannot compute kfac for", "normal:", "the normal family has no linear layer",
                                      "use --representation dense or diag"));
    }
    return fisher;
}

}  // namespace

FisherMatrix normal_family_fisher(const NormalFamily& family, const RowMatrix& observations,
                                  const FisherProblem& problem, Representation representation) {
    if (observations.size() != 0 && observations.cols() != 1) {
        throw Error(describe("invalid observations for", "normal:",
                             std::to_string(observations.cols()) + " columns; the normal family is one-dimensional",
                             "give one observation per row"));
    }
    if (problem.estimator.needs_labels() && observations.size() == 0) {
        throw UsageError(describe("missing observations for", "--estimator empirical",
                                  "the empirical Fisher of the normal family uses observed data", "give --input"));
    }
    const std::int64_t count = observations.size() ? observations.rows() : 1;
    RowMatrix sum = RowMatrix::Zero(2, 2);
    switch (problem.estimator.kind) {
        case EstimatorSpec::Kind::exact: {
            const double s = family.sigma, d = scale_derivative(family);
            sum(0, 0) = count / (s * s);
            sum(1, 1) = count * 2 * d * d / (s * s);
            break;
        }
        case EstimatorSpec::Kind::monte_carlo: {
            Rng rng(problem.seed, 0);
            const int draws = problem.estimator.samples;
            for (std::int64_t n = 0; n < count; ++n) {
                for (int k = 0; k < draws; ++k) {
                    Eigen::Vector2d g = observation_score(family, family.mu + family.sigma * rng.normal());
                    sum += g * g.transpose() / draws;
                }
            }
            break;
        }
        case EstimatorSpec::Kind::empirical:
            for (std::int64_t n = 0; n < count; ++n) {
                Eigen::Vector2d g = observation_score(family, observations(n, 0));
                sum += g * g.transpose();
            }
            break;
    }
    if (problem.reduction == Reduction::mean) sum /= static_cast<double>(count);

    std::vector<ParameterInfo> parameters = {{family.mu_name(), {}, 0, 1, "", ""}, {family.scale_name(), {}, 1, 1, "", ""}};
    return from_dense(sum, parameters, representation);
}

}  // namespace scorekit
