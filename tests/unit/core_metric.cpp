// Closed-form checks of the score metrics at single points (reference values T1 and T5).
#include <catch2/catch.hpp>

#include <Eigen/LU>
#include <Eigen/SVD>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "scorekit/error.hpp"
#include "scorekit/metric.hpp"
#include "scorekit/metric_curves.hpp"
#include "scorekit/reference_densities.hpp"
#include "scorekit/score_model.hpp"

using namespace scorekit;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

RowMatrix row(std::initializer_list<double> values) {
    RowMatrix m(1, static_cast<Eigen::Index>(values.size()));
    Eigen::Index j = 0;
    for (double v : values) m(0, j++) = v;
    return m;
}

// Forwards only the score, so the metric falls back to the finite-difference derivatives and
// to the general (non-symmetric Jacobian) geodesic equation.
class ScoreOnly : public ScoreModel {
public:
    explicit ScoreOnly(const ScoreModel& inner) : inner_(inner) {}
    int dim() const override { return inner_.dim(); }
    std::string kind() const override { return "score-only"; }
    RowMatrix score(const RowMatrix& x, double sigma) const override { return inner_.score(x, sigma); }

private:
    const ScoreModel& inner_;
};

MetricOptions stein_with(double lambda) {
    MetricOptions options;
    options.lambda = lambda;
    return options;
}

}  // namespace

TEST_CASE("stein metric algebra at a point (T1)", "[metric]") {
    // mu = (1, -1), Sigma = [[2, .5], [.5, 1]], x = 0, lambda = 0.5: s = (6/7, -10/7).
    auto model = make_analytic_model("gaussian:mean=1,-1;cov=2,0.5,0.5,1");
    ScoreMetric metric(*model, stein_with(0.5));
    const RowMatrix x = RowMatrix::Zero(1, 2);

    RowMatrix g = metric.tensors(x);
    CHECK_THAT(g(0, 0), WithinAbs(67.0 / 49, 1e-14));
    CHECK_THAT(g(0, 1), WithinAbs(-30.0 / 49, 1e-14));
    CHECK_THAT(g(0, 2), WithinAbs(-30.0 / 49, 1e-14));
    CHECK_THAT(g(0, 3), WithinAbs(99.0 / 49, 1e-14));

    CHECK_THAT(metric.log_determinants(x)(0), WithinAbs(0.870353636687130, 1e-14));
    CHECK_THAT(metric.volume_elements(x)(0), WithinAbs(std::sqrt(117.0 / 49), 1e-14));
    RowMatrix eigenvalues = metric.eigenvalues(x);
    CHECK_THAT(eigenvalues(0, 0), WithinAbs(1.0, 1e-14));
    CHECK_THAT(eigenvalues(0, 1), WithinAbs(117.0 / 49, 1e-14));

    RowMatrix inverse = metric.inverse_tensors(x);
    CHECK_THAT(inverse(0, 0), WithinAbs(11.0 / 13, 1e-14));
    CHECK_THAT(inverse(0, 1), WithinAbs(10.0 / 39, 1e-14));
    CHECK_THAT(inverse(0, 3), WithinAbs(67.0 / 117, 1e-14));

    CHECK_THAT(metric.squared_norms(x, row({1, 1}))(0), WithinAbs(106.0 / 49, 1e-14));
    CHECK_THAT(metric.inner_products(x, row({1, 0}), row({0, 1}))(0), WithinAbs(-30.0 / 49, 1e-14));

    RowMatrix acceleration = metric.accelerations(x, row({1, 1}));
    CHECK_THAT(acceleration(0, 0), WithinAbs(24.0 / 117, 1e-14));
    CHECK_THAT(acceleration(0, 1), WithinAbs(-40.0 / 117, 1e-14));
}

TEST_CASE("stein acceleration through the general form (T1)", "[metric]") {
    // Without symmetric_jacobian() the metric uses J v - J^T v from finite differences, which
    // for a true score cancels; central differences leave about 1e-10.
    auto model = make_analytic_model("gaussian:mean=1,-1;cov=2,0.5,0.5,1");
    ScoreOnly learned(*model);
    ScoreMetric metric(learned, stein_with(0.5));
    RowMatrix acceleration = metric.accelerations(RowMatrix::Zero(1, 2), row({1, 1}));
    CHECK_THAT(acceleration(0, 0), WithinAbs(24.0 / 117, 1e-8));
    CHECK_THAT(acceleration(0, 1), WithinAbs(-40.0 / 117, 1e-8));
}

