// Statistical and perturbation properties of the Fisher estimators. mc:K is unbiased with mean
// squared error V / K, and the true Fisher is not built from argmax labels. F predicts the KL
// divergence of a small parameter step on a trained classifier.
#include <catch2/catch.hpp>

#include <cmath>

#include "scorekit/error.hpp"
#include "scorekit/fim.hpp"
#include "scorekit/rng.hpp"

#include "fim_test_support.hpp"

using namespace scorekit;

namespace {

// A 2-4-3 tanh classifier with fixed random weights.
FisherModel small_classifier(std::uint64_t seed) {
    Rng rng(seed);
    LinearLayerSpec hidden{random_matrix(4, 2, rng), random_vector(4, rng, 0.5), "tanh"};
    LinearLayerSpec output{random_matrix(3, 4, rng), random_vector(3, rng, 0.5), "identity"};
    return FisherModel::linear_stack({hidden, output});
}

FisherProblem problem_for(const std::string& estimator, Likelihood likelihood = Likelihood::categorical) {
    FisherProblem problem;
    problem.likelihood = likelihood;
    problem.estimator = parse_estimator(estimator);
    return problem;
}

Vector softmax(const Vector& logits) {
    Vector e = (logits.array() - logits.maxCoeff()).exp();
    return e / e.sum();
}

// Total variance V = sum_n (E ||g g^T||_F^2 - ||F_n||_F^2) of one draw's matrix, so that a
// K-draw estimate has E ||F_K - F||_F^2 = V / K. Per-class outer products come from the
// empirical Fisher of one input labelled with that class.
double single_draw_variance(const FisherModel& model, const RowMatrix& inputs) {
    RowMatrix logits = model.forward(inputs);
    double variance = 0;
    for (Eigen::Index n = 0; n < inputs.rows(); ++n) {
        RowMatrix x = inputs.row(n);
        Vector p = softmax(logits.row(n).transpose());
        double expected_square = 0;
        for (int c = 0; c < 3; ++c) {
            RowMatrix label = RowMatrix::Constant(1, 1, c);
            RowMatrix outer = compute_fisher(model, x, label, problem_for("empirical"), Representation::dense).dense;
            expected_square += p(c) * outer.squaredNorm();
        }
        RowMatrix exact = compute_fisher(model, x, Labels(), problem_for("exact"), Representation::dense).dense;
        variance += expected_square - exact.squaredNorm();
    }
    return variance;
}

}  // namespace

TEST_CASE("mc estimator converges at 1/sqrt(K)", "[fim]") {
    FisherModel model = small_classifier(3);
    Rng rng(11);
    RowMatrix inputs = random_matrix(10, 2, rng);
    RowMatrix exact = compute_fisher(model, inputs, Labels(), problem_for("exact"), Representation::dense).dense;
    const double variance = single_draw_variance(model, inputs);
    REQUIRE(variance > 0);

    const int seeds = 64;
    for (int draws : {4, 64, 1024}) {
        // r = K ||F_K - F||^2 / V has mean 1 for every K exactly when the error falls as 1/sqrt(K).
        double sum = 0, sum_squares = 0;
        FisherProblem problem = problem_for("mc:" + std::to_string(draws));
        for (int seed = 0; seed < seeds; ++seed) {
            problem.seed = seed;
            RowMatrix estimate = compute_fisher(model, inputs, Labels(), problem, Representation::dense).dense;
            double r = draws * (estimate - exact).squaredNorm() / variance;
            sum += r;
            sum_squares += r * r;
        }
        double mean = sum / seeds;
        double standard_error = std::sqrt((sum_squares / seeds - mean * mean) / (seeds - 1));
        INFO("K = " << draws << ": mean ratio " << mean << ", standard error " << standard_error);
        REQUIRE(4 * standard_error < 0.4);
        CHECK(std::abs(mean - 1) < 0.4);
    }
}

