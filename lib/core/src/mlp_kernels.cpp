#include "mlp_kernels.hpp"

#include "simd_dispatch.hpp"

namespace scorekit {
namespace {

// Register tile of the matrix product: kTileRows rows by kTileColumns columns of c, held in
// 12 vector registers of 8 floats over the whole k loop (the usual 6 x 16 AVX2 layout). GCC's
// vector extension lowers the 8-float vectors to pairs of SSE registers in the baseline build.
constexpr std::size_t kTileRows = 6;
constexpr std::size_t kTileColumns = 16;

typedef float Float8 __attribute__((vector_size(32)));
typedef float UnalignedFloat8 __attribute__((vector_size(32), aligned(4), may_alias));

__attribute__((always_inline)) inline Float8 load8(const float* p) { return *reinterpret_cast<const UnalignedFloat8*>(p); }
__attribute__((always_inline)) inline void store8(float* p, Float8 v) { *reinterpret_cast<UnalignedFloat8*>(p) = v; }

__attribute__((always_inline)) inline void tile(const float* __restrict a, std::size_t k, const float* __restrict b, std::size_t n,
                 const float* __restrict bias, float* __restrict c) {
    Float8 zero = {};
    Float8 start_low = bias ? load8(bias) : zero, start_high = bias ? load8(bias + 8) : zero;
    Float8 low[kTileRows], high[kTileRows];
    for (std::size_t r = 0; r < kTileRows; ++r) {
        low[r] = start_low;
        high[r] = start_high;
    }
    for (std::size_t i = 0; i < k; ++i) {
        Float8 b_low = load8(b + i * n), b_high = load8(b + i * n + 8);
        for (std::size_t r = 0; r < kTileRows; ++r) {
            float a_value = a[r * k + i];
            low[r] += a_value * b_low;
            high[r] += a_value * b_high;
        }
    }
    for (std::size_t r = 0; r < kTileRows; ++r) {
        store8(c + r * n, low[r]);
        store8(c + r * n + 8, high[r]);
    }
}

// One row of c for the columns [begin, end): c_row = bias + a_row b.
__attribute__((always_inline)) inline void row_range(const float* __restrict a_row, std::size_t k, const float* __restrict b, std::size_t n,
                      const float* __restrict bias, float* __restrict c_row, std::size_t begin, std::size_t end) {
    for (std::size_t j = begin; j < end; ++j) c_row[j] = bias ? bias[j] : 0.0f;
    for (std::size_t i = 0; i < k; ++i) {
        float a_value = a_row[i];
        const float* b_row = b + i * n;
        for (std::size_t j = begin; j < end; ++j) c_row[j] += a_value * b_row[j];
    }
}

// Dot product with 16 independent partial sums, which GCC vectorises without reassociating.
__attribute__((always_inline)) inline float dot(const float* __restrict x, const float* __restrict y, std::size_t k) {
    constexpr std::size_t kLanes = 16;
    float partial[kLanes] = {};
    std::size_t i = 0;
    for (; i + kLanes <= k; i += kLanes) {
        for (std::size_t l = 0; l < kLanes; ++l) partial[l] += x[i + l] * y[i + l];
    }
    float sum = 0.0f;
    for (; i < k; ++i) sum += x[i] * y[i];
    for (std::size_t l = 0; l < kLanes; ++l) sum += partial[l];
    return sum;
}

}  // namespace

SCOREKIT_SIMD_CLONES
void matmul(const float* a, std::size_t rows, std::size_t k, const float* b, const float* bt, std::size_t n,
            const float* bias, float* c) {
    if (n < 16) {
        for (std::size_t r = 0; r < rows; ++r) {
            for (std::size_t j = 0; j < n; ++j) c[r * n + j] = (bias ? bias[j] : 0.0f) + dot(a + r * k, bt + j * k, k);
        }
        return;
    }

    std::size_t full_columns = n - n % kTileColumns;
    std::size_t r = 0;
    for (; r + kTileRows <= rows; r += kTileRows) {
        for (std::size_t j = 0; j < full_columns; j += kTileColumns) {
            tile(a + r * k, k, b + j, n, bias ? bias + j : nullptr, c + r * n + j);
        }
        for (std::size_t q = r; q < r + kTileRows && full_columns < n; ++q) {
            row_range(a + q * k, k, b, n, bias, c + q * n, full_columns, n);
        }
    }
    for (; r < rows; ++r) row_range(a + r * k, k, b, n, bias, c + r * n, 0, n);
}

SCOREKIT_SIMD_CLONES
void scale_rows(float* m, std::size_t rows, std::size_t repeats, const float* scale, std::size_t n) {
    for (std::size_t r = 0; r < rows * repeats; ++r) {
        const float* __restrict s = scale + (r / repeats) * n;
        float* __restrict row = m + r * n;
        for (std::size_t j = 0; j < n; ++j) row[j] *= s[j];
    }
}

}  // namespace scorekit
