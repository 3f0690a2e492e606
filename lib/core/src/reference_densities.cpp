#include "scorekit/reference_densities.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "scorekit/error.hpp"

namespace scorekit {
namespace {

const char* kReferenceSyntax = "use halfplane, exponential, or either with :dim=D (D >= 1)";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_points(const ScoreModel& model, const RowMatrix& x) {
    if (x.cols() != model.dim()) {
        throw Error(describe("cannot evaluate model", model.kind(),
                             "points have dimension " + std::to_string(x.cols()) + ", model has " +
                                 std::to_string(model.dim()),
                             ""));
    }
}

// Noise-perturbed half-plane density p_sigma(y) = sigma psi(u), u = y / sigma, with
// psi(u) = phi(u) + u Phi(u). Returns log p, the score dp/dy / p and its derivative.
struct HalfPlaneTerms {
    double log_density;
    double score;
    double score_derivative;
};

HalfPlaneTerms half_plane_terms(double y, double sigma) {
    if (sigma <= 0) {
        if (!(y > 0)) return {-std::numeric_limits<double>::infinity(), kNaN, kNaN};
        return {std::log(y), 1 / y, -1 / (y * y)};
    }
    const long double u = y / sigma;
    if (u > -25) {
        // Long double keeps the cancellation in phi(u) + u Phi(u) harmless down to u = -25.
        const long double phi = std::exp(-u * u / 2) / std::sqrt(2 * static_cast<long double>(M_PI));
        const long double cdf = 0.5L * std::erfc(-u / std::sqrt(2.0L));
        const long double f = sigma * (phi + u * cdf);
        const long double s = cdf / f;
        return {static_cast<double>(std::log(f)), static_cast<double>(s),
                static_cast<double>(phi / (sigma * f) - s * s)};
    }
    // Asymptotic series (Abramowitz and Stegun 26.2.12): Phi(u) ~ phi(u) / |u| A and
    // psi(u) ~ phi(u) / u^2 B, truncated where the next term is below 1e-10 at u = -25.
    const long double w = 1 / (u * u);
    const long double a = 1 - w + 3 * w * w - 15 * w * w * w + 105 * w * w * w * w;
    const long double b = 1 - 3 * w + 15 * w * w - 105 * w * w * w + 945 * w * w * w * w;
    const long double s = -u * a / (sigma * b);
    const long double log_phi = -u * u / 2 - 0.5L * std::log(2 * static_cast<long double>(M_PI));
    const long double log_f = std::log(static_cast<long double>(sigma)) + log_phi + std::log(w * b);
    const long double derivative = 1 / (w * sigma * sigma * b) - s * s;
    return {static_cast<double>(log_f), static_cast<double>(s), static_cast<double>(derivative)};
}

int parse_dim(const std::string& spec) {
    const size_t colon = spec.find(':');
    if (colon == std::string::npos || colon + 1 == spec.size()) return 2;
    const std::string body = spec.substr(colon + 1);
    if (body.rfind("dim=", 0) != 0) {
        throw UsageError(describe("invalid model", spec, "unknown key in \"" + body + "\"", kReferenceSyntax));
    }
    char* end = nullptr;
    const long dim = std::strtol(body.c_str() + 4, &end, 10);
    if (body.size() == 4 || *end != '\0' || dim < 1 || dim > 1000000) {
        throw UsageError(describe("invalid model", spec, "dim must be a positive integer", kReferenceSyntax));
    }
    return static_cast<int>(dim);
}

}  // namespace

HalfPlaneModel::HalfPlaneModel(int dim) : dim_(dim) {}

RowMatrix HalfPlaneModel::score(const RowMatrix& x, double sigma) const {
    check_points(*this, x);
    RowMatrix result = RowMatrix::Zero(x.rows(), dim_);
    for (Eigen::Index i = 0; i < x.rows(); ++i) result(i, dim_ - 1) = half_plane_terms(x(i, dim_ - 1), sigma).score;
    return result;
}

Vector HalfPlaneModel::log_density(const RowMatrix& x, double sigma) const {
    check_points(*this, x);
    Vector result(x.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i) result(i) = half_plane_terms(x(i, dim_ - 1), sigma).log_density;
    return result;
}

RowMatrix HalfPlaneModel::score_jacobian(const RowMatrix& x, double sigma) const {
    check_points(*this, x);
    RowMatrix result = RowMatrix::Zero(x.rows(), static_cast<Eigen::Index>(dim_) * dim_);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        result(i, static_cast<Eigen::Index>(dim_) * dim_ - 1) = half_plane_terms(x(i, dim_ - 1), sigma).score_derivative;
    }
    return result;
}

RowMatrix HalfPlaneModel::score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const {
    check_points(*this, x);
    RowMatrix result = RowMatrix::Zero(x.rows(), dim_);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        result(i, dim_ - 1) = half_plane_terms(x(i, dim_ - 1), sigma).score_derivative * v(i, dim_ - 1);
    }
    return result;
}

ExponentialModel::ExponentialModel(int dim) : dim_(dim) {}

RowMatrix ExponentialModel::score(const RowMatrix& x, double) const {
    check_points(*this, x);
    RowMatrix result = RowMatrix::Zero(x.rows(), dim_);
    result.col(dim_ - 1).setConstant(-1.0);
    return result;
}

Vector ExponentialModel::log_density(const RowMatrix& x, double sigma) const {
    check_points(*this, x);
    return (-x.col(dim_ - 1).array() + 0.5 * sigma * sigma).matrix();
}

RowMatrix ExponentialModel::score_jacobian(const RowMatrix& x, double) const {
    check_points(*this, x);
    return RowMatrix::Zero(x.rows(), static_cast<Eigen::Index>(dim_) * dim_);
}

RowMatrix ExponentialModel::score_jvp(const RowMatrix& x, const RowMatrix&, double) const {
    check_points(*this, x);
    return RowMatrix::Zero(x.rows(), dim_);
}

bool is_reference_density_spec(const std::string& spec) {
    for (const std::string name : {"halfplane", "exponential"}) {
        if (spec == name || spec.rfind(name + ":", 0) == 0) return true;
    }
    return false;
}

std::unique_ptr<ScoreModel> parse_reference_density(const std::string& spec) {
    if (spec == "halfplane" || spec.rfind("halfplane:", 0) == 0) return std::make_unique<HalfPlaneModel>(parse_dim(spec));
    if (spec == "exponential" || spec.rfind("exponential:", 0) == 0) {
        return std::make_unique<ExponentialModel>(parse_dim(spec));
    }
    throw UsageError(describe("invalid model", spec, "not a reference density", kReferenceSyntax));
}

}  // namespace scorekit
