// Exact score derivatives of a Gaussian mixture. With responsibilities r_k, component scores
// s_k = -C_k^-1 (x - mu_k) and s = sum_k r_k s_k, the Hessian of log p is
//   J = sum_k r_k (s_k s_k^T - C_k^-1) - s s^T = sum_k r_k ((s_k - s)(s_k - s)^T - C_k^-1),
// which is symmetric, so J^T u = J u. The code evaluates the second form. The first subtracts s s^T
// from terms of the same size and loses all digits where |s|^2 exceeds 1 / epsilon (|s| above about
// 7e7), but the second is exact for one component, where s_k - s = 0.
#include <Eigen/Cholesky>

#include "scorekit/error.hpp"
#include "scorekit/score_model.hpp"

namespace scorekit {
namespace {

// Cholesky factor of the perturbed covariance C = Sigma + sigma^2 I.
Eigen::LLT<Eigen::MatrixXd> perturbed_factor(const RowMatrix& covariance, double sigma) {
    Eigen::MatrixXd perturbed = covariance;
    perturbed.diagonal().array() += sigma * sigma;
    return Eigen::LLT<Eigen::MatrixXd>(perturbed);
}

void check_same_shape(const RowMatrix& x, const RowMatrix& v, const char* what) {
    if (x.rows() != v.rows() || x.cols() != v.cols()) {
        throw Error(describe("cannot evaluate score derivative", what,
                             "points are " + std::to_string(x.rows()) + "x" + std::to_string(x.cols()) +
                                 " but vectors are " + std::to_string(v.rows()) + "x" + std::to_string(v.cols()),
                             "pass one vector per point"));
    }
}

}  // namespace

RowMatrix GaussianMixtureModel::score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const {
    check_same_shape(x, v, "Jacobian-vector product");
    RowMatrix log_terms, score;
    std::vector<RowMatrix> component_scores;
    evaluate(x, sigma, log_terms, &score, &component_scores);
    RowMatrix responsibility = responsibilities(log_terms);

    const Eigen::MatrixXd v_columns = v.transpose();
    RowMatrix result = RowMatrix::Zero(x.rows(), x.cols());
    for (size_t c = 0; c < weights_.size(); ++c) {
        const RowMatrix deviation = component_scores[c] - score;
        Eigen::LLT<Eigen::MatrixXd> llt = perturbed_factor(covariances_[c], sigma);
        RowMatrix inverse_v = llt.solve(v_columns).transpose();
        Vector projection = deviation.cwiseProduct(v).rowwise().sum();
        Vector r = responsibility.col(static_cast<Eigen::Index>(c));
        result += r.asDiagonal() * (projection.asDiagonal() * deviation - inverse_v);
    }
    return result;
}

RowMatrix GaussianMixtureModel::score_jacobian(const RowMatrix& x, double sigma) const {
    RowMatrix log_terms, score;
    std::vector<RowMatrix> component_scores;
    evaluate(x, sigma, log_terms, &score, &component_scores);
    RowMatrix responsibility = responsibilities(log_terms);
    const Eigen::Index n = x.rows(), d = dim();

    std::vector<RowMatrix> inverses;
    for (const auto& covariance : covariances_) {
        inverses.push_back(perturbed_factor(covariance, sigma).solve(Eigen::MatrixXd::Identity(d, d)));
    }
    RowMatrix result(n, d * d);
    RowMatrix jacobian(d, d);
    for (Eigen::Index i = 0; i < n; ++i) {
        jacobian.setZero();
        for (size_t c = 0; c < weights_.size(); ++c) {
            const double r = responsibility(i, static_cast<Eigen::Index>(c));
            const Eigen::RowVectorXd deviation = component_scores[c].row(i) - score.row(i);
            jacobian.noalias() += r * (deviation.transpose() * deviation);
            jacobian -= r * inverses[c];
        }
        result.row(i) = Eigen::Map<const Eigen::RowVectorXd>(jacobian.data(), d * d);
    }
    return result;
}

}  // namespace scorekit
