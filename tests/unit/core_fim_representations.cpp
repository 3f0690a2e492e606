// Consistency of the representations and the linear algebra on top of them: every stored form
// agrees with the dense matrix where it should, matrix-free products equal dense products, and
// Lanczos, log det and damped solves agree with dense linear algebra.
#include <catch2/catch.hpp>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <functional>

#include "scorekit/error.hpp"
#include "scorekit/fim.hpp"
#include "scorekit/fim_summary.hpp"
#include "scorekit/rng.hpp"

#include "fim_test_support.hpp"

using namespace scorekit;

namespace {

// A 3-5-4-3 network with two activations, so that blocks and Kronecker factors are non-trivial.
FisherModel deep_classifier() {
    Rng rng(17);
    return FisherModel::linear_stack({{random_matrix(5, 3, rng), random_vector(5, rng), "softplus"},
                                      {random_matrix(4, 5, rng), random_vector(4, rng), "relu"},
                                      {random_matrix(3, 4, rng), random_vector(3, rng), "identity"}});
}

// A Fisher matrix of `representation` over one parameter tensor of n entries, with no values yet.
FisherMatrix one_tensor_fisher(std::int64_t n, Representation representation) {
    FisherMatrix fisher;
    fisher.representation = representation;
    ParameterInfo weights;
    weights.name = "weight";
    weights.shape = {n};
    weights.size = n;
    fisher.parameters = {weights};
    return fisher;
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

// Each layer's G, averaged over the inputs, is the dense bias-bias block divided by N: the dense
// path sums outer products of all C per-example gradients, while kfac takes the last layer's G in
// closed form and the other layers' G from C - 1 factors by symmetric rank-k updates.
TEST_CASE("kfac gradient factors match dense bias blocks", "[fim]") {
    Rng rng(5);
    RowMatrix inputs = random_matrix(23, 3, rng);
    struct Case {
        Likelihood likelihood;
        std::string last_activation;
        int outputs;
    };
    for (const Case& c : {Case{Likelihood::categorical, "identity", 3}, Case{Likelihood::categorical, "tanh", 3},
                          Case{Likelihood::gaussian, "sigmoid", 3}, Case{Likelihood::bernoulli, "identity", 1}}) {
        Rng weights(21);
        FisherModel model = FisherModel::linear_stack(
            {{random_matrix(5, 3, weights), random_vector(5, weights), "softplus"},
             {random_matrix(4, 5, weights), random_vector(4, weights), "relu"},
             {random_matrix(c.outputs, 4, weights), random_vector(c.outputs, weights), c.last_activation}});
        FisherProblem problem = problem_for("exact", c.likelihood);
        problem.sigma = 0.7;
        FisherMatrix kfac = compute_fisher(model, inputs, Labels(), problem, Representation::kfac);
        FisherMatrix dense = compute_fisher(model, inputs, Labels(), problem, Representation::dense);
        INFO("likelihood " << to_string(c.likelihood) << ", last activation " << c.last_activation);
        REQUIRE(kfac.kfac.size() == 3);
        for (const KfacFactors& factors : kfac.kfac) {
            INFO("layer " << factors.layer);
            const Eigen::Index offset = factors.bias_offset, out = factors.out;
            RowMatrix bias_block = dense.dense.block(offset, offset, out, out) / static_cast<double>(inputs.rows());
            CHECK(relative_difference(factors.gradient_factor, bias_block) < 1e-12);
            CHECK((factors.gradient_factor - factors.gradient_factor.transpose()).norm() == 0);
        }
    }
}

// The C - 1 square-root factors divide by 1 - sqrt(p_k) for the most likely class k. A confident
// prediction must still give the closed form J^T (diag(p) - p p^T) J, and a certain one zero.
TEST_CASE("exact categorical at confident predictions", "[fim]") {
    // Softmax regression f = W x with x = [1] gives F = Lambda per input for the weight column.
    for (double gap : {0.0, 8.0, 30.0, 800.0}) {
        RowMatrix weight(3, 1);
        weight << gap, 0.5, -0.25;
        FisherModel model = FisherModel::linear_stack({{weight, Vector(), "identity"}});
        RowMatrix inputs = RowMatrix::Ones(1, 1);
        FisherMatrix fisher = compute_fisher(model, inputs, Labels(), problem_for("exact"), Representation::dense);
        Eigen::Vector3d logits(gap, 0.5, -0.25);
        Eigen::Vector3d p = (logits.array() - logits.maxCoeff()).exp();
        p /= p.sum();
        RowMatrix expected = RowMatrix(p.asDiagonal()) - p * p.transpose();
        INFO("logit gap " << gap);
        REQUIRE(fisher.dense.allFinite());
        CHECK((fisher.dense - expected).cwiseAbs().maxCoeff() < 1e-15 + 1e-12 * expected.cwiseAbs().maxCoeff());
    }
}

// Lambda of a confident prediction is small, and diag(p) - p p^T formed by subtraction keeps only
// about eps / (1 - p_k) of its relative accuracy. The expected matrix here has no subtraction,
// because its diagonal is p_c times the sum of the other classes' p.
TEST_CASE("exact categorical keeps digits when confident", "[fim]") {
    for (double gap : {16.0, 24.0, 30.0}) {
        RowMatrix weight(3, 1);
        weight << gap, 0.5, -0.25;
        FisherModel model = FisherModel::linear_stack({{weight, Vector(), "identity"}});
        RowMatrix inputs = RowMatrix::Ones(1, 1);
        Eigen::Vector3d logits(gap, 0.5, -0.25);
        Eigen::Vector3d p = (logits.array() - logits.maxCoeff()).exp();
        p /= p.sum();
        RowMatrix expected = -p * p.transpose();
        for (int c = 0; c < 3; ++c) {
            double others = 0;
            for (int k = 0; k < 3; ++k) others += k == c ? 0.0 : p(k);
            expected(c, c) = p(c) * others;
        }
        const double scale = expected.cwiseAbs().maxCoeff();
        INFO("logit gap " << gap);
        for (Representation representation : {Representation::dense, Representation::kfac}) {
            FisherMatrix fisher = compute_fisher(model, inputs, Labels(), problem_for("exact"), representation);
            const RowMatrix got = representation == Representation::dense ? fisher.dense : fisher.kfac[0].gradient_factor;
            INFO("representation " << to_string(representation));
            CHECK((got - expected).cwiseAbs().maxCoeff() / scale < 1e-13);
        }
    }
}

// A dense request is rejected before any work when its estimate exceeds the limit.
TEST_CASE("memory estimate limits dense", "[fim]") {
    FisherModel model = deep_classifier();
    const double total = static_cast<double>(model.parameter_count());
    FisherProblem problem = problem_for("exact");
    const std::int64_t dense = estimate_fisher_memory(model, problem, Representation::dense, BlockGrouping::layer, 3, false);
    const std::int64_t diag = estimate_fisher_memory(model, problem, Representation::diag, BlockGrouping::layer, 3, false);
    CHECK(dense >= 2 * total * total * 8);  // the accumulator and the result
    CHECK(diag < dense);
    // log det and solves: F and the damped copy that is factorised in place.
    CHECK(estimate_fisher_memory(model, problem, Representation::dense, BlockGrouping::layer, 3, true) >=
          2 * total * total * 8);
    CHECK_THROWS_AS(check_fisher_memory(model, problem, Representation::dense, BlockGrouping::layer, 3, false,
                                        dense - 1),
                    UsageError);
    CHECK_NOTHROW(check_fisher_memory(model, problem, Representation::dense, BlockGrouping::layer, 3, false, dense));
    CHECK_NOTHROW(check_fisher_memory(model, problem, Representation::diag, BlockGrouping::layer, 3, false, dense - 1));
    try {
        check_fisher_memory(model, problem, Representation::dense, BlockGrouping::layer, 3, false, 1024);
        FAIL("expected UsageError");
    } catch (const UsageError& e) {
        const std::string message = e.what();
        CHECK(message.find("--max-memory 1.0 KiB") != std::string::npos);
        CHECK(message.find("--representation diag or kfac") != std::string::npos);
    }
}

TEST_CASE("memory sizes parse with binary units", "[fim]") {
    CHECK(parse_memory_size("4096") == 4096);
    CHECK(parse_memory_size("512M") == 512LL << 20);
    CHECK(parse_memory_size("1.5G") == 3LL << 29);
    CHECK(parse_memory_size("2GiB") == 2LL << 30);
    CHECK(parse_memory_size("8g") == 8LL << 30);
    CHECK_THROWS_AS(parse_memory_size("lots"), UsageError);
    CHECK_THROWS_AS(parse_memory_size("-1G"), UsageError);
    CHECK_THROWS_AS(parse_memory_size("2 GB"), UsageError);
    CHECK(format_bytes(3LL << 29) == "1.5 GiB");
    CHECK(default_max_memory() > 0);
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

// Models too large for P x P storage use the diag representation, so its log det and damped
// solve must work on the diagonal. 300,000 parameters stored dense would need 720 GB.
TEST_CASE("diag log det and solve stay diagonal", "[fim]") {
    const std::int64_t n = 300000;
    FisherMatrix fisher = one_tensor_fisher(n, Representation::diag);
    fisher.diagonal = Vector::LinSpaced(n, 0.5, 2.0);

    SummaryRequest request;
    request.log_det = true;
    request.damping = 0.25;
    const FisherSummary summary = summarize(fisher, request);
    const double expected = (fisher.diagonal.array() + 0.25).log().sum();
    CHECK(summary.log_det == Approx(expected).epsilon(1e-12));

    const Vector b = Vector::Ones(n);
    const SolveResult solved = solve_damped(fisher, b, 0.25);
    CHECK(solved.x(0) == Approx(1 / 0.75).epsilon(1e-14));
    CHECK(solved.x(n - 1) == Approx(1 / 2.25).epsilon(1e-14));
    CHECK(solved.relative_residual < 1e-14);

    // The pivot rule of the dense Cholesky: a zero entry without damping is singular.
    fisher.diagonal(7) = 0;
    request.damping = 0;
    CHECK_THROWS_AS(summarize(fisher, request), Error);
    CHECK_THROWS_AS(solve_damped(fisher, b, 0), Error);
}

// A dense SPD matrix against its eigenvalues, and a diagonal matrix stored dense and as diag.
TEST_CASE("damped log det and solve agree across forms", "[fim]") {
    Rng rng(11);
    const std::int64_t n = 40;
    RowMatrix a = random_matrix(n, n, rng);
    RowMatrix spd = a * a.transpose() / n;
    spd.diagonal().array() += 0.1;
    FisherMatrix dense = one_tensor_fisher(n, Representation::dense);
    dense.dense = spd;
    SummaryRequest request;
    request.log_det = true;
    request.damping = 0.01;
    RowMatrix damped = spd;
    damped.diagonal().array() += 0.01;
    const Eigen::SelfAdjointEigenSolver<RowMatrix> eigen(damped);
    CHECK(summarize(dense, request).log_det == Approx(eigen.eigenvalues().array().log().sum()).epsilon(1e-12));
    const Vector b = random_matrix(n, 1, rng).col(0);
    const Vector x = solve_damped(dense, b, 0.01).x;
    CHECK((damped * x - b).norm() < 1e-10 * b.norm());

    FisherMatrix diagonal = dense;
    diagonal.representation = Representation::diag;
    diagonal.diagonal = spd.diagonal();
    dense.dense = RowMatrix(spd.diagonal().asDiagonal());
    CHECK(summarize(diagonal, request).log_det == Approx(summarize(dense, request).log_det).epsilon(1e-13));
    CHECK((solve_damped(diagonal, b, 0.01).x - solve_damped(dense, b, 0.01).x).norm() < 1e-13 * b.norm());
}

// compute_fisher and FisherOperator check the memory estimate themselves, so that library
// callers get the error that the tool's --max-memory gives.
TEST_CASE("library checks the memory limit", "[fim]") {
    FisherModel model = deep_classifier();
    Rng rng(7);
    RowMatrix inputs = random_matrix(20, 3, rng);
    FisherProblem problem = problem_for("exact");
    problem.max_memory = 1024;
    try {
        compute_fisher(model, inputs, Labels(), problem, Representation::dense);
        FAIL("expected UsageError");
    } catch (const UsageError& e) {
        CHECK(std::string(e.what()).find("--max-memory 1.0 KiB") != std::string::npos);
    }
    CHECK_THROWS_AS(FisherOperator(model, inputs, Labels(), problem), UsageError);

    problem.max_memory = 0;  // no limit
    CHECK(compute_fisher(model, inputs, Labels(), problem, Representation::dense).dense.rows() == 59);
    CHECK(FisherProblem().max_memory == default_max_memory());
}

// A ReLU unit that no input activates has zero gradients, so kfac leaves it out of the rank-k
// updates. That must not change G or the next layer's A.
TEST_CASE("kfac with inactive ReLU units", "[fim]") {
    Rng weights(23);
    RowMatrix w1 = random_matrix(6, 3, weights), w2 = random_matrix(3, 6, weights);
    Vector b1 = random_vector(6, weights), b2 = random_vector(3, weights);
    b1(1) = -100;  // never active
    b1(4) = -2.5;  // active for few inputs, so inactive for whole batches
    FisherModel model = FisherModel::linear_stack({{w1, b1, "relu"}, {w2, b2, "identity"}});
    Rng rng(8);
    RowMatrix inputs = random_matrix(30, 3, rng);
    FisherProblem problem = problem_for("exact");
    FisherMatrix kfac = compute_fisher(model, inputs, Labels(), problem, Representation::kfac);
    FisherMatrix dense = compute_fisher(model, inputs, Labels(), problem, Representation::dense);

    const KfacFactors& hidden = kfac.kfac[0];
    RowMatrix bias_block = dense.dense.block(hidden.bias_offset, hidden.bias_offset, 6, 6) / 30.0;
    CHECK(relative_difference(hidden.gradient_factor, bias_block) < 1e-12);
    CHECK(hidden.gradient_factor.row(1).norm() == 0);
    CHECK(hidden.gradient_factor(4, 4) > 0);

    // The output layer's A is the sum of h~ h~^T with h = relu(x W1^T + b1).
    RowMatrix pre = (inputs * w1.transpose()).rowwise() + b1.transpose();
    RowMatrix h_tilde(30, 7);
    h_tilde << pre.cwiseMax(0.0), RowMatrix::Ones(30, 1);
    CHECK(relative_difference(kfac.kfac[1].input_factor, h_tilde.transpose() * h_tilde) < 1e-12);
}

TEST_CASE("batch callback counts inputs", "[fim]") {
    FisherModel model = deep_classifier();
    Rng rng(9);
    RowMatrix inputs = random_matrix(20, 3, rng);
    for (Representation representation : {Representation::diag, Representation::kfac, Representation::dense}) {
        FisherProblem problem = problem_for("exact");
        std::vector<std::int64_t> reported;
        problem.on_batch = [&](std::int64_t done, std::int64_t total) {
            CHECK(total == 20);
            reported.push_back(done);
        };
        compute_fisher(model, inputs, Labels(), problem, representation);
        INFO("representation " << to_string(representation));
        CHECK(reported == std::vector<std::int64_t>{7, 14, 20});
    }
}

// A wide ReLU layer below the output gets its G from the masked form of fim_stack_engine.cpp,
// not from a rank-k update of gradient rows. With 3 outputs, 48 units and few inactive units that
// is the cheaper way. G must still equal the dense bias block for each estimator, with a second
// hidden layer below it (which needs the gradient rows) and in float32. It must be exactly zero
// for a unit that no input activates.
TEST_CASE("kfac of a wide ReLU layer below the output", "[fim]") {
    Rng weights(31);
    RowMatrix w1 = random_matrix(5, 3, weights), w2 = random_matrix(48, 5, weights), w3 = random_matrix(3, 48, weights);
    Vector b1 = random_vector(5, weights), b2 = random_vector(48, weights), b3 = random_vector(3, weights);
    // Most units active, as in a trained network: the masked form's cost grows with the inactive ones.
    b2.array() += 3;
    b2(7) = -1000;  // never active
    Rng rng(4);
    RowMatrix inputs = random_matrix(70, 3, rng);
    // Unit 9 of the two-layer case: a bias between the 4th and 5th largest projections leaves it
    // active for 4 inputs, inactive in most of each batch.
    Vector projection = inputs * w2.leftCols(3).row(9).transpose();
    std::sort(projection.data(), projection.data() + projection.size(), std::greater<double>());
    b2(9) = -(projection(3) + projection(4)) / 2;
    Labels labels(70, 1);
    for (Eigen::Index n = 0; n < labels.rows(); ++n) labels(n, 0) = static_cast<double>(n % 3);
    struct Case {
        std::string estimator;
        bool deep;
        bool single;
    };
    for (const Case& c : {Case{"exact", false, false}, Case{"mc:4", false, false}, Case{"empirical", false, false},
                          Case{"exact", true, false}, Case{"exact", false, true}}) {
        INFO("estimator " << c.estimator << (c.deep ? ", three layers" : "") << (c.single ? ", float32" : ""));
        std::vector<LinearLayerSpec> layers;
        if (c.deep) layers.push_back({w1, b1, "tanh"});
        RowMatrix first = c.deep ? w2 : RowMatrix(w2.leftCols(3));
        layers.push_back({first, b2, "relu"});
        layers.push_back({w3, b3, "identity"});
        FisherModel model = FisherModel::linear_stack(layers);
        FisherProblem problem = problem_for(c.estimator);
        problem.batch_size = 32;
        problem.single_precision = c.single;
        problem.seed = 3;
        FisherMatrix kfac = compute_fisher(model, inputs, labels, problem, Representation::kfac);
        FisherProblem dense_problem = problem;
        dense_problem.single_precision = false;
        FisherMatrix dense = compute_fisher(model, inputs, labels, dense_problem, Representation::dense);

        const KfacFactors& relu = kfac.kfac[c.deep ? 1 : 0];
        RowMatrix bias_block = dense.dense.block(relu.bias_offset, relu.bias_offset, 48, 48) / 70.0;
        CHECK(relative_difference(relu.gradient_factor, bias_block) < (c.single ? 1e-6 : 1e-12));
        CHECK(relu.gradient_factor.row(7).norm() == 0);
        if (!c.deep) CHECK(relu.gradient_factor(9, 9) > 0);
        if (c.deep) {
            const KfacFactors& below = kfac.kfac[0];
            RowMatrix below_block = dense.dense.block(below.bias_offset, below.bias_offset, 5, 5) / 70.0;
            CHECK(relative_difference(below.gradient_factor, below_block) < 1e-12);
        }
    }
}