TEST_CASE("mc estimator is not the argmax-label Fisher", "[fim]") {
    FisherModel model = small_classifier(5);
    Rng rng(2);
    RowMatrix inputs = random_matrix(30, 2, rng);
    RowMatrix exact = compute_fisher(model, inputs, Labels(), problem_for("exact"), Representation::dense).dense;

    RowMatrix logits = model.forward(inputs);
    RowMatrix argmax(inputs.rows(), 1);
    for (Eigen::Index n = 0; n < inputs.rows(); ++n) {
        Eigen::Index best = 0;
        logits.row(n).maxCoeff(&best);
        argmax(n, 0) = static_cast<double>(best);
    }
    RowMatrix with_argmax = compute_fisher(model, inputs, argmax, problem_for("empirical"), Representation::dense).dense;
    FisherProblem mc = problem_for("mc:4000");
    mc.seed = 1;
    RowMatrix sampled = compute_fisher(model, inputs, Labels(), mc, Representation::dense).dense;

    // mc:4000 sits within a few percent of F; the argmax-label matrix is far from it.
    double sampled_error = (sampled - exact).norm() / exact.norm();
    double argmax_error = (with_argmax - exact).norm() / exact.norm();
    INFO("mc relative error " << sampled_error << ", argmax relative error " << argmax_error);
    CHECK(sampled_error < 0.05);
    CHECK(argmax_error > 0.2);
}

namespace {

struct Blobs {
    RowMatrix inputs, labels;
};

// Three Gaussian blobs in the plane, one class each.
Blobs three_blobs(Rng& rng, int per_class) {
    Blobs data{RowMatrix(3 * per_class, 2), RowMatrix(3 * per_class, 1)};
    const double centres[3][2] = {{-2, 0}, {2, 0}, {0, 2.5}};
    for (int c = 0; c < 3; ++c) {
        for (int i = 0; i < per_class; ++i) {
            data.inputs(c * per_class + i, 0) = centres[c][0] + rng.normal();
            data.inputs(c * per_class + i, 1) = centres[c][1] + rng.normal();
            data.labels(c * per_class + i, 0) = c;
        }
    }
    return data;
}

// Trains by gradient ascent on the mean log-likelihood.
void train(FisherModel& model, const Blobs& data, int steps, double rate) {
    FisherProblem training = problem_for("empirical");
    training.reduction = Reduction::mean;
    for (int step = 0; step < steps; ++step) {
        Vector gradient = log_likelihood_gradient(model, data.inputs, data.labels, training);
        model.set_parameter_vector(model.parameter_vector() + rate * gradient);
    }
}

// KL(p_theta || p_theta+delta) summed over the inputs.
double kl_divergence(FisherModel& model, const RowMatrix& inputs, const Vector& delta) {
    const Vector theta = model.parameter_vector();
    RowMatrix before = model.forward(inputs);
    model.set_parameter_vector(theta + delta);
    RowMatrix after = model.forward(inputs);
    model.set_parameter_vector(theta);
    double kl = 0;
    for (Eigen::Index n = 0; n < inputs.rows(); ++n) {
        Vector p = softmax(before.row(n).transpose()), q = softmax(after.row(n).transpose());
        kl += (p.array() * (p.array() / q.array()).log()).sum();
    }
    return kl;
}

}  // namespace

TEST_CASE("Fisher predicts KL of a small step", "[fim]") {
    // Softmax regression trained on three blobs; KL = delta^T F delta / 2 + O(|delta|^3).
    Rng rng(21);
    Blobs data = three_blobs(rng, 40);
    FisherModel model = FisherModel::linear_stack({{random_matrix(3, 2, rng, 0.5), Vector::Zero(3), "identity"}});
    train(model, data, 300, 0.5);
    RowMatrix fisher = compute_fisher(model, data.inputs, Labels(), problem_for("exact"), Representation::dense).dense;
    for (int trial = 0; trial < 5; ++trial) {
        Vector delta = random_vector(model.parameter_count(), rng);
        delta *= 1e-2 / delta.norm();
        double kl = kl_divergence(model, data.inputs, delta), quadratic = delta.dot(fisher * delta);
        INFO("trial " << trial << ": KL " << kl << ", delta^T F delta / 2 " << quadratic / 2);
        CHECK(std::sqrt(2 * kl / quadratic) == Approx(1).margin(1e-3).epsilon(0));
    }
}

