// Boundary-value geodesics against the closed-form distances T3, T4, T6, T7 and T8.
//
// The solver's lengths carry the midpoint rule's discretisation error c / n^2 for n segments.
// Where a test asserts a reference value to 1e-9 it uses Richardson extrapolation
// (4 L_2n - L_n) / 3, which cancels the c / n^2 term and leaves O(n^-4), below 1e-10 at
// n = 200 for these smooth paths. The solver tolerance (1e-8 node displacement relative to the
// chord) moves the length only at second order, about 1e-16.
#include <catch2/catch.hpp>

#include <cmath>

#include "scorekit/error.hpp"
#include "scorekit/geodesic.hpp"
#include "scorekit/metric_curves.hpp"
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

GeodesicBatch solve(const ScoreMetric& metric, const RowMatrix& from, const RowMatrix& to, int segments,
                    double tolerance = GeodesicOptions{}.tolerance) {
    GeodesicOptions options;
    options.nodes = segments + 1;
    options.tolerance = tolerance;
    return solve_geodesics(metric, from, to, options);
}

// Node positions, unlike lengths, move at first order with the solver tolerance, so checks of
// a node to 1e-9 solve to 1e-12 of the chord.
constexpr double kNodeTolerance = 1e-12;

// Richardson-extrapolated length from n and 2 n segments; requires both solves to converge.
double extrapolated_length(const ScoreMetric& metric, const RowMatrix& from, const RowMatrix& to, int segments) {
    GeodesicBatch coarse = solve(metric, from, to, segments), fine = solve(metric, from, to, 2 * segments);
    REQUIRE(coarse.converged(0));
    REQUIRE(fine.converged(0));
    return (4 * fine.lengths(0) - coarse.lengths(0)) / 3;
}

MetricOptions stein_metric() { return MetricOptions{}; }

MetricOptions conformal_metric() {
    MetricOptions options;
    options.kind = MetricKind::conformal;
    options.beta = 1;
    return options;
}

}  // namespace

TEST_CASE("radial geodesic and midpoint convergence (T3)", "[geodesic]") {
    // N(0, I_2), lambda = 1: the ray is the geodesic, d = F(3) - F(1).
    auto model = make_analytic_model("gaussian:mean=0,0;cov=1");
    ScoreMetric metric(*model, stein_metric());
    const RowMatrix from = row({0.6, 0.8}), to = row({1.8, 2.4});
    const double exact = 4.504846145172283;

    double previous_error = 0;
    for (int segments : {10, 20, 40, 80}) {
        GeodesicBatch batch = solve(metric, from, to, segments);
        REQUIRE(batch.converged(0));
        const double error = exact - batch.lengths(0);
        // Leading term c / n^2 with c = 0.062 here (the reference quotes ~4e-4 at n = 10).
        CHECK(error > 0);
        CHECK(error < 1e-3 * std::pow(10.0 / segments, 2));
        if (previous_error > 0) {
            // Second order: halving h divides the error by 4, up to the O(h^4) term.
            CHECK_THAT(previous_error / error, WithinAbs(4.0, 0.1));
        }
        previous_error = error;

        // The nodes stay on the ray through the origin.
        for (Eigen::Index k = 0; k < batch.nodes; ++k) {
            CHECK(std::abs(0.8 * batch.paths(k, 0) - 0.6 * batch.paths(k, 1)) < 1e-10);
        }
    }
    CHECK_THAT(extrapolated_length(metric, from, to, 200), WithinAbs(exact, 1e-9));
}

TEST_CASE("one-dimensional stein distance (T3)", "[geodesic]") {
    auto model = make_analytic_model("gaussian:mean=0;cov=1");
    ScoreMetric metric(*model, stein_metric());
    CHECK_THAT(extrapolated_length(metric, row({-1}), row({2}), 200), WithinAbs(4.105679289785514, 1e-9));
}

