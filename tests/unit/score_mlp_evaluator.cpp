// The LibTorch-free MLP evaluator (mlp_model.hpp) against LibTorch: forward values, and
// jvp, vjp and Jacobians against autograd and against finite differences of the same network
// evaluated in double.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "mlp_network.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/mlp_model.hpp"
#include "scorekit/score_train.hpp"
#include "torch_convert.hpp"

using namespace scorekit;

namespace {

struct Scratch {
    std::string dir;
    Scratch() {
        char pattern[] = "/tmp/scorekit-mlp.XXXXXX";
        dir = mkdtemp(pattern);
    }
    ~Scratch() { std::system(("rm -rf '" + dir + "'").c_str()); }
};

// A model with random weights, scaled so that the activations work in their curved range.
MlpScoreFile random_model(int dim, int width, int depth, Activation activation, unsigned seed) {
    MlpScoreFile model;
    model.parameters.architecture = {dim, width, depth, activation};
    std::mt19937 generator(seed);
    for (auto [out, in] : model.parameters.architecture.layer_shapes()) {
        std::uniform_real_distribution<float> uniform(-2.0f / std::sqrt(float(in)), 2.0f / std::sqrt(float(in)));
        std::vector<float> weight(static_cast<size_t>(out) * in), bias(out);
        for (float& w : weight) w = uniform(generator);
        for (float& b : bias) b = uniform(generator);
        model.parameters.tensors.push_back(weight);
        model.parameters.tensors.push_back(bias);
    }
    model.sigmas = {1.0, 0.1};
    model.data_mean = Vector::LinSpaced(dim, -0.5, 1.0);
    model.data_std = Vector::LinSpaced(dim, 0.5, 2.0);
    return model;
}

// A model trained by score-train on Old Faithful (2-64-64-2 softplus, 300 steps).
MlpScoreFile trained_model(const Scratch& s) {
    set_verbosity(Verbosity::quiet);
    ScoreTrainOptions o;
    o.input = SCOREKIT_TEST_DATA "/faithful.csv";
    o.common.output = s.dir + "/model.h5";
    o.common.quiet = true;
    o.width = 64;
    o.steps = 300;
    o.batch_size = 64;
    o.common.seed = 4;
    run_score_train(o);
    return read_mlp_model(Hdf5Reader(o.common.output));
}

RowMatrix random_points(const MlpScoreFile& model, int n, unsigned seed) {
    std::mt19937 generator(seed);
    std::normal_distribution<double> normal;
    RowMatrix x(n, model.parameters.architecture.dim);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        for (Eigen::Index j = 0; j < x.cols(); ++j) x(i, j) = model.data_mean(j) + model.data_std(j) * normal(generator);
    }
    return x;
}

// The score of the LibTorch network in `dtype`: s = f([z, log sigma]) / (sigma std).
torch::Tensor torch_score(const MlpNetwork& network, const MlpScoreFile& model, const torch::Tensor& x, double sigma) {
    torch::Dtype dtype = x.scalar_type();
    torch::Tensor mean = to_tensor(RowMatrix(model.data_mean.transpose()), dtype);
    torch::Tensor std = to_tensor(RowMatrix(model.data_std.transpose()), dtype);
    torch::Tensor sigmas = torch::full({x.size(0)}, sigma, dtype);
    return network.forward(network_input((x - mean) / std, sigmas)) / (sigma * std);
}

MlpNetwork network_in(const MlpScoreFile& model, torch::Dtype dtype) {
    MlpNetwork network = MlpNetwork::from_parameters(model.parameters);
    for (auto& w : network.weights) w = w.to(dtype);
    for (auto& b : network.biases) b = b.to(dtype);
    return network;
}

// Jacobians [N, D * D] of the LibTorch float32 network by autograd, one backward pass per output.
RowMatrix autograd_jacobian(const MlpScoreFile& model, const RowMatrix& x, double sigma) {
    MlpNetwork network = network_in(model, torch::kFloat32);
    const Eigen::Index d = x.cols();
    RowMatrix jacobian(x.rows(), d * d);
    torch::Tensor input = to_tensor(x).requires_grad_(true);
    torch::Tensor out = torch_score(network, model, input, sigma);
    for (Eigen::Index a = 0; a < d; ++a) {
        torch::Tensor weights = torch::zeros_like(out);
        weights.select(1, a).fill_(1.0);
        RowMatrix row = to_matrix(torch::autograd::grad({out}, {input}, {weights}, true)[0]);
        for (Eigen::Index b = 0; b < d; ++b) jacobian.col(a * d + b) = row.col(b);
    }
    return jacobian;
}