TEST_CASE("Fisher predicts symmetric KL on a network", "[fim]") {
    // A 2-8-3 tanh network: the cubic term of KL is odd in delta, so the mean over +delta and
    // -delta matches delta^T F delta / 2 to O(|delta|^2).
    Rng rng(22);
    Blobs data = three_blobs(rng, 40);
    FisherModel model = FisherModel::linear_stack({{random_matrix(8, 2, rng, 0.5), Vector::Zero(8), "tanh"},
                                                   {random_matrix(3, 8, rng, 0.5), Vector::Zero(3), "identity"}});
    train(model, data, 300, 0.5);
    RowMatrix fisher = compute_fisher(model, data.inputs, Labels(), problem_for("exact"), Representation::dense).dense;
    for (int trial = 0; trial < 5; ++trial) {
        Vector delta = random_vector(model.parameter_count(), rng);
        delta *= 1e-2 / delta.norm();
        double kl = (kl_divergence(model, data.inputs, delta) + kl_divergence(model, data.inputs, -delta)) / 2;
        double quadratic = delta.dot(fisher * delta);
        INFO("trial " << trial << ": mean KL " << kl << ", delta^T F delta / 2 " << quadratic / 2);
        CHECK(std::sqrt(2 * kl / quadratic) == Approx(1).margin(1e-4).epsilon(0));
    }
}

TEST_CASE("mean reduction divides the sum by N", "[fim]") {
    FisherModel model = small_classifier(8);
    Rng rng(4);
    RowMatrix inputs = random_matrix(7, 2, rng);
    FisherProblem problem = problem_for("exact");
    RowMatrix sum = compute_fisher(model, inputs, Labels(), problem, Representation::dense).dense;
    problem.reduction = Reduction::mean;
    RowMatrix mean = compute_fisher(model, inputs, Labels(), problem, Representation::dense).dense;
    CHECK((mean * 7 - sum).norm() < 1e-12 * sum.norm());
}

TEST_CASE("empirical estimator requires labels", "[fim]") {
    FisherModel model = small_classifier(8);
    RowMatrix inputs = RowMatrix::Zero(2, 2);
    CHECK_THROWS_AS(compute_fisher(model, inputs, Labels(), problem_for("empirical"), Representation::diag), UsageError);
    RowMatrix bad = RowMatrix::Constant(2, 1, 3);  // class 3 of 3 classes does not exist
    CHECK_THROWS_AS(compute_fisher(model, inputs, bad, problem_for("empirical"), Representation::diag), Error);
}

TEST_CASE("mc draws independent of batch size", "[fim]") {
    FisherModel model = small_classifier(9);
    Rng rng(6);
    RowMatrix inputs = random_matrix(25, 2, rng);
    FisherProblem problem = problem_for("mc:5");
    problem.seed = 3;
    problem.batch_size = 4;
    RowMatrix small_batches = compute_fisher(model, inputs, Labels(), problem, Representation::dense).dense;
    problem.batch_size = 128;
    RowMatrix one_batch = compute_fisher(model, inputs, Labels(), problem, Representation::dense).dense;
    CHECK((small_batches - one_batch).norm() < 1e-12 * one_batch.norm());
    problem.seed = 4;
    RowMatrix other_seed = compute_fisher(model, inputs, Labels(), problem, Representation::dense).dense;
    CHECK((other_seed - one_batch).norm() > 1e-3 * one_batch.norm());
}