TEST_CASE("curved geodesic between axes (T4)", "[geodesic]") {
    auto model = make_analytic_model("gaussian:mean=0,0;cov=1");
    ScoreMetric metric(*model, stein_metric());
    const RowMatrix from = row({1, 0}), to = row({0, 1});
    CHECK_THAT(extrapolated_length(metric, from, to, 200), WithinAbs(1.485910631850661, 1e-9));

    // The middle node, extrapolated the same way.
    GeodesicBatch coarse = solve(metric, from, to, 200, kNodeTolerance);
    GeodesicBatch fine = solve(metric, from, to, 400, kNodeTolerance);
    REQUIRE(coarse.converged(0));
    REQUIRE(fine.converged(0));
    for (int j = 0; j < 2; ++j) {
        const double middle = (4 * fine.paths(200, j) - coarse.paths(100, j)) / 3;
        CHECK_THAT(middle, WithinAbs(0.588329738407352, 1e-9));
    }

    // The straight segment is longer: 1.524504352246847 (midpoint rule, 1000 segments: 1e-7).
    Polylines straight;
    straight.nodes.resize(1001, 2);
    for (int k = 0; k <= 1000; ++k) straight.nodes.row(k) = (1 - k / 1000.0) * from + (k / 1000.0) * to;
    straight.offsets = {0, 1001};
    const double straight_length = measure_curves(metric, straight).lengths(0);
    CHECK_THAT(straight_length, WithinAbs(1.524504352246847, 1e-7));
    CHECK(fine.lengths(0) < straight_length - 0.03);
}

TEST_CASE("batched pairs match single solves", "[geodesic]") {
    auto model = make_analytic_model("gmm:weights=0.5,0.5;means=-2,0/2,0;covs=1");
    ScoreMetric metric(*model, stein_metric());
    RowMatrix from(3, 2), to(3, 2);
    from << -2, 0, -2, 1, 0.5, 0.5;
    to << 2, 0, 2, -1, 0.5, 0.5;  // the last pair is a single point
    GeodesicBatch batch = solve(metric, from, to, 64);
    REQUIRE(batch.unconverged_count() == 0);
    for (Eigen::Index p = 0; p < 2; ++p) {
        GeodesicBatch single = solve(metric, from.row(p), to.row(p), 64);
        CHECK_THAT(batch.lengths(p), WithinAbs(single.lengths(0), 1e-12));
    }
    CHECK(batch.lengths(2) == 0.0);
    // Symmetry in the end points: the reversed pair has the same discrete minimum.
    GeodesicBatch reversed = solve(metric, to.row(0), from.row(0), 64);
    CHECK_THAT(reversed.lengths(0), WithinAbs(batch.lengths(0), 1e-10));
}

TEST_CASE("chunked solve equals one batch", "[geodesic]") {
    // Seven pairs across a two-cluster mixture, including a zero-length pair and pairs that end
    // unconverged at 9 nodes, solved in chunks of 1, 2, 3 and 7 pairs and as one batch.
    auto model = make_analytic_model("gmm:weights=0.3,0.7;means=-2,0/2,0.5;covs=1,0.2,0.2,0.5/0.7");
    ScoreMetric metric(*model, stein_metric());
    RowMatrix from(7, 2), to(7, 2);
    from << -2, 0, -3, 1, 0.5, 0.5, 2, 0.5, -1, -1, 0, 2, -2.5, 0.3;
    to << 2, 0.5, 2, -1, 0.5, 0.5, -2, 0, 3, 1, 0, -2, 2.5, 1.2;
    for (int nodes : {9, 65}) {
        GeodesicOptions options;
        options.nodes = nodes;
        options.batch_size = 1000;
        GeodesicBatch whole = solve_geodesics(metric, from, to, options);
        if (nodes == 65) CHECK(whole.unconverged_count() == 0);
        for (int batch_size : {1, 2, 3, 7}) {
            INFO("nodes " << nodes << ", batch size " << batch_size);
            options.batch_size = batch_size;
            std::vector<std::int64_t> reports;
            GeodesicBatch chunked = solve_geodesics(metric, from, to, options,
                                                    [&](std::int64_t done, std::int64_t total) {
                                                        CHECK(total == 7);
                                                        reports.push_back(done);
                                                    });
            CHECK(chunked.paths == whole.paths);
            CHECK(chunked.lengths == whole.lengths);
            CHECK(chunked.energies == whole.energies);
            CHECK(chunked.iterations == whole.iterations);
            CHECK(chunked.status == whole.status);
            // One report per chunk, counting the pairs of all chunks so far.
            REQUIRE(reports.size() == static_cast<size_t>((7 + batch_size - 1) / batch_size));
            for (size_t k = 0; k < reports.size(); ++k) {
                CHECK(reports[k] == std::min<std::int64_t>(7, static_cast<std::int64_t>(k + 1) * batch_size));
            }
        }
    }
}

