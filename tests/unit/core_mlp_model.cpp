// The float32 MLP evaluator in the core library, without LibTorch: a two-unit network whose
// score and derivatives have closed forms, and the model file round trip.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/mlp_model.hpp"

using namespace scorekit;

namespace {

// D = 2, one hidden layer of 2 tanh units: f = W2 tanh(W1 [z, log sigma] + b1) + b2 with
// z = (x - mean) / std and the score s = f / (sigma std).
MlpScoreFile small_tanh_model() {
    MlpScoreFile model;
    model.parameters.architecture = {2, 2, 1, Activation::tanh};
    model.parameters.tensors = {{0.5f, -1.0f, 0.25f, 1.5f, 0.75f, -0.5f},  // W1 [2, 3]
                                {0.1f, -0.2f},                             // b1
                                {1.0f, 2.0f, -0.5f, 0.25f},                // W2 [2, 2]
                                {0.3f, -0.1f}};                            // b2
    model.sigmas = {1.0, 0.5};
    model.data_mean = Eigen::Vector2d(1.0, -2.0);
    model.data_std = Eigen::Vector2d(2.0, 0.5);
    return model;
}

struct ClosedForm {
    Eigen::Vector2d score;
    Eigen::Matrix2d jacobian;
};

ClosedForm closed_form(const Eigen::Vector2d& x, double sigma) {
    Eigen::Matrix<double, 2, 3> w1;
    w1 << 0.5, -1.0, 0.25, 1.5, 0.75, -0.5;
    Eigen::Matrix2d w2;
    w2 << 1.0, 2.0, -0.5, 0.25;
    Eigen::Vector2d mean(1.0, -2.0), std(2.0, 0.5);
    Eigen::Vector2d z = (x - mean).cwiseQuotient(std);
    Eigen::Vector2d pre = w1.leftCols<2>() * z + w1.col(2) * std::log(sigma) + Eigen::Vector2d(0.1, -0.2);
    Eigen::Vector2d hidden = pre.array().tanh();
    Eigen::Vector2d slope = 1 - hidden.array().square();
    Eigen::Vector2d out = w2 * hidden + Eigen::Vector2d(0.3, -0.1);
    Eigen::DiagonalMatrix<double, 2> output_scale((1 / (sigma * std.array())).matrix());
    Eigen::DiagonalMatrix<double, 2> input_scale(std.cwiseInverse());
    return {output_scale * out, output_scale * w2 * slope.asDiagonal() * w1.leftCols<2>() * input_scale};
}

}  // namespace

TEST_CASE("MLP evaluator closed-form network", "[mlp]") {
    auto model = make_mlp_score_model(small_tanh_model());
    CHECK(model->kind() == "mlp-score");
    CHECK(model->dim() == 2);
    CHECK(model->score_precision() == std::ldexp(1.0, -23));
    RowMatrix x(3, 2), v(3, 2);
    x << 0.0, 0.0, 3.0, -1.5, -2.0, -2.5;
    v << 1.0, -2.0, 0.5, 0.5, -1.0, 3.0;

    for (double sigma : {0.5, 1.0}) {
        RowMatrix score = model->score(x, sigma), jacobian = model->score_jacobian(x, sigma);
        RowMatrix jvp = model->score_jvp(x, v, sigma), vjp = model->score_vjp(x, v, sigma);
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
            ClosedForm expected = closed_form(x.row(i).transpose(), sigma);
            Eigen::Vector2d direction = v.row(i).transpose();
            Eigen::Vector2d expected_jvp = expected.jacobian * direction;
            Eigen::Vector2d expected_vjp = expected.jacobian.transpose() * direction;
            // Float32 arithmetic on values of order 1 to 10: 1e-5 is 10 to 100 float ulps.
            for (int a = 0; a < 2; ++a) {
                CHECK(score(i, a) == Approx(expected.score(a)).margin(1e-5));
                CHECK(jvp(i, a) == Approx(expected_jvp(a)).margin(1e-5));
                CHECK(vjp(i, a) == Approx(expected_vjp(a)).margin(1e-5));
                for (int b = 0; b < 2; ++b) CHECK(jacobian(i, a * 2 + b) == Approx(expected.jacobian(a, b)).margin(1e-5));
            }
        }
    }
}

TEST_CASE("MLP model file round trip", "[mlp]") {
    char pattern[] = "/tmp/scorekit-mlp-file.XXXXXX";
    std::string dir = mkdtemp(pattern), path = dir + "/model.h5";
    MlpScoreFile written = small_tanh_model();
    {
        Hdf5Writer file(path);
        write_mlp_model(file, written);
        file.commit();
    }
    MlpScoreFile read = read_mlp_model(Hdf5Reader(path));
    std::system(("rm -rf '" + dir + "'").c_str());
    CHECK(read.parameters.architecture.activation == Activation::tanh);
    CHECK(read.parameters.architecture.depth == 1);
    CHECK(read.parameters.tensors == written.parameters.tensors);
    CHECK(read.sigmas == written.sigmas);
    CHECK(read.data_std == written.data_std);

    RowMatrix x(1, 2);
    x << 0.5, 0.5;
    CHECK(make_mlp_score_model(read)->score(x, 0.5) == make_mlp_score_model(written)->score(x, 0.5));
}

TEST_CASE("MLP model file with unsorted noise levels", "[mlp]") {
    // The smallest level is the last one. A file with the levels in increasing order made the
    // tools evaluate the score at the largest level instead.
    char pattern[] = "/tmp/scorekit-mlp-file.XXXXXX";
    std::string dir = mkdtemp(pattern), path = dir + "/model.h5";
    MlpScoreFile written = small_tanh_model();
    written.sigmas = {0.5, 1.0};
    {
        Hdf5Writer file(path);
        write_mlp_model(file, written);
        file.commit();
    }
    std::string message;
    try {
        read_mlp_model(Hdf5Reader(path));
    } catch (const Error& e) {
        message = e.what();
    }
    std::system(("rm -rf '" + dir + "'").c_str());
    CHECK_THAT(message, Catch::Contains("model.h5:/model/sigmas") && Catch::Contains("sorted largest first"));
}