TEST_CASE("stein closed forms agree with the dense tensor", "[metric]") {
    auto model = make_analytic_model("gmm:weights=0.3,0.7;means=-2,0,1/2,0,-1;covs=1/0.5,2,1");
    ScoreMetric metric(*model, stein_with(2.0));
    RowMatrix x(2, 3);
    x << 0.5, 0.5, -0.2, 1.5, -1.0, 0.3;
    RowMatrix g = metric.tensors(x);
    for (Eigen::Index i = 0; i < 2; ++i) {
        Eigen::Map<const RowMatrix> dense(g.row(i).data(), 3, 3);
        CHECK_THAT(metric.log_determinants(x.row(i))(0), WithinAbs(std::log(dense.determinant()), 1e-12));
        const RowMatrix inverse_row = metric.inverse_tensors(x.row(i));
        Eigen::Map<const RowMatrix> inverse(inverse_row.data(), 3, 3);
        CHECK(((dense * inverse) - RowMatrix::Identity(3, 3)).cwiseAbs().maxCoeff() < 1e-12);
    }
}

TEST_CASE("outer metric is rank one (T5)", "[metric]") {
    // N(0, I_2): s = -x is normal to circles, so a polygon inscribed in the unit circle has
    // "length" 0: each chord's midpoint is orthogonal to the chord.
    auto model = make_analytic_model("gaussian:mean=0,0;cov=1");
    MetricOptions options;
    options.kind = MetricKind::outer;
    ScoreMetric metric(*model, options);

    Polylines arc;
    const int nodes = 33;
    arc.nodes.resize(nodes, 2);
    for (int k = 0; k < nodes; ++k) {
        const double angle = M_PI / 2 * k / (nodes - 1);
        arc.nodes.row(k) << std::cos(angle), std::sin(angle);
    }
    arc.offsets = {0, nodes};
    CHECK_THAT(measure_curves(metric, arc).lengths(0), WithinAbs(0.0, 1e-14));

    const RowMatrix x = row({1, 0});
    CHECK(metric.log_determinants(x)(0) == -std::numeric_limits<double>::infinity());
    CHECK_THAT(metric.squared_norms(x, row({0, 1}))(0), WithinAbs(0.0, 1e-300));
    CHECK_THAT(metric.squared_norms(x, row({1, 0}))(0), WithinAbs(1.0, 1e-15));
    CHECK_THROWS_AS(metric.accelerations(x, row({0, 1})), UsageError);
    CHECK_THROWS_AS(metric.inverse_tensors(x), UsageError);
}

TEST_CASE("conformal metric on reference densities", "[metric]") {
    MetricOptions options;
    options.kind = MetricKind::conformal;
    HalfPlaneModel half_plane;
    ScoreMetric hyperbolic(half_plane, options);
    // g = I / y^2 at y = 2, so log det = -2 D log y.
    CHECK_THAT(hyperbolic.log_determinants(row({0.3, 2}))(0), WithinAbs(-4 * std::log(2.0), 1e-14));
    CHECK_THAT(hyperbolic.squared_norms(row({0.3, 2}), row({1, 1}))(0), WithinAbs(0.5, 1e-15));

    ExponentialModel exponential;
    ScoreMetric flat(exponential, options);
    CHECK_THAT(flat.squared_norms(row({0, 0.5}), row({1, 0}))(0), WithinAbs(std::exp(1.0), 1e-14));
    // The acceleration 2 beta (s.v) v - beta |v|^2 s with s = (0, -1) and v = (1, 0).
    RowMatrix acceleration = flat.accelerations(row({0, 0}), row({1, 0}));
    CHECK_THAT(acceleration(0, 0), WithinAbs(0.0, 1e-15));
    CHECK_THAT(acceleration(0, 1), WithinAbs(1.0, 1e-15));
}