// Jacobians of the same network in double by central differences, step 1e-6 * std_b: the
// truncation error is about 1e-12 and the rounding error about 1e-10 of the score's scale.
RowMatrix double_difference_jacobian(const MlpScoreFile& model, const RowMatrix& x, double sigma) {
    torch::NoGradGuard no_grad;
    MlpNetwork network = network_in(model, torch::kFloat64);
    const Eigen::Index d = x.cols();
    RowMatrix jacobian(x.rows(), d * d);
    for (Eigen::Index b = 0; b < d; ++b) {
        double h = 1e-6 * model.data_std(b);
        RowMatrix plus = x, minus = x;
        plus.col(b).array() += h;
        minus.col(b).array() -= h;
        RowMatrix difference = (to_matrix(torch_score(network, model, to_tensor(plus, torch::kFloat64), sigma)) -
                                to_matrix(torch_score(network, model, to_tensor(minus, torch::kFloat64), sigma))) /
                               (2 * h);
        for (Eigen::Index a = 0; a < d; ++a) jacobian.col(a * d + b) = difference.col(a);
    }
    return jacobian;
}

// J v and J^T u for each row from Jacobians stored row-major in the rows of `jacobian`.
RowMatrix apply(const RowMatrix& jacobian, const RowMatrix& v, bool transpose) {
    const Eigen::Index d = v.cols();
    RowMatrix out(v.rows(), d);
    for (Eigen::Index i = 0; i < v.rows(); ++i) {
        Eigen::Map<const RowMatrix> j(jacobian.row(i).data(), d, d);
        Eigen::VectorXd product = transpose ? Eigen::VectorXd(j.transpose() * v.row(i).transpose())
                                            : Eigen::VectorXd(j * v.row(i).transpose());
        out.row(i) = product.transpose();
    }
    return out;
}

double max_abs(const RowMatrix& m) { return m.cwiseAbs().maxCoeff(); }

// Checks the evaluator's derivatives against autograd and double-precision differences. The
// tolerance 1e-4 of the largest entry is float rounding through a few layers of width <= 128
// (measured differences are below 1e-6 of it); an error in one layer's chain rule is of order 1.
void check_derivatives(const MlpScoreFile& model, const RowMatrix& x, double sigma) {
    auto evaluator = make_mlp_score_model(model);
    const double tolerance = 1e-4;

    RowMatrix jacobian = evaluator->score_jacobian(x, sigma);
    RowMatrix reference = double_difference_jacobian(model, x, sigma);
    RowMatrix autograd = autograd_jacobian(model, x, sigma);
    double scale = max_abs(reference);
    INFO("max |J| " << scale << ", vs differences " << max_abs(jacobian - reference) << ", vs autograd "
                    << max_abs(jacobian - autograd));
    REQUIRE(scale > 1e-3);  // a Jacobian that is not zero, so that the relative checks mean something
    CHECK(max_abs(jacobian - reference) < tolerance * scale);
    CHECK(max_abs(jacobian - autograd) < tolerance * scale);

    RowMatrix v = random_points(model, static_cast<int>(x.rows()), 11) - x;
    RowMatrix jvp = evaluator->score_jvp(x, v, sigma), vjp = evaluator->score_vjp(x, v, sigma);
    RowMatrix jvp_reference = apply(reference, v, false), vjp_reference = apply(reference, v, true);
    INFO("jvp error " << max_abs(jvp - jvp_reference) << ", vjp error " << max_abs(vjp - vjp_reference)
                      << ", scale " << max_abs(jvp_reference));
    CHECK(max_abs(jvp - jvp_reference) < tolerance * max_abs(jvp_reference));
    CHECK(max_abs(vjp - vjp_reference) < tolerance * max_abs(vjp_reference));
}

}  // namespace

