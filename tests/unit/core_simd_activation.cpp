// Float32 activation kernels against double-precision references, in ulp of the float result.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "scorekit/simd_activation.hpp"

using namespace scorekit;

namespace {

// Distance in units in the last place between two finite floats of any sign, counting the
// denormals, so that 1 ulp near 2^-149 is 2^-149.
std::int64_t ulp_distance(float a, float b) {
    auto ordered = [](float f) {
        std::int32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        return bits < 0 ? -static_cast<std::int64_t>(bits & 0x7fffffff) : static_cast<std::int64_t>(bits);
    };
    return std::llabs(ordered(a) - ordered(b));
}

// Inputs: a grid of step 2^-10 over [-120, 120], which covers |x| > 20 and the inputs whose
// softplus, sigmoid and e^x results are denormal floats (x < -87.3), plus tiny magnitudes
// from 2^-140 to 2^-4 on both sides and both zeros.
std::vector<float> test_inputs() {
    std::vector<float> inputs;
    for (int i = -120 * 1024; i <= 120 * 1024; ++i) inputs.push_back(static_cast<float>(i) / 1024.0f);
    for (int e = -140; e <= -4; ++e) {
        for (float m : {1.0f, 1.37f, 1.999f}) {
            inputs.push_back(std::ldexp(m, e));
            inputs.push_back(-std::ldexp(m, e));
        }
    }
    inputs.push_back(-0.0f);
    return inputs;
}

double reference_sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

struct Worst {
    std::int64_t ulps = 0;
    float at = 0;
};

// Largest ulp distance between `computed` and `reference` rounded to float. Where `absolute`
// is positive, points with |reference| < 1/4 and an absolute error of at most `absolute` count
// as exact.
Worst worst_error(const std::vector<float>& x, const std::vector<float>& computed,
                  const std::function<double(double)>& reference, double absolute = 0) {
    Worst worst;
    for (size_t i = 0; i < x.size(); ++i) {
        double expected = reference(x[i]);
        if (std::abs(expected) < 0.25 && std::abs(computed[i] - expected) <= absolute) continue;
        std::int64_t ulps = ulp_distance(computed[i], static_cast<float>(expected));
        if (ulps > worst.ulps) worst = {ulps, x[i]};
    }
    return worst;
}

struct Evaluated {
    std::vector<float> value, derivative;
};

Evaluated evaluate(Activation activation, const std::vector<float>& x) {
    Evaluated e{std::vector<float>(x.size()), std::vector<float>(x.size())};
    activate(activation, x.data(), e.value.data(), e.derivative.data(), x.size());
    return e;
}

}  // namespace

TEST_CASE("softplus within 4 ulp of log1p(exp(x))", "[simd]") {
    std::vector<float> x = test_inputs();
    Evaluated e = evaluate(Activation::softplus, x);
    // std::log1p(std::exp(x)) in double is exact to float precision up to x = 700; the inputs
    // stop at 120.
    Worst value = worst_error(x, e.value, [](double t) { return std::log1p(std::exp(t)); });
    Worst derivative = worst_error(x, e.derivative, reference_sigmoid);
    INFO("softplus: " << value.ulps << " ulp at " << value.at << "; sigmoid: " << derivative.ulps << " ulp at "
                      << derivative.at);
    CHECK(value.ulps <= 4);
    CHECK(derivative.ulps <= 4);

    // Denormal results: softplus(-100) = e^-100 = 3.72e-44, 26 denormal steps of 2^-149.
    float input = -100.0f, output, slope;
    activate(Activation::softplus, &input, &output, &slope, 1);
    CHECK(output > 0.0f);
    CHECK(output < std::numeric_limits<float>::min());
    CHECK(ulp_distance(output, static_cast<float>(std::exp(-100.0))) <= 1);
    CHECK(ulp_distance(slope, static_cast<float>(std::exp(-100.0))) <= 1);
}

TEST_CASE("silu, tanh and elu within 4 ulp", "[simd]") {
    std::vector<float> x = test_inputs();

    Evaluated silu = evaluate(Activation::silu, x);
    Worst silu_value = worst_error(x, silu.value, [](double t) { return t * reference_sigmoid(t); });
    // silu' = s + x s (1 - s) crosses zero at x = -1.2785 by cancellation of two terms near
    // 0.22, so the float result has an absolute accuracy of a few ulp of 0.22 there; an error
    // of at most 2^-24 (4 ulp of 0.22) counts as exact where |silu'| < 1/4.
    Worst silu_derivative = worst_error(
        x, silu.derivative,
        [](double t) {
            double s = reference_sigmoid(t);
            return s * (1 + t * (1 - s));
        },
        std::ldexp(1.0, -24));
    INFO("silu: " << silu_value.ulps << " ulp at " << silu_value.at << "; derivative " << silu_derivative.ulps
                  << " ulp at " << silu_derivative.at);
    CHECK(silu_value.ulps <= 4);
    CHECK(silu_derivative.ulps <= 4);

    Evaluated tanh = evaluate(Activation::tanh, x);
    Worst tanh_value = worst_error(x, tanh.value, [](double t) { return std::tanh(t); });
    Worst tanh_derivative = worst_error(x, tanh.derivative, [](double t) {
        double e = std::exp(-2 * std::abs(t));
        return 4 * e / ((1 + e) * (1 + e));
    });
    INFO("tanh: " << tanh_value.ulps << " ulp at " << tanh_value.at << "; derivative " << tanh_derivative.ulps
                  << " ulp at " << tanh_derivative.at);
    CHECK(tanh_value.ulps <= 4);
    CHECK(tanh_derivative.ulps <= 4);

    Evaluated elu = evaluate(Activation::elu, x);
    Worst elu_value = worst_error(x, elu.value, [](double t) { return t > 0 ? t : std::expm1(t); });
    Worst elu_derivative = worst_error(x, elu.derivative, [](double t) { return t > 0 ? 1.0 : std::exp(t); });
    INFO("elu: " << elu_value.ulps << " ulp at " << elu_value.at << "; derivative " << elu_derivative.ulps
                 << " ulp at " << elu_derivative.at);
    CHECK(elu_value.ulps <= 4);
    CHECK(elu_derivative.ulps <= 4);
}

TEST_CASE("sigmoid within 4 ulp including denormals", "[simd]") {
    std::vector<float> x = test_inputs();
    std::vector<float> out(x.size());
    sigmoid(x.data(), out.data(), x.size());
    Worst worst = worst_error(x, out, reference_sigmoid);
    INFO(worst.ulps << " ulp at " << worst.at);
    CHECK(worst.ulps <= 4);
}

TEST_CASE("activation kernels without derivative", "[simd]") {
    std::vector<float> x = {-30.0f, -2.5f, -0.1f, 0.0f, 0.3f, 4.0f, 30.0f};
    for (Activation activation : {Activation::softplus, Activation::silu, Activation::tanh, Activation::elu}) {
        Evaluated both = evaluate(activation, x);
        std::vector<float> alone(x.size());
        activate(activation, x.data(), alone.data(), nullptr, x.size());
        CHECK(alone == both.value);
    }
}

TEST_CASE("parse_activation names", "[simd]") {
    for (Activation activation : {Activation::softplus, Activation::silu, Activation::tanh, Activation::elu}) {
        CHECK(parse_activation(to_string(activation)) == activation);
    }
    CHECK_THROWS_WITH(parse_activation("relu"), Catch::Contains("softplus, silu, tanh, elu"));
}
