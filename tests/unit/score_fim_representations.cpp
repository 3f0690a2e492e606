// Consistency of the representations and the linear algebra on top of them: every stored form
// agrees with the dense matrix where it should, matrix-free products equal dense products, and
// Lanczos, log det and damped solves agree with dense linear algebra.
#include <catch2/catch.hpp>

#include <Eigen/Eigenvalues>
#include <cmath>

#include "scorekit/error.hpp"
#include "scorekit/fim.hpp"
#include "scorekit/fim_summary.hpp"
#include "scorekit/rng.hpp"

using namespace scorekit;

namespace {

RowMatrix random_matrix(Eigen::Index rows, Eigen::Index cols, Rng& rng, double scale = 1) {
    RowMatrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.normal();
    return m;
}

Vector random_vector(Eigen::Index n, Rng& rng) {
    Vector v(n);
    for (Eigen::Index i = 0; i < n; ++i) v(i) = rng.normal();
    return v;
}

// A 3-5-4-3 network with two activations, so that blocks and Kronecker factors are non-trivial.
FisherModel deep_classifier() {
    Rng rng(17);
    return FisherModel::linear_stack({{random_matrix(5, 3, rng), random_vector(5, rng), "softplus"},
                                      {random_matrix(4, 5, rng), random_vector(4, rng), "relu"},
                                      {random_matrix(3, 4, rng), random_vector(3, rng), "identity"}});
}

FisherProblem problem_for(const std::string& estimator, Likelihood likelihood = Likelihood::categorical) {
    FisherProblem problem;
    problem.likelihood = likelihood;
    problem.estimator = parse_estimator(estimator);
    problem.batch_size = 7;  // several batches, the last one partial
    return problem;
}

double relative_difference(const RowMatrix& a, const RowMatrix& b) { return (a - b).norm() / b.norm(); }

}  // namespace

TEST_CASE("diag and blocks match the dense matrix", "[fim]") {
    FisherModel model = deep_classifier();
    Rng rng(1);
    RowMatrix inputs = random_matrix(20, 3, rng);
    FisherProblem problem = problem_for("exact");
    RowMatrix dense = compute_fisher(model, inputs, Labels(), problem, Representation::dense).dense;

    FisherMatrix diag = compute_fisher(model, inputs, Labels(), problem, Representation::diag);
    CHECK((diag.diagonal - dense.diagonal()).norm() < 1e-12 * dense.norm());

    FisherMatrix layers = compute_fisher(model, inputs, Labels(), problem, Representation::block, BlockGrouping::layer);
    REQUIRE(layers.blocks.size() == 3);
    for (const auto& b : layers.blocks) {
        INFO("block " << b.name);
        CHECK(relative_difference(b.matrix, dense.block(b.offset, b.offset, b.size, b.size)) < 1e-12);
    }
    FisherMatrix tensors = compute_fisher(model, inputs, Labels(), problem, Representation::block, BlockGrouping::tensor);
    REQUIRE(tensors.blocks.size() == 6);
    CHECK(tensors.blocks[1].name == "0.bias");
    CHECK(relative_difference(tensors.blocks[1].matrix, dense.block(15, 15, 5, 5)) < 1e-12);
}

TEST_CASE("implicit products match the dense matrix", "[fim]") {
    FisherModel model = deep_classifier();
    Rng rng(2);
    RowMatrix inputs = random_matrix(20, 3, rng);
    RowMatrix labels(20, 1);
    for (Eigen::Index n = 0; n < 20; ++n) labels(n, 0) = static_cast<double>(n % 3);
    for (const char* estimator : {"exact", "mc:3", "empirical"}) {
        INFO(estimator);
        FisherProblem problem = problem_for(estimator);
        problem.seed = 9;
        RowMatrix dense = compute_fisher(model, inputs, labels, problem, Representation::dense).dense;
        FisherOperator op(model, inputs, labels, problem);
        Vector v = random_vector(model.parameter_count(), rng);
        CHECK((op.apply(v) - dense * v).norm() < 1e-12 * (dense * v).norm());
        CHECK((op.diagonal() - dense.diagonal()).norm() < 1e-12 * dense.norm());
    }
}

