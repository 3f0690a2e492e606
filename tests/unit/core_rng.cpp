// The ziggurat normal generator against its construction and the standard normal law.
//
// Statistical checks use fixed seeds; each tolerance states its standard error or the
// significance level of its critical value.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "scorekit/rng.hpp"

using namespace scorekit;
using Catch::Matchers::WithinAbs;

namespace {

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Pearson's chi-square statistic of n draws in 160 bins of width 0.05 on [-4, 4] plus the two
// tails beyond +-4, the tails being where the ziggurat's tail algorithm takes over (r = 3.654).
// The smallest expected count at n = 2,000,000 is 15.
template <typename Draw>
double chi_square(Draw draw, int n) {
    const int bins = 160;
    const double width = 8.0 / bins;
    std::vector<double> counts(bins + 2, 0.0);
    for (int i = 0; i < n; ++i) {
        double x = draw();
        int bin = bins + 1;
        if (x < -4) {
            bin = 0;
        } else if (x < 4) {
            bin = 1 + std::min(bins - 1, static_cast<int>((x + 4) / width));
        }
        counts[bin] += 1;
    }
    double statistic = 0;
    for (int bin = 0; bin < bins + 2; ++bin) {
        const double infinity = std::numeric_limits<double>::infinity();
        double low = bin == 0 ? -infinity : -4 + (bin - 1) * width;
        double high = bin == bins + 1 ? infinity : -4 + bin * width;
        double expected = n * (normal_cdf(high) - normal_cdf(low));
        statistic += (counts[bin] - expected) * (counts[bin] - expected) / expected;
    }
    return statistic;
}

// Chi-square critical value for 161 degrees of freedom at significance 1e-4 (scipy.stats.chi2.ppf).
const double chi_square_critical = 236.43;

}  // namespace

TEST_CASE("ziggurat layers have equal areas", "[rng]") {
    const ZigguratTables& t = ziggurat_tables();
    auto f = [](double x) { return std::exp(-0.5 * x * x); };
    const double r = t.tail_start;
    const double v = r * f(r) + std::sqrt(M_PI / 2) * std::erfc(r / std::sqrt(2.0));
    CHECK(t.x[1] == r);
    CHECK(t.x[ZigguratTables::layers] == 0);
    CHECK_THAT(t.x[0] * f(r), WithinAbs(v, 1e-15));
    for (int i = 1; i < ZigguratTables::layers; ++i) {
        INFO("layer " << i);
        CHECK(t.x[i + 1] < t.x[i]);
        CHECK_THAT(t.x[i] * (t.density[i + 1] - t.density[i]), WithinAbs(v, 1e-13));
    }
}

TEST_CASE("ziggurat moments of the standard normal", "[rng]") {
    Rng rng(7, 3);
    const ZigguratNormal normal;
    const int n = 2000000;
    double sum = 0, sum2 = 0, sum4 = 0;
    for (int i = 0; i < n; ++i) {
        double x = normal(rng);
        sum += x;
        sum2 += x * x;
        sum4 += x * x * x * x;
    }
    // Standard errors at n = 2e6: mean 7.1e-4, variance 1.0e-3, fourth moment 6.9e-3.
    CHECK_THAT(sum / n, WithinAbs(0.0, 0.003));
    CHECK_THAT(sum2 / n, WithinAbs(1.0, 0.004));
    CHECK_THAT(sum4 / n, WithinAbs(3.0, 0.028));
}

TEST_CASE("ziggurat tail probabilities", "[rng]") {
    Rng rng(8, 0);
    const ZigguratNormal normal;
    const int n = 4000000;
    const std::vector<double> thresholds = {0.5, 1.0, 2.0, 3.0, 3.6541528853610088, 4.0, 4.5};
    std::vector<int> beyond(thresholds.size(), 0);
    for (int i = 0; i < n; ++i) {
        double x = std::abs(normal(rng));
        for (size_t t = 0; t < thresholds.size(); ++t) beyond[t] += x > thresholds[t];
    }
    for (size_t t = 0; t < thresholds.size(); ++t) {
        double p = std::erfc(thresholds[t] / std::sqrt(2.0));
        double standard_error = std::sqrt(p * (1 - p) / n);
        INFO("P(|x| > " << thresholds[t] << ") = " << p);
        CHECK_THAT(static_cast<double>(beyond[t]) / n, WithinAbs(p, 4 * standard_error));
    }
}

TEST_CASE("ziggurat histogram passes chi-square", "[rng]") {
    Rng rng(9, 1);
    const ZigguratNormal normal;
    CHECK(chi_square([&] { return normal(rng); }, 2000000) < chi_square_critical);

    // Power check: a normal 2 % too wide gives about 1,800 at this sample size.
    Rng other(9, 2);
    CHECK(chi_square([&] { return 1.02 * normal(other); }, 2000000) > chi_square_critical);
}

TEST_CASE("ziggurat streams are reproducible and distinct", "[rng]") {
    const ZigguratNormal normal;
    Rng a(42, 5), b(42, 5), c(42, 6);
    bool all_same = true, any_differs_from_other_stream = false;
    for (int i = 0; i < 1000; ++i) {
        double x = normal(a);
        all_same = all_same && x == normal(b);
        any_differs_from_other_stream = any_differs_from_other_stream || x != normal(c);
    }
    CHECK(all_same);
    CHECK(any_differs_from_other_stream);
}
