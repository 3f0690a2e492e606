// Autograd derivatives of TorchScript score modules (fixtures from make_score_modules.py):
// closed forms for the Gaussian and linear modules, central differences for a small MLP.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "scorekit/model_loader.hpp"

using namespace scorekit;

namespace {

struct Fixtures {
    std::string dir;
    Fixtures() {
        char pattern[] = "/tmp/scorekit-torchscript.XXXXXX";
        dir = mkdtemp(pattern);
        REQUIRE(std::system(("/usr/bin/python3 " SCOREKIT_SOURCE "/tests/fixtures/make_score_modules.py " + dir).c_str()) ==
                0);
    }
    ~Fixtures() { std::system(("rm -rf '" + dir + "'").c_str()); }
};

double max_abs(const RowMatrix& m) { return m.cwiseAbs().maxCoeff(); }

}  // namespace

TEST_CASE("TorchScript Gaussian module derivatives", "[score][torchscript]") {
    Fixtures f;
    auto module = load_score_model(f.dir + "/gaussian_sigma.pt");
    RowMatrix x(2, 2), v(2, 2);
    x << 0, 0, 1.5, -1;
    v << 1, 2, -0.5, 3;
    const double sigma = 0.5;
    // s = -(x - mu) / (var + sigma^2), so J = diag(-1 / (var + sigma^2)) with var = (0.5, 2).
    const double j0 = -1 / (0.5 + sigma * sigma), j1 = -1 / (2 + sigma * sigma);
    RowMatrix jacobian = module->score_jacobian(x, sigma);
    REQUIRE(jacobian.cols() == 4);
    for (Eigen::Index i = 0; i < 2; ++i) {
        CHECK(jacobian(i, 0) == Approx(j0).epsilon(1e-6));  // float32 module
        CHECK(jacobian(i, 1) == 0.0);
        CHECK(jacobian(i, 2) == 0.0);
        CHECK(jacobian(i, 3) == Approx(j1).epsilon(1e-6));
    }
    RowMatrix jvp = module->score_jvp(x, v, sigma);
    CHECK(jvp(1, 0) == Approx(-0.5 * j0).epsilon(1e-6));
    CHECK(jvp(1, 1) == Approx(3 * j1).epsilon(1e-6));
    CHECK(module->score_precision() == std::ldexp(1.0, -23));
}

TEST_CASE("TorchScript linear module transposes in vjp", "[score][torchscript]") {
    Fixtures f;
    auto module = load_score_model(f.dir + "/linear_x.pt");
    RowMatrix x(1, 3), u(1, 3);
    x << 1, 2, 3;
    u << 1, -1, 2;
    // score = A x + b with A = [[-1, 0, 0], [0, -2, 0], [0.5, 0, -1]]: J = A, not symmetric.
    RowMatrix jacobian = module->score_jacobian(x, 0.0);
    RowMatrix expected(1, 9);
    expected << -1, 0, 0, 0, -2, 0, 0.5, 0, -1;
    CHECK(max_abs(jacobian - expected) < 1e-7);
    RowMatrix vjp = module->score_vjp(x, u, 0.0);  // A^T u = (-1 + 1, 2, -2)
    CHECK(vjp(0, 0) == Approx(0.0).margin(1e-7));
    CHECK(vjp(0, 1) == Approx(2.0));
    CHECK(vjp(0, 2) == Approx(-2.0));
    RowMatrix jvp = module->score_jvp(x, u, 0.0);  // A u = (-1, 2, 0.5 - 2)
    CHECK(jvp(0, 0) == Approx(-1.0));
    CHECK(jvp(0, 1) == Approx(2.0));
    CHECK(jvp(0, 2) == Approx(-1.5));
}

TEST_CASE("TorchScript MLP derivatives match differences", "[score][torchscript]") {
    Fixtures f;
    auto module = load_score_model(f.dir + "/mlp_sigma.pt");
    REQUIRE(module->dim() == 3);
    CHECK(module->score_precision() == std::numeric_limits<double>::epsilon());  // a float64 module
    RowMatrix x(4, 3), v(4, 3);
    x << 0.1, -0.3, 0.7, 1.2, 0.4, -0.9, -1.5, 2.0, 0.3, 0.0, 0.0, 0.0;
    v << 1, 0, -1, 0.5, 2, 0.25, -1, 1, 1, 0.3, -0.7, 0.2;
    const double sigma = 0.4, h = 1e-6;

    // Central differences in float64: truncation ~1e-12, rounding ~1e-10.
    RowMatrix reference(4, 9);
    for (Eigen::Index b = 0; b < 3; ++b) {
        RowMatrix plus = x, minus = x;
        plus.col(b).array() += h;
        minus.col(b).array() -= h;
        RowMatrix column = (module->score(plus, sigma) - module->score(minus, sigma)) / (2 * h);
        for (Eigen::Index a = 0; a < 3; ++a) reference.col(a * 3 + b) = column.col(a);
    }
    RowMatrix jacobian = module->score_jacobian(x, sigma);
    INFO("max |J| " << max_abs(reference) << ", error " << max_abs(jacobian - reference));
    REQUIRE(max_abs(reference) > 0.1);
    CHECK(max_abs(jacobian - reference) < 1e-8);

    RowMatrix jvp = module->score_jvp(x, v, sigma), vjp = module->score_vjp(x, v, sigma);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        Eigen::Map<const RowMatrix> j(reference.row(i).data(), 3, 3);
        CHECK(max_abs(jvp.row(i) - (j * v.row(i).transpose()).transpose()) < 1e-8);
        CHECK(max_abs(vjp.row(i) - (j.transpose() * v.row(i).transpose()).transpose()) < 1e-8);
    }
    CHECK_THROWS_WITH(module->score_vjp(x, RowMatrix::Zero(2, 3), sigma), Catch::Contains("[2, 3]"));
}
