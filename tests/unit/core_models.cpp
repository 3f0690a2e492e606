// Closed-form checks of the analytic score models.
#include <catch2/catch.hpp>

#include <cmath>

#include "scorekit/error.hpp"
#include "scorekit/score_model.hpp"

using namespace scorekit;
using Catch::Matchers::WithinAbs;

TEST_CASE("mixture score and log-density at a point (T2)", "[models]") {
    // weights (.3, .7), means (-2, 0) and (2, 0), covariances I and diag(.5, 2), x = (.5, .5).
    auto model = parse_analytic_model("gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1/0.5,2");
    RowMatrix x(1, 2);
    x << 0.5, 0.5;
    RowMatrix s = model->score(x, 0.0);
    CHECK_THAT(s(0, 0), WithinAbs(2.209585617024469, 1e-12));
    CHECK_THAT(s(0, 1), WithinAbs(-0.285927926498888, 1e-12));
    CHECK_THAT(model->log_density(x, 0.0)(0), WithinAbs(-4.351903842867239, 1e-12));
}

TEST_CASE("perturbed mixture score at the origin", "[models]") {
    // 0.8 N((5,5), I) + 0.2 N((-5,-5), I): s_sigma(0, 0) = 3 / (1 + sigma^2) (1, 1).
    auto model = parse_analytic_model("gmm:weights=0.8,0.2;means=5,5/-5,-5;covs=1");
    RowMatrix origin = RowMatrix::Zero(1, 2);
    for (double sigma : {0.0, 0.5, 2.0, 10.0}) {
        RowMatrix s = model->score(origin, sigma);
        CHECK_THAT(s(0, 0), WithinAbs(3 / (1 + sigma * sigma), 1e-12));
        CHECK_THAT(s(0, 1), WithinAbs(3 / (1 + sigma * sigma), 1e-12));
    }
}

TEST_CASE("Gaussian score with full covariance (T1)", "[models]") {
    // mu = (1, -1), Sigma = [[2, .5], [.5, 1]], x = 0: s = (6/7, -10/7).
    auto model = parse_analytic_model("gaussian:mean=1,-1;cov=2,0.5,0.5,1");
    RowMatrix s = model->score(RowMatrix::Zero(1, 2), 0.0);
    CHECK_THAT(s(0, 0), WithinAbs(6.0 / 7, 1e-14));
    CHECK_THAT(s(0, 1), WithinAbs(-10.0 / 7, 1e-14));
}

TEST_CASE("standard normal log-density and batch rows", "[models]") {
    auto model = parse_analytic_model("gaussian:mean=0;cov=1");
    RowMatrix x(3, 1);
    x << -1, 0, 2;
    Vector lp = model->log_density(x, 0.0);
    RowMatrix s = model->score(x, 0.0);
    for (int i = 0; i < 3; ++i) {
        CHECK_THAT(lp(i), WithinAbs(-0.5 * std::log(2 * M_PI) - 0.5 * x(i, 0) * x(i, 0), 1e-14));
        CHECK_THAT(s(i, 0), WithinAbs(-x(i, 0), 1e-14));
    }
}

TEST_CASE("invalid analytic model specs are usage errors", "[models]") {
    CHECK_THROWS_AS(parse_analytic_model("gaussian:mean=0,0;cov=1,2,3"), UsageError);
    CHECK_THROWS_AS(parse_analytic_model("gaussian:mean=0,x"), UsageError);
    CHECK_THROWS_AS(parse_analytic_model("gaussian:mean=0,0;cov=-1"), UsageError);
    CHECK_THROWS_AS(parse_analytic_model("gmm:weights=1,1;means=0,0"), UsageError);
    CHECK_THROWS_AS(parse_analytic_model("gaussian:mean=0;colour=red"), UsageError);
}

TEST_CASE("repeated keys in a model spec are usage errors", "[models]") {
    CHECK_THROWS_WITH(parse_analytic_model("gmm:weights=1,3;means=-2,0/2,0;covs=1;covs=2"),
                      Catch::Contains("key \"covs\" is given twice"));
    CHECK_THROWS_AS(parse_analytic_model("gaussian:mean=0;mean=1"), UsageError);
}

