// Langevin samplers against closed-form stationary laws and acceptance ratios.
//
// Statistical checks use fixed seeds and enough samples that four standard errors fit inside the
// tolerance; each tolerance states its standard error.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "scorekit/error.hpp"
#include "scorekit/langevin.hpp"

using namespace scorekit;
using Catch::Matchers::WithinAbs;

namespace {

double variance(const Eigen::VectorXd& x) { return (x.array() - x.mean()).square().mean(); }

// Two-sample Kolmogorov-Smirnov statistic.
double ks_statistic(std::vector<double> a, std::vector<double> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    size_t i = 0, j = 0;
    double d = 0;
    while (i < a.size() && j < b.size()) {
        double t = std::min(a[i], b[j]);
        while (i < a.size() && a[i] <= t) ++i;
        while (j < b.size() && b[j] <= t) ++j;
        d = std::max(d, std::abs(static_cast<double>(i) / a.size() - static_cast<double>(j) / b.size()));
    }
    return d;
}

std::vector<double> column(const RowMatrix& m, int j) {
    return std::vector<double>(m.col(j).data(), m.col(j).data() + m.rows());
}

// Upper fraction of a 0.8 N((5,5), I) + 0.2 N((-5,-5), I) sample.
double upper_weight(const RowMatrix& x) { return (x.col(0).array() > 0).cast<double>().mean(); }

}  // namespace

TEST_CASE("MALA acceptance ratio on N(0, 1)", "[langevin]") {
    // log ratio = -(eps/4)(y^2 - x^2) for s(x) = -x, log p = -x^2/2 + c.
    Vector x(1), y(1), sx(1), sy(1);
    x << 0.5;
    y << 1.5;
    sx << -0.5;
    sy << -1.5;
    double log_ratio = mala_log_acceptance(x, y, sx, sy, -0.125, -1.125, 0.2);
    CHECK_THAT(std::exp(log_ratio), WithinAbs(0.904837418035960, 1e-15));
    CHECK_THAT(log_ratio, WithinAbs(-(0.2 / 4) * (1.5 * 1.5 - 0.5 * 0.5), 1e-15));
}

TEST_CASE("ULA stationary variance on N(0, 1) is 1 / (1 - eps/2)", "[langevin]") {
    auto model = parse_analytic_model("gaussian:mean=0;cov=1");
    LangevinOptions o;
    o.chains = 4000;
    o.steps = 1100;
    o.burn_in = 100;
    o.thin = 10;
    o.step_size = 0.1;
    o.seed = 11;
    LangevinResult r = sample_langevin(*model, o, RowMatrix());
    REQUIRE(r.samples.rows() == 400000);
    // 400,000 draws with lag-10 correlation 0.35 (x^2: 0.12): standard error of the variance
    // about 0.0027, so 4 standard errors fit 0.011. The exact-target value 1 lies 0.053 away.
    double v = variance(r.samples.col(0));
    CHECK_THAT(v, WithinAbs(1.052631578947368, 0.011));
    CHECK(std::abs(v - 1.0) > 0.03);
}

TEST_CASE("ULA lag-1 autocorrelation on N(0, 1) is 1 - eps", "[langevin]") {
    auto model = parse_analytic_model("gaussian:mean=0;cov=1");
    LangevinOptions o;
    o.chains = 2000;
    o.steps = 300;
    o.burn_in = 99;
    o.thin = 1;
    o.step_size = 0.1;
    o.seed = 5;
    LangevinResult r = sample_langevin(*model, o, RowMatrix());
    const Eigen::Index n = o.chains, kept = r.kept_per_chain;
    double numerator = 0, denominator = 0;
    for (Eigen::Index k = 0; k + 1 < kept; ++k) {
        numerator += r.samples.middleRows(k * n, n).col(0).dot(r.samples.middleRows((k + 1) * n, n).col(0));
    }
    denominator = r.samples.topRows((kept - 1) * n).col(0).squaredNorm();
    // 400,000 pairs with correlation time about 20 steps: standard error about 0.002.
    CHECK_THAT(numerator / denominator, WithinAbs(0.9, 0.008));
}

TEST_CASE("MALA targets N(0, 1) exactly", "[langevin]") {
    auto model = parse_analytic_model("gaussian:mean=0;cov=1");
    LangevinOptions o;
    o.method = LangevinMethod::mala;
    o.chains = 4000;
    o.steps = 1100;
    o.burn_in = 100;
    o.thin = 10;
    o.step_size = 0.5;
    o.seed = 3;
    LangevinResult r = sample_langevin(*model, o, RowMatrix());
    // Same sample size as the ULA case with faster mixing: standard error below 0.0027.
    CHECK_THAT(variance(r.samples.col(0)), WithinAbs(1.0, 0.011));
    CHECK(r.acceptance_rate() > 0.8);
    CHECK(r.acceptance_rate() < 1.0);
}

TEST_CASE("annealed Langevin recovers mixture weights that ULA misses", "[langevin]") {
    auto model = parse_analytic_model("gmm:weights=0.8,0.2;means=5,5/-5,-5;covs=1");
    LangevinOptions annealed;
    annealed.method = LangevinMethod::annealed;
    annealed.chains = 1280;
    annealed.steps = 200;
    annealed.step_size = 0.05;
    annealed.levels = geometric_levels(20, 1, 20);
    annealed.seed = 1;
    // Binomial standard error sqrt(0.16 / 1280) = 0.011; the tolerance 0.035 is about 3 of them
    // plus the small bias of the finite annealing schedule.
    CHECK_THAT(upper_weight(sample_langevin(*model, annealed, RowMatrix()).samples), WithinAbs(0.8, 0.035));

    LangevinOptions plain;
    plain.chains = 1280;
    plain.steps = 1000;
    plain.step_size = 0.1;
    plain.seed = 1;
    LangevinOptions start = plain;
    start.levels = {20.0};  // N(0, 20^2 I) starting points, as an annealed run would use
    double w = upper_weight(sample_langevin(*model, start, RowMatrix()).samples);
    CHECK(std::abs(w - 0.8) > 0.15);
}

