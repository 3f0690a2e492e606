#include "scorekit/simd_activation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "scorekit/error.hpp"
#include "simd_dispatch.hpp"

// The element functions below are branch-free (selects, not ifs), so that GCC vectorises the
// loops that call them; lib/CMakeLists.txt compiles this file with -fno-trapping-math, without
// which GCC keeps the selects of the baseline SSE2 build as branches.

namespace scorekit {

Activation parse_activation(const std::string& name) {
    if (name == "softplus") return Activation::softplus;
    if (name == "silu") return Activation::silu;
    if (name == "tanh") return Activation::tanh;
    if (name == "elu") return Activation::elu;
    throw UsageError(describe("invalid --activation", name, "expected one of softplus, silu, tanh, elu"));
}

std::string to_string(Activation activation) {
    switch (activation) {
        case Activation::softplus: return "softplus";
        case Activation::silu: return "silu";
        case Activation::tanh: return "tanh";
        case Activation::elu: return "elu";
    }
    return "?";
}

namespace {

inline float power_of_two(std::int32_t exponent) {  // 2^exponent for -126 <= exponent <= 127
    std::int32_t bits = (exponent + 127) << 23;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// e^x * 2^shift for x <= 0 (larger x is treated as 0) and 0 <= shift <= 24, within 2 ulp
// including denormal results. Cephes expf: x = n ln 2 + r with |r| <= ln 2 / 2, a degree-6
// polynomial for e^r, and 2^(n + shift) applied as two normal factors so that results below
// 2^-126 round once into the denormals. A shift keeps tiny results normal for a caller that
// scales them back after further arithmetic.
inline float exp_nonpositive(float x, std::int32_t shift = 0) {
    x = std::min(x, 0.0f);
    x = std::max(x, -104.0f - 0.693147f * shift);  // e^-104 < 2^-150 rounds to 0
    const float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    float n = (x * 1.44269504088896341f + round_magic) - round_magic;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    std::int32_t exponent = static_cast<std::int32_t>(n) + shift;
    std::int32_t half = exponent / 2;
    return p * power_of_two(half) * power_of_two(exponent - half);
}

// e^x - 1 for x <= 0: the Taylor series to x^9 (relative remainder below 2^-27) for x > -0.5,
// otherwise e^x - 1, which loses no accuracy there because |e^x - 1| > 0.39.
inline float expm1_nonpositive(float x) {
    float p = 1.0f / 362880.0f;
    p = p * x + 1.0f / 40320.0f;
    p = p * x + 1.0f / 5040.0f;
    p = p * x + 1.0f / 720.0f;
    p = p * x + 1.0f / 120.0f;
    p = p * x + 1.0f / 24.0f;
    p = p * x + 1.0f / 6.0f;
    p = p * x + 0.5f;
    float series = x + x * x * p;
    return x > -0.5f ? series : exp_nonpositive(x) - 1.0f;
}

inline float sigmoid_of(float x) {
    float e = exp_nonpositive(-std::abs(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;  // e / (1 + e) keeps the relative accuracy of tiny results
}

// silu(x) = x sigmoid(x). For x < 0 the product is formed with e^x scaled by 2^24 and scaled
// back at the end, because a denormal sigmoid times |x| up to 104 would lose that many ulp.
inline float silu_of(float x) {
    float e = exp_nonpositive(-std::abs(x), 24);
    float scaled = x * e / (1.0f + e * 5.9604644775390625e-8f);
    return x >= 0.0f ? x / (1.0f + e * 5.9604644775390625e-8f) : scaled * 5.9604644775390625e-8f;
}

// silu'(x) = s + x s (1 - s) with s = sigmoid(x). Both s and 1 - s = sigmoid(-x) come from the
// same e = e^-|x|, so that neither is formed by a cancelling subtraction.
inline float silu_derivative(float x) {
    float e = exp_nonpositive(-std::abs(x));
    float larger = 1.0f / (1.0f + e), smaller = e * larger;
    float s = x >= 0.0f ? larger : smaller;
    float complement = x >= 0.0f ? smaller : larger;
    return s + x * s * complement;
}

// softplus(x) = max(x, 0) + log1p(e) with e = e^-|x| in [0, 1]. log1p(e) = e P(e), where P is a
// degree-9 polynomial (Chebyshev fit of log1p(e) / e on [0, 1], within 1.7e-7 relative in float
// Horner form). It needs no division and no second range reduction, which a general log1p would.
inline float log1p_of_unit_exp(float e) {
    float p = -3.256378462538123e-3f;
    p = p * e + 1.9907161593437195e-2f;
    p = p * e - 5.7064201682806015e-2f;
    p = p * e + 1.0614264756441116e-1f;
    p = p * e - 1.5311862528324127e-1f;
    p = p * e + 1.9678117334842682e-1f;
    p = p * e - 2.4954558908939362e-1f;
    p = p * e + 3.3330005407333374e-1f;
    p = p * e - 4.999990463256836e-1f;
    p = p * e + 1.0f;
    return e * p;
}

inline float softplus_of(float x) { return std::max(x, 0.0f) + log1p_of_unit_exp(exp_nonpositive(-std::abs(x))); }

// tanh: the Cephes tanhf polynomial for |x| < 0.625, otherwise (1 - e) / (1 + e) with
// e = e^(-2|x|).
inline float tanh_of(float x) {
    float a = std::abs(x);
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = a + a * z * p;
    float e = exp_nonpositive(-2.0f * a);
    float large = (1.0f - e) / (1.0f + e);
    return std::copysign(a < 0.625f ? small : large, x);
}

// tanh'(x) = 1 - tanh(x)^2 for |x| < 0.625, otherwise 4e / (1 + e)^2 with e = e^(-2|x|), which
// keeps the relative accuracy where 1 - tanh^2 would cancel.
inline float tanh_derivative(float x, float t) {
    float e = exp_nonpositive(-2.0f * std::abs(x));
    return std::abs(x) < 0.625f ? 1.0f - t * t : 4.0f * e / ((1.0f + e) * (1.0f + e));
}

SCOREKIT_SIMD_CLONES
void softplus_kernel(const float* __restrict pre, float* __restrict out, float* __restrict derivative, std::size_t n) {
    if (derivative == nullptr) {
        for (std::size_t i = 0; i < n; ++i) out[i] = softplus_of(pre[i]);
        return;
    }
    // The trainer needs both: one e^-|x| serves softplus and the sigmoid, with the same bits as
    // softplus_of and sigmoid_of.
    for (std::size_t i = 0; i < n; ++i) {
        float x = pre[i];
        float e = exp_nonpositive(-std::abs(x));
        out[i] = std::max(x, 0.0f) + log1p_of_unit_exp(e);
        float s = 1.0f / (1.0f + e);
        derivative[i] = x >= 0.0f ? s : e * s;
    }
}

SCOREKIT_SIMD_CLONES
void silu_kernel(const float* __restrict pre, float* __restrict out, float* __restrict derivative, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = silu_of(pre[i]);
    if (derivative == nullptr) return;
    for (std::size_t i = 0; i < n; ++i) derivative[i] = silu_derivative(pre[i]);
}

SCOREKIT_SIMD_CLONES
void tanh_kernel(const float* __restrict pre, float* __restrict out, float* __restrict derivative, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = tanh_of(pre[i]);
    if (derivative == nullptr) return;
    for (std::size_t i = 0; i < n; ++i) derivative[i] = tanh_derivative(pre[i], out[i]);
}

SCOREKIT_SIMD_CLONES
void elu_kernel(const float* __restrict pre, float* __restrict out, float* __restrict derivative, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        float x = pre[i];
        out[i] = x > 0.0f ? x : expm1_nonpositive(x);
    }
    if (derivative == nullptr) return;
    for (std::size_t i = 0; i < n; ++i) {
        float x = pre[i];
        derivative[i] = x > 0.0f ? 1.0f : exp_nonpositive(x);
    }
}

SCOREKIT_SIMD_CLONES
void sigmoid_kernel(const float* __restrict x, float* __restrict out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = sigmoid_of(x[i]);
}

}  // namespace

void activate(Activation activation, const float* pre, float* out, float* derivative, std::size_t n) {
    switch (activation) {
        case Activation::softplus: return softplus_kernel(pre, out, derivative, n);
        case Activation::silu: return silu_kernel(pre, out, derivative, n);
        case Activation::tanh: return tanh_kernel(pre, out, derivative, n);
        case Activation::elu: return elu_kernel(pre, out, derivative, n);
    }
}

void sigmoid(const float* x, float* out, std::size_t n) { sigmoid_kernel(x, out, n); }

}  // namespace scorekit