TEST_CASE("kfac matches its own factors", "[fim]") {
    FisherModel model = deep_classifier();
    Rng rng(3);
    RowMatrix inputs = random_matrix(20, 3, rng);
    FisherMatrix kfac = compute_fisher(model, inputs, Labels(), problem_for("exact"), Representation::kfac);
    REQUIRE(kfac.kfac.size() == 3);
    CHECK(kfac.kfac[0].input_factor.rows() == 4);  // 3 inputs and the bias
    CHECK(kfac.kfac[2].gradient_factor.rows() == 3);

    // The input factor of the first layer is the sum of x~ x~^T over the inputs.
    RowMatrix x_tilde(20, 4);
    x_tilde << inputs, RowMatrix::Ones(20, 1);
    CHECK(relative_difference(kfac.kfac[0].input_factor, x_tilde.transpose() * x_tilde) < 1e-12);

    RowMatrix dense = to_dense(kfac);
    Vector v = random_vector(model.parameter_count(), rng);
    CHECK((multiply(kfac, v) - dense * v).norm() < 1e-12 * (dense * v).norm());

    // Summaries computed from the factors equal those of the expanded matrix.
    FisherSummary summary = summarize(kfac, {});
    CHECK(summary.trace == Approx(dense.trace()).epsilon(1e-12));
    CHECK(summary.frobenius == Approx(dense.norm()).epsilon(1e-12));
}

TEST_CASE("single precision agrees with double", "[fim]") {
    FisherModel model = deep_classifier();
    Rng rng(4);
    RowMatrix inputs = random_matrix(20, 3, rng);
    FisherProblem problem = problem_for("exact");
    Vector exact = compute_fisher(model, inputs, Labels(), problem, Representation::diag).diagonal;
    problem.single_precision = true;
    Vector single = compute_fisher(model, inputs, Labels(), problem, Representation::diag).diagonal;
    CHECK((single - exact).norm() < 1e-5 * exact.norm());
}

TEST_CASE("summaries match dense linear algebra", "[fim]") {
    FisherModel model = deep_classifier();
    Rng rng(5);
    RowMatrix inputs = random_matrix(20, 3, rng);
    FisherMatrix dense = compute_fisher(model, inputs, Labels(), problem_for("exact"), Representation::dense);
    const double damping = 1e-3;
    Eigen::SelfAdjointEigenSolver<RowMatrix> solver(dense.dense);
    Vector eigenvalues = solver.eigenvalues().reverse();

    SummaryRequest request;
    request.top_k = 4;
    request.log_det = true;
    request.damping = damping;
    FisherSummary summary = summarize(dense, request);
    for (int i = 0; i < 4; ++i) CHECK(summary.top_eigenvalues[i] == Approx(eigenvalues(i)).epsilon(1e-12));
    CHECK(summary.log_det == Approx((eigenvalues.array() + damping).log().sum()).epsilon(1e-12));

    // Lanczos on products finds the same top eigenvalues.
    std::vector<double> lanczos = lanczos_top_eigenvalues([&](const Vector& v) { return multiply(dense, v); },
                                                          dense.size(), 4, 0, 3);
    for (int i = 0; i < 4; ++i) CHECK(lanczos[i] == Approx(eigenvalues(i)).epsilon(1e-9));

    // Damped solves: Cholesky and conjugate gradients give the same natural gradient.
    Vector g = random_vector(dense.size(), rng);
    SolveResult direct = solve_damped(dense, g, damping);
    CHECK(direct.relative_residual < 1e-10);
    SolveResult iterative = conjugate_gradient([&](const Vector& v) { return multiply(dense, v); }, g, damping, 1e-12, 2000);
    CHECK(iterative.converged);
    CHECK((iterative.x - direct.x).norm() < 1e-8 * direct.x.norm());
}

TEST_CASE("kfac solve inverts the damped factors", "[fim]") {
    FisherModel model = deep_classifier();
    Rng rng(6);
    RowMatrix inputs = random_matrix(20, 3, rng);
    FisherMatrix kfac = compute_fisher(model, inputs, Labels(), problem_for("exact"), Representation::kfac);
    Vector g = random_vector(model.parameter_count(), rng);
    SolveResult solved = solve_damped(kfac, g, 0.01);
    CHECK(solved.relative_residual < 1e-10);

    SummaryRequest request;
    request.log_det = true;
    request.damping = 0.01;
    RowMatrix dense = to_dense(kfac);
    dense.diagonal().array() += 0.01;
    CHECK(summarize(kfac, request).log_det == Approx(std::log(dense.determinant())).epsilon(1e-10));
}

TEST_CASE("singular Fisher needs damping", "[fim]") {
    FisherModel model = deep_classifier();
    RowMatrix inputs = RowMatrix::Ones(1, 3);  // one input: rank at most 2
    FisherMatrix dense = compute_fisher(model, inputs, Labels(), problem_for("exact"), Representation::dense);
    SummaryRequest request;
    request.log_det = true;
    CHECK_THROWS_AS(summarize(dense, request), Error);
}
