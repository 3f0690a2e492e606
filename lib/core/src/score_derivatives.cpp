// Finite-difference defaults for the score derivatives of ScoreModel.
//
// Central differences have truncation error O(h^2) and rounding error O(eps / h), with eps the
// model's score_precision(). The step h = cbrt(eps) * max(1, |x|_inf, scale_inf) balances the
// two, which leaves a relative error near eps^(2/3) (1e-10 in double) for scores that vary on the
// scale of the data.
#include <algorithm>
#include <cmath>
#include <limits>

#include "scorekit/error.hpp"
#include "scorekit/score_model.hpp"

namespace scorekit {
namespace {

// Points per batch for the Jacobian, chosen so that the 2 D perturbed copies of a chunk stay
// near 2^16 rows whatever the dimension.
Eigen::Index jacobian_chunk(Eigen::Index d) { return std::max<Eigen::Index>(1, 32768 / std::max<Eigen::Index>(1, d)); }

double step_scale(const ScoreModel& model, const Eigen::Ref<const Eigen::RowVectorXd>& x) {
    const double base = std::cbrt(model.score_precision());
    double magnitude = std::max(1.0, x.cwiseAbs().maxCoeff());
    magnitude = std::max(magnitude, model.scale().cwiseAbs().maxCoeff());
    return base * magnitude;
}

void check_batch(const ScoreModel& model, const RowMatrix& x, const RowMatrix* v, const char* what) {
    if (x.cols() != model.dim() || (v && (v->rows() != x.rows() || v->cols() != x.cols()))) {
        throw Error(describe("cannot evaluate score derivative", what,
                             "expected points and vectors of dimension " + std::to_string(model.dim()) +
                                 " with one vector per point",
                             "check the input shapes"));
    }
}

}  // namespace

RowMatrix ScoreModel::score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const {
    check_batch(*this, x, &v, "Jacobian-vector product");
    const Eigen::Index n = x.rows();
    RowMatrix stacked(2 * n, x.cols());
    Vector steps(n);
    for (Eigen::Index i = 0; i < n; ++i) {
        double length = v.row(i).cwiseAbs().maxCoeff();
        // A zero direction gets any step: both evaluations coincide and the result is zero.
        steps(i) = step_scale(*this, x.row(i)) / (length > 0 ? length : 1.0);
        stacked.row(i) = x.row(i) + steps(i) * v.row(i);
        stacked.row(n + i) = x.row(i) - steps(i) * v.row(i);
    }
    RowMatrix s = score(stacked, sigma);
    RowMatrix result = s.topRows(n) - s.bottomRows(n);
    result.array().colwise() /= (2 * steps).array();
    return result;
}

RowMatrix ScoreModel::score_jacobian(const RowMatrix& x, double sigma) const {
    check_batch(*this, x, nullptr, "Jacobian");
    const Eigen::Index n = x.rows(), d = x.cols();
    RowMatrix result(n, d * d);
    const Eigen::Index chunk = jacobian_chunk(d);

    for (Eigen::Index first = 0; first < n; first += chunk) {
        const Eigen::Index count = std::min(chunk, n - first);
        RowMatrix stacked(2 * count * d, d);
        Vector steps(count);
        for (Eigen::Index i = 0; i < count; ++i) {
            steps(i) = step_scale(*this, x.row(first + i));
            for (Eigen::Index b = 0; b < d; ++b) {
                Eigen::Index row = 2 * (i * d + b);
                stacked.row(row) = x.row(first + i);
                stacked.row(row + 1) = x.row(first + i);
                stacked(row, b) += steps(i);
                stacked(row + 1, b) -= steps(i);
            }
        }
        RowMatrix s = score(stacked, sigma);
        for (Eigen::Index i = 0; i < count; ++i) {
            for (Eigen::Index b = 0; b < d; ++b) {
                Eigen::Index row = 2 * (i * d + b);
                for (Eigen::Index a = 0; a < d; ++a) {
                    result(first + i, a * d + b) = (s(row, a) - s(row + 1, a)) / (2 * steps(i));
                }
            }
        }
    }
    return result;
}

RowMatrix ScoreModel::score_vjp(const RowMatrix& x, const RowMatrix& u, double sigma) const {
    if (symmetric_jacobian()) return score_jvp(x, u, sigma);
    check_batch(*this, x, &u, "vector-Jacobian product");
    const Eigen::Index d = x.cols();
    RowMatrix jacobians = score_jacobian(x, sigma);
    RowMatrix result(x.rows(), d);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        Eigen::Map<const RowMatrix> jacobian(jacobians.row(i).data(), d, d);
        result.row(i).noalias() = u.row(i) * jacobian;
    }
    return result;
}

}  // namespace scorekit
