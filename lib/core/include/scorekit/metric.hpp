// Riemannian metrics induced by a score model s(x) = grad log p(x), evaluated in batches.
//
//   stein      g = I + lambda s s^T (the Monge metric, Hartmann, Girolami and Klami, AISTATS
//              2022). With a = 1 + lambda |s|^2: g^-1 = I - (lambda / a) s s^T, det g = a, and
//              the eigenvalues are 1 (D - 1 times) and a, so nothing D x D is formed.
//   outer      g = s s^T: rank one, so motion along level sets of p costs nothing and g has no
//              inverse. Available for evaluation only; geodesic code rejects it.
//   conformal  g = p^(-2 beta) I (a Fermat-type density metric). Needs log p (analytic models)
//              except for the geodesic acceleration, which needs only s.
//   pullback   g = lambda I + J^T J with J = ds/dx the score Jacobian.
// All quantities use the model's score at noise level sigma (default: the smallest level).
// Points are rows of row-major matrices; D x D tensors are rows of length D * D, row-major.
#pragma once

#include <optional>
#include <string>

#include "scorekit/score_model.hpp"

namespace scorekit {

enum class MetricKind { stein, outer, conformal, pullback };

// Parses "stein", "outer", "conformal" or "pullback"; throws UsageError listing the choices.
MetricKind parse_metric_kind(const std::string& name);

// Throws Error when `model` cannot give the metric `kind`, because conformal needs log p. Tools call it
// before they write any output, with `model_name` as given to -m.
void check_metric_support(const ScoreModel& model, MetricKind kind, const std::string& model_name);
std::string to_string(MetricKind kind);

struct MetricOptions {
    MetricKind kind = MetricKind::stein;
    double lambda = 1.0;  // stein: weight of s s^T (>= 0); pullback: weight of I (> 0)
    double beta = 1.0;    // conformal exponent (any finite value)
    double sigma = -1;    // noise level of the score; < 0 uses the model's default
};

// Throws UsageError for `outer`, explaining why geodesics are undefined for it.
void require_geodesic_metric(MetricKind kind);

// Terms of the discrete curve energy for segments with midpoints m and vectors v:
// q = v^T g(m) v, g(m) v, the gradient of q with respect to m, and a positive scalar c that
// approximates g(m) by c I (used to precondition the solvers).
struct SegmentTerms {
    Vector quadratic;    // [N]
    RowMatrix metric_v;  // [N, D]
    RowMatrix gradient;  // [N, D]
    Vector scale;        // [N]
    RowMatrix tensors;   // [N, D * D] g(m), filled only on request
};

class ScoreMetric;

// The model's values at one set of points, each computed on first use and then kept, so that
// several outputs at the same points (log det g, norms, eigenvalues) evaluate the model once.
class MetricPoints {
public:
    // Keeps references to `metric` and `x`, which must outlive this object. Throws Error when x
    // does not have the metric's dimension.
    MetricPoints(const ScoreMetric& metric, const RowMatrix& x);

    const RowMatrix& x() const { return x_; }
    const RowMatrix& scores() const;          // [N, D]
    const RowMatrix& jacobians() const;       // [N, D * D], ds/dx row-major
    const Vector& log_densities() const;      // [N]; Error when the model has none

private:
    friend class ScoreMetric;

    // The scores that g weighs: zeros for stein with lambda = 0, where g = I whatever the score,
    // so that a score too large to square gives no 0 * infinity.
    const RowMatrix& weighed_scores() const;

    const ScoreMetric& metric_;
    const RowMatrix& x_;
    mutable std::optional<RowMatrix> scores_;
    mutable std::optional<RowMatrix> jacobians_;
    mutable std::optional<Vector> log_densities_;
    mutable std::optional<RowMatrix> zeros_;
};

class ScoreMetric {
public:
    // Keeps a reference to `model`, which must outlive the metric. Throws UsageError for an
    // invalid lambda or beta.
    ScoreMetric(const ScoreModel& model, const MetricOptions& options);