TEST_CASE("mixture weights near the largest double", "[models]") {
    // The weights 1e308 and 1.7e308 sum to more than the largest double, yet they are the mixture
    // of weights 1 and 1.7.
    auto huge = parse_analytic_model("gmm:weights=1e308,1.7e308;means=-2,0/2,0;covs=1");
    auto plain = parse_analytic_model("gmm:weights=1,1.7;means=-2,0/2,0;covs=1");
    RowMatrix x(1, 2);
    x << 0.5, 0.25;
    RowMatrix expected = plain->score(x, 0);
    RowMatrix got = huge->score(x, 0);
    CHECK_THAT(got(0, 0), Catch::Matchers::WithinRel(expected(0, 0), 1e-14));
    CHECK_THAT(got(0, 1), Catch::Matchers::WithinAbs(expected(0, 1), 1e-14));
}

TEST_CASE("one Gaussian far from its mean", "[models]") {
    // At 1e200 the Mahalanobis form overflows and the log-density is -inf, but the score of one
    // component is still -Sigma^-1 (x - mu). D = 2 takes the fixed-size path, D = 5 the general one.
    for (int d : {2, 5}) {
        INFO("dimension " << d);
        std::string mean = "0", cov = "4";
        for (int j = 1; j < d; ++j) mean += ",0";
        auto model = parse_analytic_model("gaussian:mean=" + mean + ";cov=" + cov);
        RowMatrix x = RowMatrix::Zero(1, d);
        x(0, 0) = 1e200;
        RowMatrix s = model->score(x, 0);
        CHECK_THAT(s(0, 0), Catch::Matchers::WithinRel(-0.25e200, 1e-15));
        CHECK(s(0, 1) == 0);
        RowMatrix jacobian = model->score_jacobian(x, 0);
        CHECK_THAT(jacobian(0, 0), WithinAbs(-0.25, 1e-15));
        CHECK(jacobian(0, 1) == 0);
        RowMatrix tangent = RowMatrix::Ones(1, d);
        RowMatrix product = model->score_jvp(x, tangent, 0);
        CHECK_THAT(product(0, 0), WithinAbs(-0.25, 1e-15));
    }
}

TEST_CASE("mixture Jacobian at a large score", "[models]") {
    // At x = 1e8 the score of N(0, 1) is -1e8, and J = -1 exactly. The form
    // sum_k r_k s_k s_k^T - s s^T cancelled 1e16 against 1e16 and returned 0 or -2.
    auto single = parse_analytic_model("gaussian:mean=0;cov=1");
    RowMatrix x(1, 1);
    x << 1e8;
    CHECK_THAT(single->score_jacobian(x, 0)(0, 0), WithinAbs(-1, 1e-15));

    // Two components far out along their axis: the one nearer x has responsibility 1 to
    // rounding, so J = -1 for unit covariances.
    auto pair = parse_analytic_model("gmm:weights=1,1;means=-1/1;covs=1");
    CHECK_THAT(pair->score_jacobian(x, 0)(0, 0), WithinAbs(-1, 1e-12));
}

TEST_CASE("mixture means must be finite", "[models]") {
    RowMatrix means(2, 2);
    means << -2, 0, 2, std::nan("");
    std::vector<RowMatrix> covariances(2, RowMatrix::Identity(2, 2));
    CHECK_THROWS_WITH(GaussianMixtureModel({0.3, 0.7}, means, covariances), Catch::Contains("NaN or infinite"));
}

TEST_CASE("noise levels must be positive, finite and sorted", "[models]") {
    CHECK_NOTHROW(check_noise_levels({2.0, 1.0, 1.0, 0.1}, "m"));
    CHECK_NOTHROW(check_noise_levels({}, "m"));
    CHECK_THROWS_WITH(check_noise_levels({0.1, 0.5}, "m.pt"),
                      Catch::Contains("\"m.pt\"") && Catch::Contains("level 2 (0.5) is larger than level 1 (0.1)"));
    CHECK_THROWS_WITH(check_noise_levels({1.0, std::nan("")}, "m"), Catch::Contains("level 2 is nan"));
    CHECK_THROWS_WITH(check_noise_levels({1.0, -0.1}, "m"), Catch::Contains("level 2 is -0.1"));
    CHECK_THROWS_WITH(check_noise_levels({0.0}, "m"), Catch::Contains("level 1 is 0"));
}

TEST_CASE("mixture samples have the mixture moments", "[models]") {
    auto model = parse_analytic_model("gmm:weights=0.8,0.2;means=5,5/-5,-5;covs=1");
    RowMatrix x = model->sample(20000, 7);
    double upper = (x.col(0).array() > 0).cast<double>().mean();
    // Binomial standard error sqrt(.16 / 20000) = 0.0028; 4 standard errors fit 0.012.
    CHECK_THAT(upper, WithinAbs(0.8, 0.012));
}
