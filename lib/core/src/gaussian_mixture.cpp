#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <utility>

#include "scorekit/error.hpp"
#include "scorekit/rng.hpp"
#include "scorekit/score_model.hpp"

namespace scorekit {

struct GaussianMixtureModel::ComponentCache {
    // Annealed sampling uses one sigma per noise level. The bound keeps callers that pass many
    // distinct sigmas from growing the cache without end.
    static constexpr size_t max_entries = 64;

    std::mutex mutex;
    std::vector<std::pair<double, std::shared_ptr<const PerturbedComponents>>> entries;
};

namespace {

// Computes the scores of the rows of x for D = Dim known at compile time, one row at a time.
// It allocates nothing per row and reads each point once, whereas evaluate() allocates [N, D]
// blocks per component and passes over the points K + 2 times.
template <int Dim>
void score_rows(const RowMatrix& x, const RowMatrix& means, const std::vector<RowMatrix>& precisions,
                const std::vector<double>& log_constants, RowMatrix& out) {
    using Point = Eigen::Matrix<double, 1, Dim>;
    using Square = Eigen::Matrix<double, Dim, Dim, Eigen::RowMajor>;
    const size_t k = log_constants.size();
    std::vector<Point> mean(k), projected(k);
    std::vector<Square> precision(k);
    std::vector<double> log_term(k);
    for (size_t c = 0; c < k; ++c) {
        mean[c] = means.row(static_cast<Eigen::Index>(c));
        precision[c] = precisions[c];
    }

    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        const Eigen::Map<const Point> point(x.row(i).data());
        double top = -std::numeric_limits<double>::infinity();
        for (size_t c = 0; c < k; ++c) {
            const Point centred = point - mean[c];
            projected[c].noalias() = centred * precision[c];
            log_term[c] = log_constants[c] - 0.5 * centred.dot(projected[c]);
            top = std::max(top, log_term[c]);
        }

        // Responsibilities r_c = exp(l_c - top) / total, and s = -sum_c r_c C_c^-1 (x - mu_c).
        // One component has r = 1 also where its log-term overflows to -inf.
        Point weighted = Point::Zero();
        double total = 0;
        for (size_t c = 0; c < k; ++c) {
            const double r = k == 1 ? 1.0 : std::exp(log_term[c] - top);
            total += r;
            weighted.noalias() -= r * projected[c];
        }
        Eigen::Map<Point>(out.row(i).data()) = weighted / total;
    }
}

}  // namespace

Vector ScoreModel::log_density(const RowMatrix&, double) const {
    throw Error(describe("cannot evaluate log-density", kind(), "this model has only a score",
                         "use a method or metric that needs only the score"));
}

void ScoreModel::require_dimension(const std::string& spec) const {
    if (dim() > 0) return;
    throw Error(describe("unknown model dimension", spec, "the model does not give its dimension",
                         "add a dim attribute (self.dim = D) to the module before exporting it, or a buffer "
                         "(self.register_buffer('dim', torch.tensor(D))), which torch.jit.trace keeps"));
}

double ScoreModel::default_sigma() const {
    std::vector<double> levels = noise_levels();
    return levels.empty() ? 0.0 : levels.back();
}

void check_noise_levels(const std::vector<double>& levels, const std::string& source) {
    for (size_t i = 0; i < levels.size(); ++i) {
        if (!std::isfinite(levels[i]) || !(levels[i] > 0)) {
            throw Error(describe("invalid noise levels", source,
                                 "level " + std::to_string(i + 1) + " is " + format_number(levels[i]) +
                                     "; every level must be positive and finite",
                                 "store the levels sigma_1 > ... > sigma_L > 0 of the model"));
        }
        if (i > 0 && levels[i] > levels[i - 1]) {
            throw Error(describe("invalid noise levels", source,
                                 "level " + std::to_string(i + 1) + " (" + format_number(levels[i]) +
                                     ") is larger than level " + std::to_string(i) + " (" +
                                     format_number(levels[i - 1]) + "); the levels must be sorted largest first",
                                 "store the levels sigma_1 > ... > sigma_L > 0 of the model"));
        }
    }
}

