// Exponential and logarithmic maps against closed forms (T4 log map, T6 exp map).
#include <catch2/catch.hpp>

#include <cmath>

#include "scorekit/geodesic_shooting.hpp"
#include "scorekit/reference_densities.hpp"

using namespace scorekit;
using Catch::Matchers::WithinAbs;

namespace {

RowMatrix row(std::initializer_list<double> values) {
    RowMatrix m(1, static_cast<Eigen::Index>(values.size()));
    Eigen::Index j = 0;
    for (double v : values) m(0, j++) = v;
    return m;
}

}  // namespace

TEST_CASE("exponential map on the half-plane (T6)", "[shooting]") {
    // The integrator's local error tolerance 1e-10 leaves a global error below 1e-9 over t in [0, 1].
    HalfPlaneModel model;
    MetricOptions options;
    options.kind = MetricKind::conformal;
    ScoreMetric metric(model, options);
    ExpMapResult result = exponential_map(metric, row({1, 1}), row({2, 1}), ExpMapOptions{});
    REQUIRE(result.ok[0]);
    CHECK_THAT(result.ends(0, 0), WithinAbs(2.553104956397205, 1e-9));
    CHECK_THAT(result.ends(0, 1), WithinAbs(0.375459652708040, 1e-9));
    // A geodesic has constant speed: |v|_g = sqrt(5) at both ends.
    CHECK_THAT(std::sqrt(metric.squared_norms(result.ends, result.end_velocities)(0)), WithinAbs(std::sqrt(5.0), 1e-8));
    CHECK(result.paths.rows() == 101);
}

TEST_CASE("logarithmic map between axes (T4)", "[shooting]") {
    // Shooting stops at a miss of 1e-9 times the chord. The exponential map's Jacobian has
    // entries of order 1, so the velocity is then within a few 1e-9.
    auto model = make_analytic_model("gaussian:mean=0,0;cov=1");
    ScoreMetric metric(*model, MetricOptions{});
    LogMapResult result = logarithmic_map(metric, row({1, 0}), row({0, 1}), LogMapOptions{});
    REQUIRE(result.converged[0]);
    CHECK_THAT(result.velocities(0, 0), WithinAbs(-0.582863704670304, 1e-8));
    CHECK_THAT(result.velocities(0, 1), WithinAbs(1.236313151836075, 1e-8));
    CHECK_THAT(result.lengths(0), WithinAbs(1.485910631850661, 1e-8));

    // Shooting back along the result lands on the target.
    ExpMapResult back = exponential_map(metric, row({1, 0}), result.velocities, ExpMapOptions{});
    CHECK_THAT(back.ends(0, 0), WithinAbs(0.0, 1e-8));
    CHECK_THAT(back.ends(0, 1), WithinAbs(1.0, 1e-8));
}

TEST_CASE("exponential map for a score without symmetric Jacobian", "[shooting]") {
    // The general stein form with finite-difference J v and J^T v agrees with the closed form.
    class ScoreOnly : public ScoreModel {
    public:
        explicit ScoreOnly(const ScoreModel& inner) : inner_(inner) {}
        int dim() const override { return inner_.dim(); }
        std::string kind() const override { return "score-only"; }
        RowMatrix score(const RowMatrix& x, double sigma) const override { return inner_.score(x, sigma); }

    private:
        const ScoreModel& inner_;
    };
    auto model = make_analytic_model("gmm:weights=0.4,0.6;means=-1,0/1,1;covs=0.5/1");
    ScoreOnly learned(*model);
    ScoreMetric exact(*model, MetricOptions{}), numeric(learned, MetricOptions{});
    RowMatrix x(2, 2), v(2, 2);
    x << -1, 0.5, 0.3, 0.2;
    v << 1, 0.5, -0.4, 1;
    ExpMapResult a = exponential_map(exact, x, v, ExpMapOptions{});
    ExpMapResult b = exponential_map(numeric, x, v, ExpMapOptions{});
    CHECK((a.ends - b.ends).cwiseAbs().maxCoeff() < 1e-7);
}
