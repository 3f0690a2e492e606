// Derivatives of the score metrics: the geodesic acceleration and the gradient of the discrete
// curve energy. The general identities used below, for g(x) and a velocity v, are
//   geodesic equation  x'' = -g^-1 ((d_v g) v - grad_x (v^T g v) / 2)
//   energy gradient    grad_m (v^T g(m) v)
// specialised to each metric so that stein and conformal need only s, J v and J^T v.
#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>

#include "scorekit/error.hpp"
#include "scorekit/metric.hpp"

namespace scorekit {
namespace {

Vector row_dots(const RowMatrix& a, const RowMatrix& b) { return a.cwiseProduct(b).rowwise().sum(); }

// Central-difference steps along the rows of v, scaled like the steps in score_derivatives.cpp.
Vector difference_steps(const RowMatrix& x, const RowMatrix& v, double precision) {
    const double base = std::cbrt(precision);
    Vector steps(x.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        double length = v.row(i).cwiseAbs().maxCoeff();
        steps(i) = base * std::max(1.0, x.row(i).cwiseAbs().maxCoeff()) / (length > 0 ? length : 1.0);
    }
    return steps;
}

// [x + h v; x - h v] for per-row steps h.
RowMatrix shifted_pair(const RowMatrix& x, const RowMatrix& v, const Vector& steps) {
    RowMatrix stacked(2 * x.rows(), x.cols());
    stacked.topRows(x.rows()) = x + steps.asDiagonal() * v;
    stacked.bottomRows(x.rows()) = x - steps.asDiagonal() * v;
    return stacked;
}

RowMatrix central_difference(const RowMatrix& stacked_values, const Vector& steps) {
    const Eigen::Index n = steps.size();
    RowMatrix result = stacked_values.topRows(n) - stacked_values.bottomRows(n);
    result.array().colwise() /= (2 * steps).array();
    return result;
}

}  // namespace

RowMatrix ScoreMetric::accelerations(const RowMatrix& x, const RowMatrix& v) const {
    require_geodesic_metric(kind_);
    check_points(x, &v);
    // stein with lambda = 0 is the Euclidean metric, whatever the score.
    if (kind_ == MetricKind::stein && lambda_ == 0) return RowMatrix::Zero(x.rows(), dim());
    RowMatrix s = model_.score(x, sigma_);

    if (kind_ == MetricKind::conformal) {
        return (2 * beta_ * row_dots(s, v)).asDiagonal() * v - (beta_ * v.rowwise().squaredNorm()).asDiagonal() * s;
    }
    if (kind_ == MetricKind::stein) {
        RowMatrix jv = model_.score_jvp(x, v, sigma_);
        RowMatrix bracket = (lambda_ * row_dots(v, jv)).asDiagonal() * s;
        if (!model_.symmetric_jacobian()) {
            // A learned score's J is not symmetric; the antisymmetric part adds this term.
            RowMatrix jtv = model_.score_vjp(x, v, sigma_);
            bracket += (lambda_ * row_dots(s, v)).asDiagonal() * (jv - jtv);
        }
        // g^-1 b = b - (lambda / a) s (s . b) with a = 1 + lambda |s|^2.
        Vector a = (1 + lambda_ * s.rowwise().squaredNorm().array()).matrix();
        Vector coefficient = (lambda_ * row_dots(s, bracket).array() / a.array()).matrix();
        return -(bracket - coefficient.asDiagonal() * s);
    }

    // pullback: (d_v J) v is the central difference of J v along v.
    const Eigen::Index n = x.rows(), d = dim();
    Vector steps = difference_steps(x, v, model_.score_precision());
    RowMatrix stacked_v(2 * n, d);
    stacked_v << v, v;
    RowMatrix second = central_difference(model_.score_jvp(shifted_pair(x, v, steps), stacked_v, sigma_), steps);
    RowMatrix jacobians = model_.score_jacobian(x, sigma_);
    RowMatrix result(n, d);
    Eigen::MatrixXd g(d, d);
    for (Eigen::Index i = 0; i < n; ++i) {
        Eigen::Map<const RowMatrix> jacobian(jacobians.row(i).data(), d, d);
        g.noalias() = jacobian.transpose() * jacobian;
        g.diagonal().array() += lambda_;
        Eigen::VectorXd rhs = jacobian.transpose() * second.row(i).transpose();
        result.row(i) = -g.llt().solve(rhs).transpose();
    }
    return result;
}

void ScoreMetric::segment_terms(const RowMatrix& m, const RowMatrix& v, SegmentTerms& terms,
                                bool with_tensors) const {
    require_geodesic_metric(kind_);
    check_points(m, &v);
    const Eigen::Index n = m.rows(), d = dim();

    if (kind_ == MetricKind::stein) {
        // q = |v|^2 + lambda (s.v)^2, grad_m q = 2 lambda (s.v) J^T v. With lambda = 0 the score
        // does not count and is not evaluated, so a score too large to square gives no NaN.
        const bool euclidean = lambda_ == 0;
        RowMatrix s = euclidean ? RowMatrix::Zero(n, d) : model_.score(m, sigma_);
        Vector along = row_dots(s, v);
        terms.quadratic = v.rowwise().squaredNorm() + lambda_ * along.cwiseProduct(along);
        terms.metric_v = v + (lambda_ * along).asDiagonal() * s;
        terms.gradient = euclidean ? RowMatrix::Zero(n, d)
                                   : RowMatrix((2 * lambda_ * along).asDiagonal() * model_.score_vjp(m, v, sigma_));
        terms.scale = (1 + lambda_ * s.rowwise().squaredNorm().array() / static_cast<double>(d)).matrix();
        if (with_tensors) {
            terms.tensors.resize(n, d * d);
            for (Eigen::Index a = 0; a < d; ++a) {
                for (Eigen::Index b = 0; b < d; ++b) {
                    terms.tensors.col(a * d + b) = lambda_ * s.col(a).cwiseProduct(s.col(b));
                    if (a == b) terms.tensors.col(a * d + b).array() += 1.0;
                }
            }
        }
        return;
    }
    if (kind_ == MetricKind::conformal) {
        // q = c |v|^2 with c = exp(-2 beta log p), grad_m q = -2 beta c |v|^2 s.
        Vector c = (-2 * beta_ * log_density(m).array()).exp().matrix();
        RowMatrix s = model_.score(m, sigma_);
        terms.quadratic = c.cwiseProduct(v.rowwise().squaredNorm());
        terms.metric_v = c.asDiagonal() * v;
        terms.gradient = (-2 * beta_ * terms.quadratic).asDiagonal() * s;
        terms.scale = c;
        if (with_tensors) {
            terms.tensors = RowMatrix::Zero(n, d * d);
            for (Eigen::Index a = 0; a < d; ++a) terms.tensors.col(a * d + a) = c;
        }
        return;
    }

    // pullback: q = lambda |v|^2 + |J v|^2. With w = J v held fixed,
    // grad_m |J(m) v|^2 = 2 d_v (J(m)^T w), a central difference of J^T w along v; this holds
    // for any smooth score because mixed second derivatives commute.
    RowMatrix jv = model_.score_jvp(m, v, sigma_);
    Vector steps = difference_steps(m, v, model_.score_precision());
    RowMatrix stacked_w(2 * n, d);
    stacked_w << jv, jv;
    RowMatrix derivative = central_difference(model_.score_vjp(shifted_pair(m, v, steps), stacked_w, sigma_), steps);
    Vector v_squared = v.rowwise().squaredNorm();
    Vector jv_squared = jv.rowwise().squaredNorm();
    terms.quadratic = lambda_ * v_squared + jv_squared;
    terms.metric_v = lambda_ * v + model_.score_vjp(m, jv, sigma_);
    terms.gradient = 2 * derivative;
    // The Rayleigh quotient along the segment approximates g's scale without forming J.
    terms.scale.resize(n);
    for (Eigen::Index i = 0; i < n; ++i) {
        terms.scale(i) = lambda_ + (v_squared(i) > 0 ? jv_squared(i) / v_squared(i) : 0.0);
    }
    if (with_tensors) terms.tensors = tensors(m);
}

}  // namespace scorekit