GaussianMixtureModel::GaussianMixtureModel(std::vector<double> weights, RowMatrix means,
                                           std::vector<RowMatrix> covariances)
    : weights_(std::move(weights)),
      means_(std::move(means)),
      covariances_(std::move(covariances)),
      cache_(std::make_shared<ComponentCache>()) {
    const size_t k = weights_.size();
    const Eigen::Index d = means_.cols();
    if (k == 0 || static_cast<size_t>(means_.rows()) != k || covariances_.size() != k) {
        throw Error(describe_at("invalid mixture", "with " + std::to_string(k) + " components",
                             "weights, means and covariances must have one entry per component", ""));
    }
    double largest = 0;
    for (double w : weights_) {
        if (!(w > 0) || !std::isfinite(w)) {
            throw Error(describe("invalid mixture weight", format_number(w), "weights must be positive", ""));
        }
        largest = std::max(largest, w);
    }
    // Dividing by the largest weight first keeps the sum finite for weights near the largest double.
    double total = 0;
    for (double& w : weights_) {
        w /= largest;
        total += w;
    }
    for (double& w : weights_) w /= total;
    if (!means_.allFinite()) {
        throw Error(describe("invalid mixture", "means", "a mean is NaN or infinite", "give finite means"));
    }
    for (size_t c = 0; c < k; ++c) {
        const RowMatrix& cov = covariances_[c];
        if (cov.rows() != d || cov.cols() != d) {
            throw Error(describe("invalid covariance", "component " + std::to_string(c),
                                 "shape is " + std::to_string(cov.rows()) + "x" + std::to_string(cov.cols()) +
                                     ", expected " + std::to_string(d) + "x" + std::to_string(d), ""));
        }
        if ((cov - cov.transpose()).cwiseAbs().maxCoeff() > 1e-12 * (1 + cov.cwiseAbs().maxCoeff()) ||
            Eigen::LLT<Eigen::MatrixXd>(cov).info() != Eigen::Success) {
            throw Error(describe("invalid covariance", "component " + std::to_string(c),
                                 "not symmetric positive definite", "check the covariance values"));
        }
    }
}

std::shared_ptr<const GaussianMixtureModel::PerturbedComponents> GaussianMixtureModel::perturbed_components(
    double sigma) const {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    for (const auto& [cached_sigma, components] : cache_->entries) {
        if (cached_sigma == sigma) return components;
    }

    const Eigen::Index d = dim();
    const double log_2pi = std::log(2 * M_PI);
    auto components = std::make_shared<PerturbedComponents>();
    for (size_t c = 0; c < weights_.size(); ++c) {
        Eigen::MatrixXd cov = covariances_[c];
        cov.diagonal().array() += sigma * sigma;
        Eigen::LLT<Eigen::MatrixXd> llt(cov);
        double log_det = 2 * llt.matrixLLT().diagonal().array().log().sum();
        components->precisions.push_back(llt.solve(Eigen::MatrixXd::Identity(d, d)));
        components->log_constants.push_back(std::log(weights_[c]) - 0.5 * (d * log_2pi + log_det));
    }

    if (cache_->entries.size() >= ComponentCache::max_entries) cache_->entries.erase(cache_->entries.begin());
    cache_->entries.emplace_back(sigma, components);
    return components;
}

void GaussianMixtureModel::check_dimension(const RowMatrix& x) const {
    if (x.cols() != dim()) {
        throw Error(describe("cannot evaluate model", kind(),
                             "points have dimension " + std::to_string(x.cols()) + ", model has " +
                                 std::to_string(dim()), ""));
    }
}

