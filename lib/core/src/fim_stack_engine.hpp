// Per-example gradients of a linear stack by BLAS on plain row-major arrays (private to the core
// layer). Every batch reuses buffers allocated once, and each layer's backward pass is one matrix
// product over all output-space vectors of the batch, so no LibTorch call sits on this path.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
#include <vector>

#include "cblas_functions.hpp"
#include "fim_model.hpp"

namespace scorekit {

// C = A' B' + beta C in row-major storage, with A' and B' transposed as `ta` and `tb` select.
inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m, std::int64_t n, std::int64_t k, const double* a,
                 std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
    cblas().dgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, a,
                static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                 std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
    cblas().sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
                static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// C[:n, :n] (upper triangle) = rows^T rows + beta C for rows [k, n].
inline void syrk(std::int64_t n, std::int64_t k, const double* rows, double beta, double* c, std::int64_t ldc) {
    cblas().dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(n), static_cast<int>(k), 1.0, rows,
                static_cast<int>(n), beta, c, static_cast<int>(ldc));
}

inline void syrk(std::int64_t n, std::int64_t k, const float* rows, float beta, float* c, std::int64_t ldc) {
    cblas().ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(n), static_cast<int>(k), 1.0f, rows,
                static_cast<int>(n), beta, c, static_cast<int>(ldc));
}

// Allocates buffers of 1 MiB and more in whole 2 MiB pages and requests transparent huge pages
// for them with madvise. The first use of a gradient buffer then takes a few page faults instead
// of one per 4 KiB, which saved about 2 ms of the 35 ms of a digits_mlp kfac (bench/fim).
// Smaller buffers come from operator new.
template <typename T>
struct HugePageAllocator {
    using value_type = T;
    static constexpr std::size_t huge_page = std::size_t(1) << 21;
    static constexpr std::size_t threshold = huge_page / 2;

    HugePageAllocator() = default;
    template <typename U>
    HugePageAllocator(const HugePageAllocator<U>&) {}

    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        if (bytes < threshold) return static_cast<T*>(::operator new(bytes));
        const std::size_t rounded = (bytes + huge_page - 1) / huge_page * huge_page;
        void* memory = std::aligned_alloc(huge_page, rounded);
        if (!memory) throw std::bad_alloc();
        madvise(memory, rounded, MADV_HUGEPAGE);  // advice only: a kernel without THP ignores it
        return static_cast<T*>(memory);
    }

    void deallocate(T* p, std::size_t n) {
        if (n * sizeof(T) < threshold) {
            ::operator delete(p);
        } else {
            std::free(p);
        }
    }

    template <typename U>
    bool operator==(const HugePageAllocator<U>&) const { return true; }
    template <typename U>
    bool operator!=(const HugePageAllocator<U>&) const { return false; }
};

template <typename T>
using WorkBuffer = std::vector<T, HugePageAllocator<T>>;

// Forward and backward passes of a stack over one batch at a time, in T = float or double.
template <typename T>
class StackEngine {
public:
    // With `compact`, the gradient of a ReLU layer keeps only the units that some input of the batch
    // activates, because the other units' columns are zero. That shrinks the backward products
    // and the gradient rows, and gradient_columns() lists the units kept.
    StackEngine(const FisherModel::Impl& model, const FisherProblem& problem, bool compact = false);

    // Decides after the forward pass whether a batch needs the backward pass below the last layer.
    using BackwardFilter = std::function<bool(const StackEngine&)>;

    // Runs the forward pass, the estimator's output-space vectors and the backward pass for the
    // rows [first, first + size) of `inputs` (labels: the same rows, or empty). When
    // `needs_backward` returns false, only the last layer's gradient is formed.
    void run(const RowMatrix& inputs, const Labels& labels, std::int64_t first, std::int64_t size,
             const BackwardFilter& needs_backward = {});

