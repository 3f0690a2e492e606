// Float32 matrix kernels of the MLP evaluator (private to the core library).
#pragma once

#include <cstddef>

namespace scorekit {

// Computes c = a b (+ bias on every row) for row-major a [rows, k], b [k, n] and c [rows, n].
// `bt` is b transposed ([n, k], row-major), which the kernel reads instead of b when n is small
// (dot products over k are faster than short rows there). `bias` [n] may be null. c must not
// overlap the inputs. Sums are accumulated in float in an order that depends on the CPU's
// vector width, so results may differ between machines in the last bits.
void matmul(const float* a, std::size_t rows, std::size_t k, const float* b, const float* bt, std::size_t n,
            const float* bias, float* c);

// Multiplies row r of m [rows * repeats, n] by row r / repeats of scale [rows, n], elementwise.
void scale_rows(float* m, std::size_t rows, std::size_t repeats, const float* scale, std::size_t n);

}  // namespace scorekit