TEST_CASE("MLP evaluator equals LibTorch forward on a trained model", "[score][mlp]") {
    Scratch s;
    MlpScoreFile model = trained_model(s);
    auto evaluator = make_mlp_score_model(model);
    MlpNetwork network = network_in(model, torch::kFloat32);
    RowMatrix x = random_points(model, 300, 1);
    CHECK(evaluator->kind() == "mlp-score");
    CHECK(evaluator->score_precision() == std::ldexp(1.0, -23));
    for (double sigma : model.sigmas) {
        torch::NoGradGuard no_grad;
        RowMatrix expected = to_matrix(torch_score(network, model, to_tensor(x), sigma));
        RowMatrix got = evaluator->score(x, sigma);
        INFO("sigma " << sigma << ": max difference " << max_abs(got - expected) << ", max |s| " << max_abs(expected));
        // Float rounding: the two sides sum in different orders, and LibTorch concatenates
        // log sigma as an input where the evaluator folds it into the bias.
        CHECK(max_abs(got - expected) < 1e-5 * max_abs(expected));
    }
}

TEST_CASE("MLP derivatives on a trained model", "[score][mlp]") {
    Scratch s;
    MlpScoreFile model = trained_model(s);
    RowMatrix x = random_points(model, 40, 2);
    check_derivatives(model, x, model.sigmas.back());
    check_derivatives(model, x, model.sigmas.front());
}

TEST_CASE("MLP derivatives for every activation", "[score][mlp]") {
    // Width 40 and D = 5 leave remainders in every blocked loop of the kernels.
    for (Activation activation : {Activation::softplus, Activation::silu, Activation::tanh, Activation::elu}) {
        INFO(to_string(activation));
        MlpScoreFile model = random_model(5, 40, 3, activation, 7);
        RowMatrix x = random_points(model, 70, 3);
        check_derivatives(model, x, 0.3);
    }
}

TEST_CASE("MLP forward for every activation", "[score][mlp]") {
    for (Activation activation : {Activation::softplus, Activation::silu, Activation::tanh, Activation::elu}) {
        INFO(to_string(activation));
        MlpScoreFile model = random_model(3, 128, 2, activation, 8);
        RowMatrix x = random_points(model, 200, 4);
        torch::NoGradGuard no_grad;
        RowMatrix expected = to_matrix(torch_score(network_in(model, torch::kFloat64), model,
                                                   to_tensor(x, torch::kFloat64), 0.5));
        RowMatrix got = make_mlp_score_model(model)->score(x, 0.5);
        CHECK(max_abs(got - expected) < 1e-5 * max_abs(expected));
    }
}

TEST_CASE("MLP evaluator on several threads", "[score][mlp]") {
    MlpScoreFile model = random_model(4, 64, 2, Activation::softplus, 9);
    RowMatrix x = random_points(model, 1000, 5);
    auto single = make_mlp_score_model(model, 1);
    auto pooled = make_mlp_score_model(model, 3);
    RowMatrix expected = single->score(x, 0.2);
    CHECK(pooled->score(x, 0.2) == expected);  // the same blocks, so the same float operations
    CHECK(pooled->score_jacobian(x, 0.2) == single->score_jacobian(x, 0.2));

    // Concurrent callers of one model share its workspace pool.
    std::vector<RowMatrix> results(4);
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
        callers.emplace_back([&, t] {
            for (int repeat = 0; repeat < 20; ++repeat) results[t] = pooled->score(x, 0.2);
        });
    }
    for (auto& caller : callers) caller.join();
    for (const RowMatrix& result : results) CHECK(result == expected);
}

TEST_CASE("MLP evaluator rejects bad shapes and sigma", "[score][mlp]") {
    auto evaluator = make_mlp_score_model(random_model(2, 8, 1, Activation::tanh, 10));
    CHECK_THROWS_WITH(evaluator->score(RowMatrix::Zero(3, 4), 0.1), Catch::Contains("dimension 4"));
    CHECK_THROWS_AS(evaluator->score(RowMatrix::Zero(3, 2), 0.0), UsageError);
    CHECK_THROWS_WITH(evaluator->score_jvp(RowMatrix::Zero(3, 2), RowMatrix::Zero(2, 2), 0.1),
                      Catch::Contains("[2, 2]"));
    CHECK(evaluator->score(RowMatrix::Zero(0, 2), 0.1).rows() == 0);

    MlpScoreFile broken = random_model(2, 8, 1, Activation::tanh, 10);
    broken.parameters.tensors[1].pop_back();
    CHECK_THROWS_WITH(make_mlp_score_model(broken), Catch::Contains("layer 0"));
}