TEST_CASE("pullback metric from the Jacobian", "[metric]") {
    // N(mu, Sigma) has J = -Sigma^-1 everywhere, so g = lambda I + Sigma^-2 and geodesics are
    // straight lines (zero acceleration).
    auto model = make_analytic_model("gaussian:mean=1,-1;cov=2,0.5,0.5,1");
    MetricOptions options;
    options.kind = MetricKind::pullback;
    options.lambda = 0.5;
    ScoreMetric metric(*model, options);
    RowMatrix precision(2, 2);
    precision << 2, 0.5, 0.5, 1;
    precision = precision.inverse().eval();
    RowMatrix expected = precision * precision;
    expected.diagonal().array() += 0.5;

    const RowMatrix x = row({0.2, 0.7});
    RowMatrix g = metric.tensors(x);
    for (int k = 0; k < 4; ++k) CHECK_THAT(g(0, k), WithinAbs(expected(k / 2, k % 2), 1e-13));
    CHECK_THAT(metric.log_determinants(x)(0), WithinAbs(std::log(expected.determinant()), 1e-12));
    CHECK_THAT(metric.volume_elements(x)(0), WithinAbs(std::sqrt(expected.determinant()), 1e-12));
    CHECK_THAT(metric.squared_norms(x, row({1, -2}))(0),
               WithinAbs((row({1, -2}) * expected * row({1, -2}).transpose())(0, 0), 1e-12));
    RowMatrix acceleration = metric.accelerations(x, row({1, -2}));
    CHECK(acceleration.cwiseAbs().maxCoeff() < 1e-7);
}

TEST_CASE("pullback log det with ill-conditioned Jacobian", "[metric]") {
    // Sigma with eigenvalues 1e4 and 1e-4, rotated, gives J with condition number 1e8. Formed
    // J^T J rounds its small eigenvalue (about 1e-8) by about 1e-8, far above lambda = 1e-12, so
    // log det g was -0.093 or NaN and an eigenvalue came out negative. The reference
    // log det g = sum log(lambda + sigma_k^2) uses the singular values of the model's own J.
    const double c = std::cos(0.3), s = std::sin(0.3);
    const double a = 1e4 * c * c + 1e-4 * s * s, b = (1e4 - 1e-4) * c * s, d = 1e4 * s * s + 1e-4 * c * c;
    char spec[160];
    std::snprintf(spec, sizeof spec, "gaussian:mean=0,0;cov=%.17g,%.17g,%.17g,%.17g", a, b, b, d);
    auto model = make_analytic_model(spec);
    MetricOptions options;
    options.kind = MetricKind::pullback;
    options.lambda = 1e-12;
    ScoreMetric metric(*model, options);
    const RowMatrix x = row({0.3, -0.2});
    MetricPoints points(metric, x);
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(Eigen::Map<const RowMatrix>(points.jacobians().row(0).data(), 2, 2));
    const Eigen::ArrayXd expected = 1e-12 + svd.singularValues().reverse().array().square();
    REQUIRE(expected(0) < 1e-6);

    CHECK_THAT(metric.log_determinants(points)(0), WithinAbs(expected.log().sum(), 1e-6));
    const RowMatrix eigenvalues = metric.eigenvalues(points);
    CHECK_THAT(eigenvalues(0, 0), WithinRel(expected(0), 1e-6));
    CHECK_THAT(eigenvalues(0, 1), WithinRel(expected(1), 1e-12));

    // g^-1 = V diag(1 / (lambda + sigma_k^2)) V^T; its large eigenvalue is about 1e8.
    Eigen::JacobiSVD<Eigen::MatrixXd> full(Eigen::Map<const RowMatrix>(points.jacobians().row(0).data(), 2, 2),
                                           Eigen::ComputeFullV);
    const Eigen::Vector2d weights = (1e-12 + full.singularValues().array().square()).inverse();
    const Eigen::MatrixXd inverse_expected = full.matrixV() * weights.asDiagonal() * full.matrixV().transpose();
    const RowMatrix inverse = metric.inverse_tensors(points);
    for (int k = 0; k < 4; ++k) {
        CHECK_THAT(inverse(0, k), WithinRel(inverse_expected(k / 2, k % 2), 1e-6));
    }
}