void GaussianMixtureModel::evaluate(const RowMatrix& x, double sigma, RowMatrix& log_terms, RowMatrix* score,
                                    std::vector<RowMatrix>* kept_component_scores) const {
    check_dimension(x);
    const Eigen::Index n = x.rows(), d = dim();
    const size_t k = weights_.size();
    log_terms.resize(n, static_cast<Eigen::Index>(k));
    const bool need_components = score || kept_component_scores;
    std::vector<RowMatrix> component_scores(need_components ? k : 0);
    const std::shared_ptr<const PerturbedComponents> components = perturbed_components(sigma);

    // Per component, row-wise products with the D x D precision: for the small D of most
    // score models this beats batched triangular solves, and it allocates a few [N, D] blocks
    // per call rather than per point.
    RowMatrix centred(n, d), projected(n, d);
    for (size_t c = 0; c < k; ++c) {
        centred.noalias() = x.rowwise() - means_.row(c);
        projected.noalias() = centred * components->precisions[c];
        log_terms.col(static_cast<Eigen::Index>(c)) =
            components->log_constants[c] - 0.5 * centred.cwiseProduct(projected).rowwise().sum().array();
        if (need_components) component_scores[c] = -projected;
    }
    if (score) {
        RowMatrix responsibility = responsibilities(log_terms);
        score->setZero(n, d);
        for (size_t c = 0; c < k; ++c) {
            *score += responsibility.col(static_cast<Eigen::Index>(c)).asDiagonal() * component_scores[c];
        }
    }
    if (kept_component_scores) *kept_component_scores = std::move(component_scores);
}

RowMatrix GaussianMixtureModel::responsibilities(const RowMatrix& log_terms) {
    // A log-term is -inf where the Mahalanobis form overflows, beyond about 1e154 standard
    // deviations from the mean. One component then still has responsibility 1.
    // NOTE: with several components all log-terms are -inf there, and the responsibilities are NaN.
    if (log_terms.cols() == 1) return RowMatrix::Ones(log_terms.rows(), 1);
    const Vector top = log_terms.rowwise().maxCoeff();
    RowMatrix result = (log_terms.colwise() - top).array().exp().matrix();
    const Vector total = result.rowwise().sum();
    result.array().colwise() /= total.array();
    return result;
}

RowMatrix GaussianMixtureModel::score(const RowMatrix& x, double sigma) const {
    check_dimension(x);
    const std::shared_ptr<const PerturbedComponents> components = perturbed_components(sigma);
    const auto& precisions = components->precisions;
    const auto& log_constants = components->log_constants;
    RowMatrix result(x.rows(), x.cols());
    switch (dim()) {
        case 1: score_rows<1>(x, means_, precisions, log_constants, result); break;
        case 2: score_rows<2>(x, means_, precisions, log_constants, result); break;
        case 3: score_rows<3>(x, means_, precisions, log_constants, result); break;
        case 4: score_rows<4>(x, means_, precisions, log_constants, result); break;
        default: {
            RowMatrix log_terms;
            evaluate(x, sigma, log_terms, &result);
        }
    }
    return result;
}

Vector GaussianMixtureModel::log_density(const RowMatrix& x, double sigma) const {
    RowMatrix log_terms;
    evaluate(x, sigma, log_terms, nullptr);
    Vector result(x.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        double top = log_terms.row(i).maxCoeff();
        result(i) = top + std::log((log_terms.row(i).array() - top).exp().sum());
    }
    return result;
}

RowMatrix GaussianMixtureModel::sample(int n, std::uint64_t seed) const {
    Rng rng(seed);
    const Eigen::Index d = dim();
    std::vector<Eigen::MatrixXd> factors;
    for (const auto& cov : covariances_) factors.push_back(Eigen::LLT<Eigen::MatrixXd>(cov).matrixL());
    RowMatrix out(n, d);
    Eigen::VectorXd z(d);
    for (int i = 0; i < n; ++i) {
        double u = rng.uniform(), cumulative = 0;
        size_t c = 0;
        while (c + 1 < weights_.size() && u >= (cumulative += weights_[c])) ++c;
        for (Eigen::Index j = 0; j < d; ++j) z(j) = rng.normal();
        out.row(i) = means_.row(c) + (factors[c] * z).transpose();
    }
    return out;
}

}  // namespace scorekit
