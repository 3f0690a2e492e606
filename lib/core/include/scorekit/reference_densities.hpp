// Improper reference densities whose score geometry has closed forms, used to check the metric
// and geodesic code. The coordinate y is the last one; the others do not enter the density.
//   halfplane    p(x) = y on y > 0, so s = e_y / y. With the `conformal` metric and beta = 1 in
//                2-D, g = I / y^2 is the Poincare half-plane of constant curvature -1.
//   exponential  p(x) = exp(-y), so s = -e_y. With `conformal` and beta = 1, g = exp(2 y) I is
//                flat: w = exp(y - i x) maps it isometrically onto a punctured Euclidean plane.
// The densities are not normalisable; their constant is fixed to 1 as written because the
// conformal metric p^(-2 beta) I depends on it. Perturbed by N(0, sigma^2 I) they are
//   halfplane    p_sigma(y) = y Phi(y / sigma) + sigma phi(y / sigma)
//   exponential  p_sigma(y) = exp(-y + sigma^2 / 2)
// with Phi and phi the standard normal distribution and density functions.
// Command-line syntax: `halfplane`, `exponential`, optionally with `:dim=D` (default 2).
#pragma once

#include <memory>
#include <string>

#include "scorekit/score_model.hpp"

namespace scorekit {

class HalfPlaneModel : public ScoreModel {
public:
    explicit HalfPlaneModel(int dim = 2);
    int dim() const override { return dim_; }
    std::string kind() const override { return "halfplane"; }

    // At sigma = 0 the score is NaN and log p is -infinity where y <= 0 (outside the support).
    RowMatrix score(const RowMatrix& x, double sigma) const override;
    bool has_log_density() const override { return true; }
    Vector log_density(const RowMatrix& x, double sigma) const override;

    bool symmetric_jacobian() const override { return true; }
    RowMatrix score_jacobian(const RowMatrix& x, double sigma) const override;
    RowMatrix score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const override;

private:
    int dim_;
};

class ExponentialModel : public ScoreModel {
public:
    explicit ExponentialModel(int dim = 2);
    int dim() const override { return dim_; }
    std::string kind() const override { return "exponential"; }

    RowMatrix score(const RowMatrix& x, double sigma) const override;
    bool has_log_density() const override { return true; }
    Vector log_density(const RowMatrix& x, double sigma) const override;

    // The score is constant, so every derivative is zero.
    bool symmetric_jacobian() const override { return true; }
    RowMatrix score_jacobian(const RowMatrix& x, double sigma) const override;
    RowMatrix score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const override;

private:
    int dim_;
};

// Whether `spec` names a reference density: halfplane or exponential, alone or followed by ':'.
bool is_reference_density_spec(const std::string& spec);

// Builds a reference density from `halfplane[:dim=D]` or `exponential[:dim=D]`. Throws
// UsageError naming the bad part.
std::unique_ptr<ScoreModel> parse_reference_density(const std::string& spec);

}  // namespace scorekit