TEST_CASE("curve length and energy by the midpoint rule", "[metric]") {
    // 1-D N(0, 1), stein, lambda = 1: g = 1 + x^2 at the midpoint 1/2 of the single segment
    // [0, 1] gives length sqrt(5/4) and, with t from 0 to 2, energy (5/4) / 2.
    auto model = make_analytic_model("gaussian:mean=0;cov=1");
    ScoreMetric metric(*model, stein_with(1.0));
    Polylines curve;
    curve.nodes = RowMatrix(2, 1);
    curve.nodes << 0, 1;
    curve.times = Vector(2);
    curve.times << 0, 2;
    curve.offsets = {0, 2};
    CurveMeasures measures = measure_curves(metric, curve);
    CHECK_THAT(measures.lengths(0), WithinAbs(std::sqrt(1.25), 1e-15));
    CHECK_THAT(measures.energies(0), WithinAbs(0.625, 1e-15));

    curve.times << 1, 1;
    CHECK_THROWS_AS(measure_curves(metric, curve), Error);
}

TEST_CASE("invalid metric settings are usage errors", "[metric]") {
    auto model = make_analytic_model("gaussian:mean=0;cov=1");
    CHECK_THROWS_AS(parse_metric_kind("fisher"), UsageError);
    CHECK_THROWS_AS(ScoreMetric(*model, stein_with(-1)), UsageError);
    MetricOptions pullback;
    pullback.kind = MetricKind::pullback;
    pullback.lambda = 0;
    CHECK_THROWS_AS(ScoreMetric(*model, pullback), UsageError);
    ScoreOnly learned(*model);
    MetricOptions conformal;
    conformal.kind = MetricKind::conformal;
    CHECK_THROWS_AS(ScoreMetric(learned, conformal).squared_norms(row({0}), row({1})), Error);
}

TEST_CASE("stein metric in 784 dimensions", "[metric]") {
    // N(0, I) in digit-image dimension: s = -x, so log det g = log(1 + lambda |x|^2) and
    // |v|^2_g = |v|^2 + lambda (x.v)^2, all from the closed forms without a D x D matrix.
    const int d = 784;
    std::string spec = "gaussian:mean=0";
    for (int j = 1; j < d; ++j) spec += ",0";
    spec += ";cov=1";
    auto model = make_analytic_model(spec);
    ScoreMetric metric(*model, stein_with(0.5));

    RowMatrix x(2, d), v(2, d);
    for (int j = 0; j < d; ++j) {
        x(0, j) = 0.01 * (j % 7);
        x(1, j) = -0.02 * (j % 3);
        v(0, j) = 1.0;
        v(1, j) = (j % 2) ? 1.0 : -1.0;
    }
    Vector log_det = metric.log_determinants(x);
    Vector norms = metric.squared_norms(x, v);
    RowMatrix eigenvalues = metric.eigenvalues(x);
    for (Eigen::Index i = 0; i < 2; ++i) {
        const double along = x.row(i).dot(v.row(i));
        CHECK_THAT(log_det(i), WithinAbs(std::log1p(0.5 * x.row(i).squaredNorm()), 1e-12));
        CHECK_THAT(norms(i), WithinAbs(v.row(i).squaredNorm() + 0.5 * along * along, 1e-9));
        CHECK_THAT(eigenvalues(i, 0), WithinAbs(1.0, 1e-15));
        CHECK_THAT(eigenvalues(i, d - 1), WithinAbs(1 + 0.5 * x.row(i).squaredNorm(), 1e-12));
    }
}

TEST_CASE("stein log det where the score is huge", "[metric]") {
    // At x = 1e200 the score of N(0, I_2) is -x, and |s|^2 overflows a double, but
    // log det g = log(1 + lambda |s|^2) = log lambda + 2 log |s| and sqrt(det g) are representable.
    auto model = parse_analytic_model("gaussian:mean=0,0;cov=1");
    MetricOptions options;
    options.kind = MetricKind::stein;
    options.lambda = 0.5;
    ScoreMetric metric(*model, options);
    RowMatrix x(2, 2);
    x << 1e200, 0, 3e199, 4e199;
    Vector log_det = metric.log_determinants(x);
    const double expected = std::log(0.5) + 2 * std::log(1e200);
    CHECK_THAT(log_det(0), Catch::Matchers::WithinRel(expected, 1e-15));
    CHECK_THAT(log_det(1), Catch::Matchers::WithinRel(expected + 2 * std::log(0.5), 1e-15));
    CHECK_THAT(metric.volume_elements(x)(0), Catch::Matchers::WithinRel(std::sqrt(0.5) * 1e200, 1e-12));

    options.kind = MetricKind::outer;
    auto line = parse_analytic_model("gaussian:mean=0;cov=1");
    RowMatrix point(1, 1);
    point << -1e200;
    CHECK_THAT(ScoreMetric(*line, options).log_determinants(point)(0), Catch::Matchers::WithinRel(2 * std::log(1e200), 1e-15));
}

