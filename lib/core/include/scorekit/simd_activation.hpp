// Activation functions of the score MLPs in float32, evaluated over arrays in loops that the
// compiler vectorises. The library builds each kernel for AVX-512, AVX2 + FMA and baseline
// x86-64 (SSE2) and selects one at load time, so the binary runs on any x86-64 CPU.
//
// Accuracy: every value and derivative is within 4 ulp of the correctly rounded float result,
// denormal results included (3 ulp was the largest error measured). The exception is silu'
// near its zero at x = -1.2785, where it is the difference of two terms near 0.22 and the
// error bound is absolute, 2^-24. The unit test core_simd_activation.cpp checks these bounds
// against double-precision references (std::log1p(std::exp(x)) for softplus) on a grid of
// step 2^-10 over [-120, 120] and on tiny inputs down to 2^-140.
#pragma once

#include <cstddef>
#include <string>

namespace scorekit {

enum class Activation { softplus, silu, tanh, elu };

// Parses "softplus", "silu", "tanh" or "elu"; throws UsageError listing the choices.
Activation parse_activation(const std::string& name);
std::string to_string(Activation activation);

// Computes out[i] = phi(pre[i]) for i < n and, when `derivative` is non-null, derivative[i] =
// phi'(pre[i]). The arrays must not overlap. Definitions (PyTorch's defaults):
//   softplus(x) = log(1 + e^x), phi' = sigmoid(x)
//   silu(x)     = x sigmoid(x), phi' = sigmoid(x) (1 + x (1 - sigmoid(x)))
//   tanh(x),                    phi' = 1 - tanh(x)^2
//   elu(x)      = x for x > 0, e^x - 1 otherwise (alpha = 1), phi' = 1 or e^x
// NaN inputs give unspecified (possibly finite) outputs.
void activate(Activation activation, const float* pre, float* out, float* derivative, std::size_t n);

// Computes out[i] = sigmoid(x[i]) = 1 / (1 + e^-x) with the accuracy above.
void sigmoid(const float* x, float* out, std::size_t n);

}  // namespace scorekit