TEST_CASE("KS test of MALA and biased ULA", "[langevin]") {
    auto model = parse_analytic_model("gaussian:mean=1,-1;cov=2,0.5,0.5,1");
    RowMatrix truth = model->sample(2000, 17), other_truth = model->sample(2000, 18);
    const double critical = 0.0515;  // n = m = 2000, alpha = 0.01

    LangevinOptions o;
    o.method = LangevinMethod::mala;
    o.chains = 2000;
    o.steps = 500;
    o.step_size = 0.3;
    o.seed = 21;
    RowMatrix mala = sample_langevin(*model, o, RowMatrix()).samples;

    o.method = LangevinMethod::ula;
    o.step_size = 1.0;
    RowMatrix biased = sample_langevin(*model, o, RowMatrix()).samples;

    for (int j = 0; j < 2; ++j) {
        CHECK(ks_statistic(column(truth, j), column(other_truth, j)) < critical);  // the null
        CHECK(ks_statistic(column(mala, j), column(truth, j)) < critical);
    }
    // ULA at eps = 1 inflates the variance along the stiffest direction 2.7-fold: the test must see it.
    CHECK(std::max(ks_statistic(column(biased, 0), column(truth, 0)), ks_statistic(column(biased, 1), column(truth, 1))) >
          critical);
}

TEST_CASE("samples do not depend on threads or on splitting chains into shards", "[langevin]") {
    auto model = parse_analytic_model("gmm:weights=0.5,0.5;means=-1,0/1,0;covs=0.5");
    LangevinOptions o;
    o.chains = 64;
    o.steps = 50;
    o.step_size = 0.05;
    o.seed = 8;
    RowMatrix one = sample_langevin(*model, o, RowMatrix()).samples;
    o.threads = 4;
    CHECK(sample_langevin(*model, o, RowMatrix()).samples == one);

    o.threads = 1;
    o.chains = 40;
    RowMatrix first = sample_langevin(*model, o, RowMatrix()).samples;
    o.chains = 24;
    o.first_chain = 40;
    RowMatrix second = sample_langevin(*model, o, RowMatrix()).samples;
    CHECK(first == one.topRows(40));
    CHECK(second == one.bottomRows(24));
}

TEST_CASE("samples do not depend on the block size", "[langevin]") {
    // Three dimensions, so that the blocks of a row-major matrix start at addresses that are not
    // multiples of the vector width.
    auto model = parse_analytic_model("gmm:weights=0.4,0.6;means=-1,0,1/1,0.5,0;covs=0.5");
    for (LangevinMethod method : {LangevinMethod::ula, LangevinMethod::mala, LangevinMethod::annealed}) {
        INFO(to_string(method));
        LangevinOptions o;
        o.method = method;
        o.chains = 50;
        o.steps = 30;
        o.seed = 11;
        if (method == LangevinMethod::annealed) {
            o.levels = geometric_levels(2, 0.2, 3);
            o.step_size = 0.01;
            o.denoise = true;
        } else {
            o.step_size = 0.05;
            o.burn_in = 6;
            o.thin = 6;  // kept steps 12, 18, 24 and 30, the last step
        }
        const LangevinResult one = sample_langevin(*model, o, RowMatrix());
        REQUIRE(one.samples.rows() == kept_per_chain(o) * 50);
        for (std::int64_t block : {1, 3, 7, 49}) {
            INFO("block of " << block << " chains");
            o.block_chains = block;
            const LangevinResult blocked = sample_langevin(*model, o, RowMatrix());
            CHECK(blocked.samples == one.samples);
            CHECK(blocked.accepted == one.accepted);

            // The receiver gets the rows in order, those of step 30 marked as the last step's.
            std::int64_t next_row = 0;
            const std::int64_t last_rows = (kept_per_chain(o) - 1) * 50;
            const LangevinResult streamed =
                sample_langevin(*model, o, RowMatrix(), {}, {}, [&](const KeptRows& rows) {
                    CHECK(rows.first_row == next_row);
                    CHECK(rows.x.rows() <= block);
                    CHECK(rows.last_step == (rows.first_row >= last_rows));
                    CHECK(rows.x == one.samples.middleRows(rows.first_row, rows.x.rows()));
                    next_row += rows.x.rows();
                });
            CHECK(next_row == one.samples.rows());
            CHECK(streamed.samples.size() == 0);
        }
    }
}

TEST_CASE("sampler rejects what the model cannot support", "[langevin]") {
    auto model = parse_analytic_model("gaussian:mean=0;cov=1");
    LangevinOptions o;
    o.method = LangevinMethod::annealed;
    CHECK_THROWS_AS(sample_langevin(*model, o, RowMatrix()), Error);  // no noise levels
    o.method = LangevinMethod::ula;
    o.step_size = -1;
    CHECK_THROWS_AS(sample_langevin(*model, o, RowMatrix()), UsageError);
    o.step_size = 50;  // far beyond the stability limit eps < 2
    o.steps = 200;
    CHECK_THROWS_WITH(sample_langevin(*model, o, RowMatrix()), Catch::Contains("diverged"));
}
