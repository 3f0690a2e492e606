#include "scorekit/metric.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include <cmath>
#include <limits>

#include "scorekit/error.hpp"

namespace scorekit {
namespace {

const char* kMetricChoices = "choose stein, outer, conformal or pullback";

// Row-wise dot products of two [N, D] matrices.
Vector row_dots(const RowMatrix& a, const RowMatrix& b) { return a.cwiseProduct(b).rowwise().sum(); }

}  // namespace

MetricKind parse_metric_kind(const std::string& name) {
    if (name == "stein") return MetricKind::stein;
    if (name == "outer") return MetricKind::outer;
    if (name == "conformal") return MetricKind::conformal;
    if (name == "pullback") return MetricKind::pullback;
    throw UsageError(describe("invalid metric", name, "unknown name", kMetricChoices));
}

std::string to_string(MetricKind kind) {
    switch (kind) {
        case MetricKind::stein: return "stein";
        case MetricKind::outer: return "outer";
        case MetricKind::conformal: return "conformal";
        case MetricKind::pullback: return "pullback";
    }
    return "unknown";
}

void require_geodesic_metric(MetricKind kind) {
    if (kind != MetricKind::outer) return;
    throw UsageError(describe("invalid metric for geodesics", "outer",
                              "g = s s^T has rank one, so moving along a level set of p costs nothing, "
                              "every distance collapses to |log p(x) - log p(y)| and g has no inverse",
                              "use --metric stein (g = I + lambda s s^T), conformal or pullback"));
}

ScoreMetric::ScoreMetric(const ScoreModel& model, const MetricOptions& options)
    : model_(model), kind_(options.kind), lambda_(options.lambda), beta_(options.beta),
      sigma_(options.sigma < 0 ? model.default_sigma() : options.sigma) {
    const bool lambda_ok = kind_ == MetricKind::pullback ? lambda_ > 0 : lambda_ >= 0;
    if (!std::isfinite(lambda_) || !lambda_ok) {
        throw UsageError(describe("invalid --lambda", format_number(lambda_),
                                  kind_ == MetricKind::pullback ? "pullback needs lambda > 0 for a positive definite g"
                                                                : "stein needs lambda >= 0",
                                  "pass a positive value"));
    }
    if (!std::isfinite(beta_)) {
        throw UsageError(describe("invalid --beta", format_number(beta_), "must be finite", ""));
    }
}

void ScoreMetric::check_points(const RowMatrix& x, const RowMatrix* v) const {
    if (x.cols() != dim() || (v && (v->rows() != x.rows() || v->cols() != x.cols()))) {
        throw Error(describe("cannot evaluate metric", to_string(kind_),
                             "expected points and vectors of dimension " + std::to_string(dim()) +
                                 " with one vector per point",
                             "check the input dimensions"));
    }
}

void check_metric_support(const ScoreModel& model, MetricKind kind, const std::string& model_name) {
    if (kind == MetricKind::conformal && !model.has_log_density()) {
        throw Error(describe("cannot evaluate conformal metric", model_name,
                             "g = p^(-2 beta) I needs log p, which this model does not provide",
                             "use an analytic model, or --metric stein or pullback"));
    }
}

Vector ScoreMetric::log_density(const RowMatrix& x) const {
    check_metric_support(model_, MetricKind::conformal, model_.kind());
    return model_.log_density(x, sigma_);
}

MetricPoints::MetricPoints(const ScoreMetric& metric, const RowMatrix& x) : metric_(metric), x_(x) {
    metric.check_points(x);
}

const RowMatrix& MetricPoints::scores() const {
    if (!scores_) scores_ = metric_.model_.score(x_, metric_.sigma_);
    return *scores_;
}

const RowMatrix& MetricPoints::weighed_scores() const {
    if (metric_.kind_ != MetricKind::stein || metric_.lambda_ != 0) return scores();
    if (!zeros_) zeros_ = RowMatrix::Zero(x_.rows(), x_.cols());
    return *zeros_;
}

const RowMatrix& MetricPoints::jacobians() const {
    if (!jacobians_) jacobians_ = metric_.model_.score_jacobian(x_, metric_.sigma_);
    return *jacobians_;
}

const Vector& MetricPoints::log_densities() const {
    if (!log_densities_) log_densities_ = metric_.log_density(x_);
    return *log_densities_;
}

RowMatrix ScoreMetric::scores(const RowMatrix& x) const {
    check_points(x);
    return model_.score(x, sigma_);
}

RowMatrix ScoreMetric::tensors(const MetricPoints& points) const {
    const Eigen::Index n = points.x().rows(), d = dim();
    RowMatrix result = RowMatrix::Zero(n, d * d);
    RowMatrix g(d, d);

    if (kind_ == MetricKind::pullback) {
        const RowMatrix& jacobians = points.jacobians();
        for (Eigen::Index i = 0; i < n; ++i) {
            Eigen::Map<const RowMatrix> jacobian(jacobians.row(i).data(), d, d);
            g.noalias() = jacobian.transpose() * jacobian;
            g.diagonal().array() += lambda_;
            result.row(i) = Eigen::Map<const Eigen::RowVectorXd>(g.data(), d * d);
        }
        return result;
    }
    if (kind_ == MetricKind::conformal) {
        Vector factor = (-2 * beta_ * points.log_densities().array()).exp();
        for (Eigen::Index i = 0; i < n; ++i) {
            for (Eigen::Index a = 0; a < d; ++a) result(i, a * d + a) = factor(i);
        }
        return result;
    }

    const RowMatrix& s = points.weighed_scores();
    const double weight = kind_ == MetricKind::stein ? lambda_ : 1.0;
    for (Eigen::Index i = 0; i < n; ++i) {
        g.noalias() = weight * s.row(i).transpose() * s.row(i);
        if (kind_ == MetricKind::stein) g.diagonal().array() += 1.0;
        result.row(i) = Eigen::Map<const Eigen::RowVectorXd>(g.data(), d * d);
    }
    return result;
}

RowMatrix ScoreMetric::inverse_tensors(const MetricPoints& points) const {
    require_geodesic_metric(kind_);
    const Eigen::Index n = points.x().rows(), d = dim();
    if (kind_ == MetricKind::pullback) {
        // With J = U S V^T, g^-1 = V diag(1 / (lambda + s_k^2)) V^T. A Cholesky solve with the
        // formed J^T J failed where J's condition number squared exceeds 1 / machine epsilon
        // and returned values near 1e-15 where g^-1 has an eigenvalue near 1e12.
        const RowMatrix& jacobians = points.jacobians();
        RowMatrix result(n, d * d);
        Eigen::BDCSVD<Eigen::MatrixXd> svd;
        for (Eigen::Index i = 0; i < n; ++i) {
            svd.compute(Eigen::Map<const RowMatrix>(jacobians.row(i).data(), d, d), Eigen::ComputeThinV);
            const Eigen::VectorXd weights = (lambda_ + svd.singularValues().array().square()).inverse();
            RowMatrix inverse = svd.matrixV() * weights.asDiagonal() * svd.matrixV().transpose();
            result.row(i) = Eigen::Map<const Eigen::RowVectorXd>(inverse.data(), d * d);
        }
        return result;
    }
    RowMatrix result = RowMatrix::Zero(n, d * d);
    if (kind_ == MetricKind::conformal) {
        Vector factor = (2 * beta_ * points.log_densities().array()).exp();
        for (Eigen::Index i = 0; i < n; ++i) {
            for (Eigen::Index a = 0; a < d; ++a) result(i, a * d + a) = factor(i);
        }
        return result;
    }
    const RowMatrix& s = points.weighed_scores();
    RowMatrix inverse(d, d);
    for (Eigen::Index i = 0; i < n; ++i) {
        const double a = 1 + lambda_ * s.row(i).squaredNorm();
        inverse.noalias() = -(lambda_ / a) * s.row(i).transpose() * s.row(i);
        inverse.diagonal().array() += 1.0;
        result.row(i) = Eigen::Map<const Eigen::RowVectorXd>(inverse.data(), d * d);
    }
    return result;
}

RowMatrix ScoreMetric::eigenvalues(const MetricPoints& points) const {
    const Eigen::Index n = points.x().rows(), d = dim();
    RowMatrix result(n, d);

    if (kind_ == MetricKind::stein || kind_ == MetricKind::outer) {
        // One eigenvector is s (eigenvalue base + weight |s|^2), the others span s's complement.
        const double base = kind_ == MetricKind::stein ? 1.0 : 0.0;
        const double weight = kind_ == MetricKind::stein ? lambda_ : 1.0;
        Vector along = base + weight * points.weighed_scores().rowwise().squaredNorm().array();
        result.setConstant(base);
        result.col(d - 1) = along;
        return result;
    }
    if (kind_ == MetricKind::conformal) {
        Vector factor = (-2 * beta_ * points.log_densities().array()).exp();
        for (Eigen::Index j = 0; j < d; ++j) result.col(j) = factor;
        return result;
    }
    // pullback: the eigenvalues of lambda I + J^T J are lambda + sigma_k^2 for the singular
    // values sigma_k of J. An eigensolver on the formed J^T J returned negative eigenvalues
    // where J's condition number squared exceeds 1 / machine epsilon.
    const RowMatrix& jacobians = points.jacobians();
    Eigen::BDCSVD<Eigen::MatrixXd> svd;
    for (Eigen::Index i = 0; i < n; ++i) {
        svd.compute(Eigen::Map<const RowMatrix>(jacobians.row(i).data(), d, d));
        // Singular values come in decreasing order; eigenvalues are written in increasing order.
        result.row(i) = (lambda_ + svd.singularValues().reverse().array().square()).transpose();
    }
    return result;
}

Vector ScoreMetric::log_determinants(const MetricPoints& points) const {
    const Eigen::Index n = points.x().rows(), d = dim();
    switch (kind_) {
        case MetricKind::stein: {
            // log(1 + lambda |s|^2). Where |s|^2 overflows (|s| above about 1e154, as for a model
            // trained on data near 1e-200), it is log lambda + 2 log |s| to double precision.
            const RowMatrix& scores = points.weighed_scores();
            Vector result = (lambda_ * scores.rowwise().squaredNorm().array()).log1p().matrix();
            for (Eigen::Index i = 0; i < n; ++i) {
                if (!std::isfinite(result(i))) result(i) = std::log(lambda_) + 2 * std::log(scores.row(i).stableNorm());
            }
            return result;
        }
        case MetricKind::outer: {
            if (d > 1) return Vector::Constant(n, -std::numeric_limits<double>::infinity());
            return (2 * points.weighed_scores().col(0).array().abs().log()).matrix();
        }
        case MetricKind::conformal:
            return (-2.0 * beta_ * static_cast<double>(d)) * points.log_densities();
        case MetricKind::pullback: {
            // g = lambda I + J^T J = A^T A for the stacked A = [J; sqrt(lambda) I], so the R of a
            // QR factorisation of A is a Cholesky factor of g and log det g = 2 sum log |R_ii|.
            // Forming J^T J first squares J's condition number: with singular values 1e8 and
            // 1e-8 and lambda = 1e-12 its rounding exceeds lambda, so the factorisation failed
            // and log det g came out NaN. |R_ii| is at least sqrt(lambda), so the log is finite.
            const RowMatrix& jacobians = points.jacobians();
            Vector result(n);
            Eigen::MatrixXd stacked = Eigen::MatrixXd::Zero(2 * d, d);
            stacked.bottomRows(d).diagonal().setConstant(std::sqrt(lambda_));
            Eigen::HouseholderQR<Eigen::MatrixXd> factor(2 * d, d);
            for (Eigen::Index i = 0; i < n; ++i) {
                stacked.topRows(d) = Eigen::Map<const RowMatrix>(jacobians.row(i).data(), d, d);
                factor.compute(stacked);
                result(i) = 2 * factor.matrixQR().diagonal().array().abs().log().sum();
            }
            return result;
        }
    }
    return {};
}

Vector ScoreMetric::volume_elements(const MetricPoints& points) const {
    return (0.5 * log_determinants(points).array()).exp().matrix();
}

Vector ScoreMetric::inner_products(const MetricPoints& points, const RowMatrix& u, const RowMatrix& v) const {
    check_points(points.x(), &u);
    check_points(points.x(), &v);
    switch (kind_) {
        case MetricKind::stein:
        case MetricKind::outer: {
            const RowMatrix& s = points.weighed_scores();
            Vector product = row_dots(s, u).cwiseProduct(row_dots(s, v));
            if (kind_ == MetricKind::outer) return product;
            return row_dots(u, v) + lambda_ * product;
        }
        case MetricKind::conformal:
            return (-2 * beta_ * points.log_densities().array()).exp().matrix().cwiseProduct(row_dots(u, v));
        case MetricKind::pullback:
            return lambda_ * row_dots(u, v) + row_dots(model_.score_jvp(points.x(), u, sigma_), model_.score_jvp(points.x(), v, sigma_));
    }
    return {};
}

Vector ScoreMetric::squared_norms(const MetricPoints& points, const RowMatrix& v) const {
    check_points(points.x(), &v);
    switch (kind_) {
        case MetricKind::stein: {
            Vector along = row_dots(points.weighed_scores(), v);
            return v.rowwise().squaredNorm() + lambda_ * along.cwiseProduct(along);
        }
        case MetricKind::outer:
            return row_dots(points.weighed_scores(), v).array().square().matrix();
        case MetricKind::conformal:
            return (-2 * beta_ * points.log_densities().array()).exp().matrix().cwiseProduct(v.rowwise().squaredNorm());
        case MetricKind::pullback:
            return lambda_ * v.rowwise().squaredNorm() + model_.score_jvp(points.x(), v, sigma_).rowwise().squaredNorm();
    }
    return {};
}

}  // namespace scorekit