    const ScoreModel& model() const { return model_; }
    MetricKind kind() const { return kind_; }
    int dim() const { return model_.dim(); }
    double lambda() const { return lambda_; }
    double beta() const { return beta_; }
    double sigma() const { return sigma_; }

    RowMatrix scores(const RowMatrix& x) const;

    // Each point quantity below has two forms: one for a matrix of points, and one for
    // MetricPoints, which shares the model's values between the quantities requested at the same points.

    // g at each point, [N, D * D]. Materialises D x D per point, so callers use it only on request.
    RowMatrix tensors(const RowMatrix& x) const { return tensors(MetricPoints(*this, x)); }
    RowMatrix tensors(const MetricPoints& points) const;

    // g^-1 at each point, [N, D * D]; stein uses I - (lambda / a) s s^T. Throws UsageError for
    // outer, which has no inverse.
    RowMatrix inverse_tensors(const RowMatrix& x) const { return inverse_tensors(MetricPoints(*this, x)); }
    RowMatrix inverse_tensors(const MetricPoints& points) const;

    // log det g, [N]; -infinity where g is singular (outer for D > 1).
    Vector log_determinants(const RowMatrix& x) const { return log_determinants(MetricPoints(*this, x)); }
    Vector log_determinants(const MetricPoints& points) const;

    // Eigenvalues of g in ascending order, [N, D].
    RowMatrix eigenvalues(const RowMatrix& x) const { return eigenvalues(MetricPoints(*this, x)); }
    RowMatrix eigenvalues(const MetricPoints& points) const;

    // Riemannian volume element sqrt(det g), [N].
    Vector volume_elements(const RowMatrix& x) const { return volume_elements(MetricPoints(*this, x)); }
    Vector volume_elements(const MetricPoints& points) const;

    // <u_i, v_i>_{g(x_i)} and |v_i|^2_{g(x_i)}, [N]; x, u, v are [N, D].
    Vector inner_products(const RowMatrix& x, const RowMatrix& u, const RowMatrix& v) const {
        return inner_products(MetricPoints(*this, x), u, v);
    }
    Vector inner_products(const MetricPoints& points, const RowMatrix& u, const RowMatrix& v) const;
    Vector squared_norms(const RowMatrix& x, const RowMatrix& v) const { return squared_norms(MetricPoints(*this, x), v); }
    Vector squared_norms(const MetricPoints& points, const RowMatrix& v) const;

    // Geodesic acceleration x'' = -Gamma(x)[v, v] for positions x and velocities v, [N, D]:
    // x'' = -g^-1 ((d_v g) v - grad_x (v^T g v) / 2). Closed forms:
    //   stein      -g^-1 lambda ((s.v)(J v - J^T v) + s (v^T J v)), which for a symmetric J is
    //              -lambda s (v^T J v) / a
    //   conformal  2 beta (s.v) v - beta |v|^2 s
    //   pullback   -g^-1 J^T (d_v J) v, with (d_v J) v from central differences of J v
    // Throws UsageError for outer.
    RowMatrix accelerations(const RowMatrix& x, const RowMatrix& v) const;

    // Energy terms at midpoints m for segment vectors v (see SegmentTerms), with the tensors
    // g(m) when `with_tensors` is set. Throws UsageError for outer and Error when conformal is
    // used with a model that has no log-density.
    void segment_terms(const RowMatrix& m, const RowMatrix& v, SegmentTerms& terms, bool with_tensors = false) const;

private:
    friend class MetricPoints;

    // log p at the rows of x, or Error naming the model when it has no log-density.
    Vector log_density(const RowMatrix& x) const;
    void check_points(const RowMatrix& x, const RowMatrix* v = nullptr) const;

    const ScoreModel& model_;
    MetricKind kind_;
    double lambda_;
    double beta_;
    double sigma_;
};

}  // namespace scorekit
