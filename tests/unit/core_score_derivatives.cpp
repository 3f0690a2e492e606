// Score Jacobians: exact mixture and reference-density derivatives against the
// finite-difference defaults of ScoreModel.
#include <catch2/catch.hpp>

#include <cmath>

#include "scorekit/error.hpp"
#include "scorekit/reference_densities.hpp"
#include "scorekit/score_model.hpp"

using namespace scorekit;
using Catch::Matchers::WithinAbs;

namespace {

// Exposes only score(), so every derivative comes from the finite-difference defaults.
class ScoreOnly : public ScoreModel {
public:
    explicit ScoreOnly(const ScoreModel& inner) : inner_(inner) {}
    int dim() const override { return inner_.dim(); }
    std::string kind() const override { return "score-only"; }
    RowMatrix score(const RowMatrix& x, double sigma) const override { return inner_.score(x, sigma); }

private:
    const ScoreModel& inner_;
};

// s(x) = A x with a non-symmetric A: not the gradient of any density, like a learned score.
class LinearField : public ScoreModel {
public:
    LinearField() : a_(2, 2) { a_ << -1.0, 0.5, -0.25, -2.0; }
    int dim() const override { return 2; }
    std::string kind() const override { return "linear"; }
    RowMatrix score(const RowMatrix& x, double) const override { return x * a_.transpose(); }
    const RowMatrix& matrix() const { return a_; }

private:
    RowMatrix a_;
};

}  // namespace

TEST_CASE("mixture Jacobian matches finite differences", "[derivatives]") {
    auto model = parse_analytic_model("gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1/0.5,2");
    ScoreOnly numeric(*model);
    RowMatrix x(3, 2), v(3, 2);
    x << 0.5, 0.5, -1.0, 2.0, 3.0, -0.5;
    v << 1.0, 1.0, -0.3, 0.2, 0.0, 2.0;
    for (double sigma : {0.0, 0.4}) {
        RowMatrix exact = model->score_jacobian(x, sigma), approximate = numeric.score_jacobian(x, sigma);
        // Central differences with h ~ 6e-6 |x| leave errors near 1e-10 for these curvatures.
        CHECK((exact - approximate).cwiseAbs().maxCoeff() < 1e-8);
        CHECK(std::abs(exact(0, 1) - exact(0, 2)) < 1e-14);  // symmetric, the Hessian of log p
        CHECK((model->score_jvp(x, v, sigma) - numeric.score_jvp(x, v, sigma)).cwiseAbs().maxCoeff() < 1e-8);
        for (Eigen::Index i = 0; i < 3; ++i) {
            Eigen::Map<const RowMatrix> jacobian(exact.row(i).data(), 2, 2);
            Eigen::RowVectorXd expected = v.row(i) * jacobian.transpose();
            CHECK((model->score_jvp(x.row(i), v.row(i), sigma) - expected).cwiseAbs().maxCoeff() < 1e-13);
        }
    }
}

TEST_CASE("default vector-Jacobian product transposes", "[derivatives]") {
    LinearField field;
    RowMatrix x(1, 2), u(1, 2);
    x << 0.3, -0.7;
    u << 1.0, 2.0;
    RowMatrix expected = u * field.matrix();  // (A^T u)^T
    RowMatrix vjp = field.score_vjp(x, u, 0.0);
    CHECK_THAT(vjp(0, 0), WithinAbs(expected(0, 0), 1e-9));
    CHECK_THAT(vjp(0, 1), WithinAbs(expected(0, 1), 1e-9));
    RowMatrix jvp = field.score_jvp(x, u, 0.0);
    RowMatrix forward = u * field.matrix().transpose();
    CHECK_THAT(jvp(0, 0), WithinAbs(forward(0, 0), 1e-9));
    CHECK_THAT(jvp(0, 1), WithinAbs(forward(0, 1), 1e-9));
}

TEST_CASE("half-plane score and derivative under noise", "[derivatives]") {
    HalfPlaneModel model;
    // y / sigma from 10 down to -40 covers the direct formula and the asymptotic series.
    for (double y : {2.0, 0.3, -0.5, -2.4, -4.0}) {
        const double sigma = 0.1;
        const double h = 1e-6 * std::max(1.0, std::abs(y));
        RowMatrix x(3, 2);
        x << 0, y, 0, y + h, 0, y - h;
        Vector log_p = model.log_density(x, sigma);
        RowMatrix s = model.score(x, sigma);
        const double score_scale = std::max(1.0, std::abs(s(0, 1)));
        CHECK_THAT(s(0, 1), WithinAbs((log_p(1) - log_p(2)) / (2 * h), 1e-6 * score_scale));
        CHECK_THAT(model.score_jvp(x.topRows(1), RowMatrix::Ones(1, 2), sigma)(0, 1),
                   WithinAbs((s(1, 1) - s(2, 1)) / (2 * h), 1e-5 * score_scale * score_scale));
        CHECK(s(0, 0) == 0.0);
    }
    RowMatrix outside(1, 2);
    outside << 0, -1;
    CHECK(std::isnan(model.score(outside, 0.0)(0, 1)));
    CHECK(model.log_density(outside, 0.0)(0) == -std::numeric_limits<double>::infinity());
}

TEST_CASE("reference density specs", "[derivatives]") {
    CHECK(is_analytic_model_spec("halfplane"));
    CHECK(is_analytic_model_spec("exponential:dim=1"));
    CHECK_FALSE(is_analytic_model_spec("halfplanes"));
    CHECK(make_analytic_model("halfplane:dim=3")->dim() == 3);
    CHECK(make_analytic_model("exponential")->dim() == 2);
    CHECK_THROWS_AS(make_analytic_model("halfplane:dim=0"), UsageError);
    CHECK_THROWS_AS(make_analytic_model("exponential:rate=2"), UsageError);

    auto exponential = make_analytic_model("exponential:dim=1");
    RowMatrix x(1, 1);
    x << 0.5;
    CHECK_THAT(exponential->log_density(x, 2.0)(0), WithinAbs(-0.5 + 2.0, 1e-15));
    CHECK(exponential->score(x, 2.0)(0, 0) == -1.0);
}