    std::size_t layers() const { return weights_.size(); }
    std::int64_t batch() const { return batch_; }
    std::int64_t samples() const { return samples_; }  // output-space vectors R per input
    std::int64_t in(std::size_t layer) const { return widths_[layer]; }
    std::int64_t out(std::size_t layer) const { return widths_[layer + 1]; }
    bool has_bias(std::size_t layer) const { return biases_[layer] != nullptr; }
    const ElementwiseActivation& activation(std::size_t layer) const { return model_.activations[layer]; }
    const T* weight(std::size_t layer) const { return weights_[layer]; }  // [out, in]

    const T* input(std::size_t layer) const { return inputs_[layer]; }           // [B, in]
    const T* pre_activation(std::size_t layer) const { return pre_[layer].data(); }  // [B, out]
    const T* output() const { return inputs_[layers()]; }                        // [B, C]
    // d(e[r, n] . f(x_n)) / d(pre-activation) [R * B, width], row r * B + n, so that the
    // per-example gradient of the weight is gradient[r * B + n] (outer) input[n], and of the bias
    // the row. Column j is unit gradient_columns(layer)[j], or unit j when that is null.
    const T* gradient(std::size_t layer) const { return gradients_[layer].data(); }
    std::int64_t gradient_width(std::size_t layer) const {
        return live_[layer].empty() ? out(layer) : static_cast<std::int64_t>(live_[layer].size());
    }
    const std::int64_t* gradient_columns(std::size_t layer) const {
        return live_[layer].empty() ? nullptr : live_[layer].data();
    }

private:
    void forward();
    void output_space(const Labels& labels, std::int64_t first);
    void backward();
    void find_live_units(std::size_t layer);
    const T* backward_weight(std::size_t layer);

    const FisherModel::Impl& model_;
    const FisherProblem& problem_;
    std::vector<const T*> weights_, biases_;  // [out, in] and [out]; a bias is null when absent
    std::vector<std::vector<T>> converted_;   // float copies of the float64 parameters
    std::vector<std::int64_t> widths_;        // input width, then each layer's output width
    std::int64_t samples_ = 0, batch_ = 0;
    bool compact_ = false;

    std::vector<T> batch_inputs_;              // float copy of the batch (T = float)
    std::vector<const T*> inputs_;             // each layer's input, then the output
    std::vector<WorkBuffer<T>> pre_, activated_;
    std::vector<WorkBuffer<T>> gradients_;
    std::vector<T> derivatives_;                 // f'(pre) of one layer [B, width]
    std::vector<std::vector<std::int64_t>> live_;  // units kept per layer; empty: all
    std::vector<T> weight_block_, live_pre_;       // the kept rows and columns of a weight, of pre
    std::vector<double> outputs64_, vectors64_;  // output-space work in float64
};

// Calls `body` with an engine (compacting as the StackEngine constructor describes) that has run
// each batch of `inputs` in turn, and problem.on_batch after each batch.
template <typename T>
void for_each_stack_batch(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                          const FisherProblem& problem, bool compact,
                          const std::function<void(const StackEngine<T>&)>& body,
                          const typename StackEngine<T>::BackwardFilter& needs_backward = {});

// The diag or kfac representation of a stack, computed on plain arrays in the problem's precision.
FisherMatrix compute_stack_fisher(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                                  const FisherProblem& problem, Representation representation);

// The dense or block representation of a stack (fim_stack_products.cpp).
FisherMatrix compute_stack_blocks(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                                  const FisherProblem& problem, Representation representation,
                                  BlockGrouping grouping);

// F v of a stack, summed over the inputs.
Vector stack_fisher_product(const FisherModel::Impl& model, const Vector& v, const RowMatrix& inputs,
                            const Labels& labels, const FisherProblem& problem);

// sum_n grad_theta log p(y_n | x_n) of a stack; `problem` has the empirical estimator.
Vector stack_log_likelihood_gradient(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                                     const FisherProblem& problem);

}  // namespace scorekit