namespace {

// Counts the model evaluations that reach it, to check what MetricPoints shares.
class CountingModel : public ScoreModel {
public:
    explicit CountingModel(const ScoreModel& inner) : inner_(inner) {}
    int dim() const override { return inner_.dim(); }
    std::string kind() const override { return "counting"; }
    RowMatrix score(const RowMatrix& x, double sigma) const override {
        ++scores;
        return inner_.score(x, sigma);
    }
    bool has_log_density() const override { return true; }
    Vector log_density(const RowMatrix& x, double sigma) const override {
        ++densities;
        return inner_.log_density(x, sigma);
    }
    RowMatrix score_jacobian(const RowMatrix& x, double sigma) const override {
        ++jacobians;
        return inner_.score_jacobian(x, sigma);
    }
    mutable int scores = 0, densities = 0, jacobians = 0;

private:
    const ScoreModel& inner_;
};

}  // namespace

TEST_CASE("shared metric points evaluate the model once", "[metric]") {
    auto gaussian = make_analytic_model("gaussian:mean=1,-1;cov=2,0.5,0.5,1");
    const RowMatrix x = row({0.2, 0.7}), v = row({1, -2});
    for (MetricKind kind : {MetricKind::stein, MetricKind::conformal, MetricKind::pullback}) {
        CountingModel model(*gaussian);
        MetricOptions options;
        options.kind = kind;
        ScoreMetric metric(model, options);
        const MetricPoints points(metric, x);
        const Vector shared = metric.log_determinants(points);
        const RowMatrix eigenvalues = metric.eigenvalues(points);
        metric.volume_elements(points);
        metric.tensors(points);
        CHECK(model.scores + model.densities + model.jacobians == 1);
        // Pullback norms evaluate J v (score_jvp) rather than read the kept Jacobians, so that
        // a norm does not depend on which other outputs were requested.
        metric.squared_norms(points, v);
        if (kind != MetricKind::pullback) CHECK(model.scores + model.densities + model.jacobians == 1);
        // The shared values are those of separate calls.
        CHECK(shared(0) == metric.log_determinants(x)(0));
        CHECK((eigenvalues - metric.eigenvalues(x)).cwiseAbs().maxCoeff() == 0);
    }
}

TEST_CASE("stein lambda 0 with a huge score", "[metric]") {
    // g = I whatever the score, even where |s|^2 overflows (|s| = 1e300 at x = -1e300 for the
    // standard normal), so log det g is 0, |v|_g = |v| and geodesics are straight.
    auto model = make_analytic_model("gaussian:mean=0,0;cov=1");
    ScoreMetric metric(*model, stein_with(0.0));
    const RowMatrix x = row({-1e300, 2}), v = row({3, 4});
    CHECK(metric.log_determinants(x)(0) == 0.0);
    CHECK(metric.squared_norms(x, v)(0) == 25.0);
    CHECK(metric.inner_products(x, v, v)(0) == 25.0);
    CHECK(metric.eigenvalues(x)(0, 1) == 1.0);
    CHECK(metric.tensors(x)(0, 1) == 0.0);
    CHECK(metric.inverse_tensors(x)(0, 0) == 1.0);
    CHECK(metric.accelerations(x, v).cwiseAbs().maxCoeff() == 0.0);
    SegmentTerms terms;
    metric.segment_terms(x, v, terms, true);
    CHECK(terms.quadratic(0) == 25.0);
    CHECK(terms.gradient.cwiseAbs().maxCoeff() == 0.0);
    CHECK(terms.tensors(0, 3) == 1.0);
}
