// Reference Fisher matrices with closed forms (parameter order: weight row-major, then bias;
// sums over inputs). Each is exact, so the tolerance is rounding only.
#include <catch2/catch.hpp>

#include <Eigen/Eigenvalues>
#include <cmath>

#include "scorekit/fim.hpp"
#include "scorekit/fim_summary.hpp"

using namespace scorekit;

namespace {

constexpr double tolerance = 1e-10;

// Catch's Approx also allows a relative error of ~1e-5 unless epsilon is set to 0.
Approx exactly(double value) { return Approx(value).margin(tolerance).epsilon(0); }

FisherProblem exact_problem(Likelihood likelihood, double sigma = 1) {
    FisherProblem problem;
    problem.likelihood = likelihood;
    problem.sigma = sigma;
    problem.estimator = parse_estimator("exact");
    return problem;
}

void require_matrix(const RowMatrix& got, const RowMatrix& expected) {
    REQUIRE(got.rows() == expected.rows());
    REQUIRE(got.cols() == expected.cols());
    for (Eigen::Index i = 0; i < got.rows(); ++i) {
        for (Eigen::Index j = 0; j < got.cols(); ++j) {
            INFO("entry (" << i << ", " << j << ")");
            CHECK(got(i, j) == exactly(expected(i, j)));
        }
    }
}

RowMatrix matrix(std::initializer_list<std::initializer_list<double>> rows) {
    RowMatrix m(rows.size(), rows.begin()->size());
    Eigen::Index i = 0;
    for (const auto& row : rows) {
        Eigen::Index j = 0;
        for (double value : row) m(i, j++) = value;
        ++i;
    }
    return m;
}

// Logistic regression w = (ln 3, 0), b = 0 with inputs giving p = (1/2, 3/4, 1/4).
FisherModel logistic_model() {
    LinearLayerSpec layer;
    layer.weight = matrix({{std::log(3.0), 0}});
    layer.bias = Vector::Zero(1);
    return FisherModel::linear_stack({layer});
}

const RowMatrix logistic_inputs = matrix({{0, 1}, {1, 1}, {-1, 2}});
const RowMatrix logistic_labels = matrix({{1}, {1}, {0}});

}  // namespace

TEST_CASE("normal family Fisher per observation", "[fim]") {
    FisherProblem problem = exact_problem(Likelihood::gaussian);
    struct Case {
        const char* spec;
        double second;
    };
    for (Case c : {Case{"normal:mu=0.5,sigma=2,parameters=mu-sigma", 0.5},
                   Case{"normal:mu=0.5,sigma=2,parameters=mu-log-sigma", 2.0},
                   Case{"normal:mu=0.5,sigma=2,parameters=mu-variance", 1.0 / 32}}) {
        INFO(c.spec);
        FisherMatrix f = normal_family_fisher(parse_normal_family(c.spec), RowMatrix(), problem, Representation::dense);
        require_matrix(f.dense, matrix({{0.25, 0}, {0, c.second}}));
    }
}

TEST_CASE("logistic regression true Fisher", "[fim]") {
    FisherMatrix f = compute_fisher(logistic_model(), logistic_inputs, Labels(), exact_problem(Likelihood::bernoulli),
                                    Representation::dense);
    require_matrix(f.dense, matrix({{3.0 / 8, -3.0 / 16, 0}, {-3.0 / 16, 19.0 / 16, 13.0 / 16}, {0, 13.0 / 16, 5.0 / 8}}));
    CHECK(summarize(f, {}).trace == exactly(35.0 / 16));
}

TEST_CASE("logistic regression empirical Fisher", "[fim]") {
    FisherProblem problem = exact_problem(Likelihood::bernoulli);
    problem.estimator = parse_estimator("empirical");
    FisherMatrix f = compute_fisher(logistic_model(), logistic_inputs, logistic_labels, problem, Representation::dense);
    require_matrix(f.dense, matrix({{2, -1, 0}, {-1, 9, 7}, {0, 7, 6}}) / 16);
}