TEST_CASE("batch size below one is rejected", "[geodesic]") {
    auto model = make_analytic_model("gaussian:mean=0,0;cov=1");
    ScoreMetric metric(*model, stein_metric());
    GeodesicOptions options;
    options.batch_size = 0;
    CHECK_THROWS_AS(solve_geodesics(metric, row({1, 0}), row({0, 1}), options), UsageError);
}

TEST_CASE("outer metric is rejected (T5)", "[geodesic]") {
    auto model = make_analytic_model("gaussian:mean=0,0;cov=1");
    MetricOptions options;
    options.kind = MetricKind::outer;
    ScoreMetric metric(*model, options);
    try {
        solve(metric, row({1, 0}), row({0, 1}), 10);
        FAIL("outer was accepted");
    } catch (const UsageError& e) {
        CHECK_THAT(e.what(), Catch::Contains("rank one"));
        CHECK_THAT(e.what(), Catch::Contains("|log p(x) - log p(y)|"));
    }
}

TEST_CASE("hyperbolic half-plane distances (T6)", "[geodesic]") {
    HalfPlaneModel model;
    ScoreMetric metric(model, conformal_metric());
    CHECK_THAT(extrapolated_length(metric, row({-1, 1}), row({1, 1}), 200), WithinAbs(std::acosh(3.0), 1e-9));
    CHECK_THAT(extrapolated_length(metric, row({0, 1}), row({0, std::exp(1.0)}), 200), WithinAbs(1.0, 1e-9));
    CHECK_THAT(extrapolated_length(metric, row({0, 1}), row({3, 2}), 200), WithinAbs(1.924847300238414, 1e-9));

    GeodesicBatch coarse = solve(metric, row({-1, 1}), row({1, 1}), 200, kNodeTolerance);
    GeodesicBatch fine = solve(metric, row({-1, 1}), row({1, 1}), 400, kNodeTolerance);
    REQUIRE(coarse.converged(0));
    REQUIRE(fine.converged(0));
    CHECK_THAT((4 * fine.paths(200, 0) - coarse.paths(100, 0)) / 3, WithinAbs(0.0, 1e-9));
    CHECK_THAT((4 * fine.paths(200, 1) - coarse.paths(100, 1)) / 3, WithinAbs(std::sqrt(2.0), 1e-9));
}

TEST_CASE("flat conformal metric and a non-attained infimum (T7)", "[geodesic]") {
    ExponentialModel model;
    ScoreMetric metric(model, conformal_metric());
    CHECK_THAT(extrapolated_length(metric, row({0, 0}), row({1, 0.5}), 200), WithinAbs(1.391641483957987, 1e-9));
    CHECK_THAT(extrapolated_length(metric, row({0, 0}), row({2, 0}), 200), WithinAbs(2 * std::sin(1.0), 1e-9));

    GeodesicBatch coarse = solve(metric, row({0, 0}), row({2, 0}), 200, kNodeTolerance);
    GeodesicBatch fine = solve(metric, row({0, 0}), row({2, 0}), 400, kNodeTolerance);
    REQUIRE(coarse.converged(0));
    REQUIRE(fine.converged(0));
    CHECK_THAT((4 * fine.paths(200, 0) - coarse.paths(100, 0)) / 3, WithinAbs(1.0, 1e-9));
    CHECK_THAT((4 * fine.paths(200, 1) - coarse.paths(100, 1)) / 3, WithinAbs(std::log(std::cos(1.0)), 1e-9));

    // (0, 0) to (4, 0) subtends more than pi in the flat picture: the infimum 2 runs through
    // y = -infinity and no curve attains it, so the solver must not report convergence.
    for (int segments : {20, 100, 400}) {
        GeodesicBatch batch = solve(metric, row({0, 0}), row({4, 0}), segments);
        CHECK_FALSE(batch.converged(0));
    }
}

TEST_CASE("one-dimensional Fermat distance (T8)", "[geodesic]") {
    auto model = make_analytic_model("gaussian:mean=0;cov=1");
    ScoreMetric metric(*model, conformal_metric());
    CHECK_THAT(extrapolated_length(metric, row({0}), row({1}), 200), WithinAbs(2.995314662331128, 1e-9));
}

TEST_CASE("path leaving the support is not finite", "[geodesic]") {
    HalfPlaneModel model;
    ScoreMetric metric(model, conformal_metric());
    GeodesicBatch batch = solve(metric, row({0, 1}), row({1, -1}), 20);
    CHECK(batch.status[0] == GeodesicStatus::not_finite);
}