TEST_CASE("logistic regression squared summed gradient differs", "[fim]") {
    FisherProblem problem = exact_problem(Likelihood::bernoulli);
    Vector g = log_likelihood_gradient(logistic_model(), logistic_inputs, logistic_labels, problem);
    RowMatrix squared = g * g.transpose();
    CHECK(squared(0, 0) == exactly(0.25));
    CHECK(squared(1, 1) == exactly(1.0 / 16));
    CHECK(squared(2, 2) == exactly(0.25));

    // The empirical Fisher sums squares of per-example gradients: its diagonal is (1/8, 9/16, 3/8).
    problem.estimator = parse_estimator("empirical");
    FisherMatrix f = compute_fisher(logistic_model(), logistic_inputs, logistic_labels, problem, Representation::diag);
    CHECK(f.diagonal(0) == exactly(2.0 / 16));
    CHECK(f.diagonal(1) == exactly(9.0 / 16));
    CHECK(f.diagonal(2) == exactly(6.0 / 16));
}

TEST_CASE("logistic regression kfac", "[fim]") {
    FisherMatrix f = compute_fisher(logistic_model(), logistic_inputs, Labels(), exact_problem(Likelihood::bernoulli),
                                    Representation::kfac);
    REQUIRE(f.kfac.size() == 1);
    RowMatrix expected = matrix({{20, -10, 0}, {-10, 60, 40}, {0, 40, 30}}) / 48;
    require_matrix(to_dense(f), expected);
    // KFAC is an approximation here: it differs from the true Fisher in entry (0, 0).
    CHECK(std::abs(expected(0, 0) - 3.0 / 8) > 1e-3);
}

TEST_CASE("softmax regression Fisher", "[fim]") {
    LinearLayerSpec layer;
    layer.weight = RowMatrix::Zero(3, 2);
    layer.bias = Vector::Zero(3);
    layer.bias(2) = std::log(2.0);
    FisherModel model = FisherModel::linear_stack({layer});
    RowMatrix x = matrix({{1, 2}});
    FisherMatrix f = compute_fisher(model, x, Labels(), exact_problem(Likelihood::categorical), Representation::dense);

    // F = Lambda (x) x~ x~^T with x~ = (1, 2, 1); the bias entries come after the weight entries.
    RowMatrix lambda = matrix({{3, -1, -2}, {-1, 3, -2}, {-2, -2, 4}}) / 16;
    Vector x_tilde(3);
    x_tilde << 1, 2, 1;
    auto index = [](int c, int j) { return j < 2 ? c * 2 + j : 6 + c; };
    RowMatrix expected(9, 9);
    for (int c = 0; c < 3; ++c)
        for (int j = 0; j < 3; ++j)
            for (int d = 0; d < 3; ++d)
                for (int k = 0; k < 3; ++k) expected(index(c, j), index(d, k)) = lambda(c, d) * x_tilde(j) * x_tilde(k);
    require_matrix(f.dense, expected);

    SummaryRequest request;
    request.top_k = 3;
    FisherSummary summary = summarize(f, request);
    CHECK(summary.trace == exactly(15.0 / 4));
    CHECK(summary.top_eigenvalues[0] == exactly(9.0 / 4));
    CHECK(summary.top_eigenvalues[1] == exactly(3.0 / 2));
    CHECK(std::abs(summary.top_eigenvalues[2]) < tolerance);  // rank 2

    FisherMatrix kfac = compute_fisher(model, x, Labels(), exact_problem(Likelihood::categorical), Representation::kfac);
    require_matrix(to_dense(kfac), expected);  // exact for a single input
}

TEST_CASE("linear-Gaussian regression Fisher", "[fim]") {
    LinearLayerSpec layer;
    layer.weight = matrix({{0.3, -0.7}});
    layer.bias = Vector::Constant(1, 0.1);
    FisherModel model = FisherModel::linear_stack({layer});
    FisherMatrix f = compute_fisher(model, matrix({{1, 0}, {0, 1}, {1, 1}}), Labels(),
                                    exact_problem(Likelihood::gaussian, 0.5), Representation::dense);
    require_matrix(f.dense, matrix({{8, 4, 8}, {4, 8, 8}, {8, 8, 12}}));
}
