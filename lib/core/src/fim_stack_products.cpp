// The dense and block representations, the products F v and the log-likelihood gradient of a
// linear stack, on the per-example gradients of StackEngine and BLAS.
#include <algorithm>
#include <type_traits>

#include "fim_stack_engine.hpp"
#include "scorekit/error.hpp"

namespace scorekit {
namespace {

// For entry j of row i of a layer's [W | b] (j = in for the bias), its index among the layer's
// parameters in theta order: the weight row-major, then the bias.
std::int64_t theta_position(std::int64_t i, std::int64_t j, std::int64_t in, std::int64_t out) {
    return j < in ? i * in + j : out * in + i;
}

// One side of a Kronecker block: the widths of a layer, whether its inputs get a trailing column
// of ones for the bias, and where its entries go in the target.
struct KroneckerSide {
    std::int64_t out = 0, in = 0;
    bool bias = false;
    std::int64_t offset = 0;  // target row or column of the layer's first parameter
    std::int64_t columns() const { return bias ? in + 1 : in; }
};

// Sums over batches of the dense matrix or of the blocks, in T, in theta order.
template <typename T>
class StackBlocks {
public:
    StackBlocks(const FisherModel::Impl& model, Representation representation, BlockGrouping grouping)
        : model_(model), representation_(representation), grouping_(grouping) {
        const std::int64_t total = parameter_count(model.parameters);
        if (representation == Representation::dense) {
            dense_.assign(static_cast<std::size_t>(total * total), T(0));
            return;
        }
        ranges_ = block_ranges(model.parameters, grouping);
        for (const auto& range : ranges_) blocks_.emplace_back(static_cast<std::size_t>(range.size * range.size), T(0));
    }

    void add(const StackEngine<T>& engine) {
        if (representation_ == Representation::dense) {
            add_dense(engine);
        } else {
            add_blocks(engine);
        }
    }

    FisherMatrix finish(std::int64_t inputs, Reduction reduction) const;

private:
    KroneckerSide side(const StackEngine<T>& engine, std::size_t layer, bool bias, std::int64_t offset) const {
        return {engine.out(layer), engine.in(layer), bias, offset};
    }

    // F over all pairs of layers; the block of layers (l, m) and its transpose.
    void add_dense(const StackEngine<T>& engine) {
        const std::int64_t total = parameter_count(model_.parameters);
        std::int64_t row = 0;
        for (std::size_t l = 0; l < engine.layers(); ++l) {
            const KroneckerSide left = side(engine, l, engine.has_bias(l), row);
            std::int64_t column = row;
            for (std::size_t m = l; m < engine.layers(); ++m) {
                const KroneckerSide right = side(engine, m, engine.has_bias(m), column);
                add_kronecker(engine, l, left, m, right, dense_.data(), total, /*mirror=*/m != l);
                column += right.out * right.columns();
            }
            row += left.out * left.columns();
        }
    }

    // One block per layer ([W | b]) or per tensor (W, then b).
    void add_blocks(const StackEngine<T>& engine) {
        std::size_t block = 0;
        for (std::size_t layer = 0; layer < engine.layers(); ++layer) {
            const std::int64_t out = engine.out(layer);
            if (grouping_ == BlockGrouping::layer) {
                const KroneckerSide whole = side(engine, layer, engine.has_bias(layer), 0);
                add_kronecker(engine, layer, whole, layer, whole, blocks_[block++].data(), out * whole.columns(), false);
                continue;
            }
            const KroneckerSide weight = side(engine, layer, false, 0);
            add_kronecker(engine, layer, weight, layer, weight, blocks_[block++].data(), out * engine.in(layer), false);
            if (!engine.has_bias(layer)) continue;
            // The bias block is sum_r,n g g^T.
            gemm(CblasTrans, CblasNoTrans, out, out, engine.samples() * engine.batch(), engine.gradient(layer), out,
                 engine.gradient(layer), out, T(1), blocks_[block++].data(), out);
        }
    }

    // The block of F between the [W | b] entries of two layers, summed over a batch:
    //   F[(i, j), (k, q)] = sum_n M_n[i, k] a_n[j] b_n[q],   M_n = sum_r g[r, n, i] h[r, n, k],
    // computed as one product over the batch, [out_g * out_h, B] x [B, in_a * in_b]. This costs
    // 2 B P_l P_m instead of the 2 R B P_l P_m of summing outer products of per-example gradients.
    // With `mirror` the transpose goes into the target too (an off-diagonal block of dense F).
    void add_kronecker(const StackEngine<T>& engine, std::size_t l, const KroneckerSide& left, std::size_t m,
                       const KroneckerSide& right, T* target, std::int64_t ld, bool mirror) {
        const std::int64_t batch = engine.batch(), samples = engine.samples();
        const std::int64_t outputs = left.out * right.out, columns = left.columns() * right.columns();
        const T* g = engine.gradient(l);
        const T* h = engine.gradient(m);
        output_products_.resize(static_cast<std::size_t>(batch * outputs));
        for (std::int64_t n = 0; n < batch; ++n) {
            gemm(CblasTrans, CblasNoTrans, left.out, right.out, samples, g + n * left.out, batch * left.out,
                 h + n * right.out, batch * right.out, T(0), output_products_.data() + n * outputs, right.out);
        }
        input_products_.resize(static_cast<std::size_t>(batch * columns));
        const T* a = engine.input(l);
        const T* b = engine.input(m);
        for (std::int64_t n = 0; n < batch; ++n) {
            T* row = input_products_.data() + n * columns;
            for (std::int64_t j = 0; j < left.columns(); ++j) {
                const T aj = j < left.in ? a[n * left.in + j] : T(1);
                for (std::int64_t q = 0; q < right.columns(); ++q) {
                    row[j * right.columns() + q] = aj * (q < right.in ? b[n * right.in + q] : T(1));
                }
            }
        }
        product_.resize(static_cast<std::size_t>(outputs * columns));
        gemm(CblasTrans, CblasNoTrans, outputs, columns, batch, output_products_.data(), outputs,
             input_products_.data(), columns, T(0), product_.data(), columns);
        scatter(left, right, target, ld, mirror);
    }

    // target[left position (i, j), right position (k, q)] += product[(i, k), (j, q)].
    void scatter(const KroneckerSide& left, const KroneckerSide& right, T* target, std::int64_t ld, bool mirror) {
        const std::int64_t columns = left.columns() * right.columns();
        for (std::int64_t i = 0; i < left.out; ++i) {
            for (std::int64_t k = 0; k < right.out; ++k) {
                const T* source = product_.data() + (i * right.out + k) * columns;
                for (std::int64_t j = 0; j < left.columns(); ++j) {
                    const std::int64_t row = left.offset + theta_position(i, j, left.in, left.out);
                    for (std::int64_t q = 0; q < right.columns(); ++q) {
                        const std::int64_t column = right.offset + theta_position(k, q, right.in, right.out);
                        const T value = source[j * right.columns() + q];
                        target[row * ld + column] += value;
                        if (mirror) target[column * ld + row] += value;
                    }
                }
            }
        }
    }

    const FisherModel::Impl& model_;
    Representation representation_;
    BlockGrouping grouping_;
    std::vector<T> dense_;
    std::vector<BlockRange> ranges_;
    std::vector<std::vector<T>> blocks_;
    std::vector<T> output_products_, input_products_, product_;
};

// scale * m as a float64 matrix [n, n].
template <typename T>
RowMatrix scaled_matrix(const std::vector<T>& m, std::int64_t n, double scale) {
    using Stored = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    return Eigen::Map<const Stored>(m.data(), n, n).template cast<double>() * scale;
}

template <typename T>
FisherMatrix StackBlocks<T>::finish(std::int64_t inputs, Reduction reduction) const {
    FisherMatrix fisher;
    fisher.representation = representation_;
    fisher.parameters = model_.parameters;
    const double scale = reduction == Reduction::mean ? 1.0 / static_cast<double>(inputs) : 1.0;
    if (representation_ == Representation::dense) {
        fisher.dense = scaled_matrix(dense_, parameter_count(model_.parameters), scale);
    }
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
        fisher.blocks.push_back({ranges_[k].name, ranges_[k].offset, ranges_[k].size,
                                 scaled_matrix(blocks_[k], ranges_[k].size, scale)});
    }
    return fisher;
}

template <typename T>
FisherMatrix stack_blocks(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                          const FisherProblem& problem, Representation representation, BlockGrouping grouping) {
    StackBlocks<T> blocks(model, representation, grouping);
    for_each_stack_batch<T>(model, inputs, labels, problem, /*compact=*/false,
                            [&](const StackEngine<T>& engine) { blocks.add(engine); });
    return blocks.finish(inputs.rows(), problem.reduction);
}

// F v = sum_{r, n} psi[r, n] (psi[r, n] . v) layer by layer, with psi[r, n] the per-example
// gradient: u[r, n] = sum_l g_l[r, n] . (V_l a_l[n] + v_b), then each layer's share of F v is
// w^T a with w[n] = sum_r g_l[r, n] u[r, n], and its bias share the column sums of w.
template <typename T>
Vector stack_product(const FisherModel::Impl& model, const Vector& v, const RowMatrix& inputs, const Labels& labels,
                     const FisherProblem& problem) {
    const std::vector<T> vt(v.data(), v.data() + v.size());
    std::vector<T> result(vt.size(), T(0)), projected, weights, u;
    for_each_stack_batch<T>(model, inputs, labels, problem, /*compact=*/false, [&](const StackEngine<T>& engine) {
        const std::int64_t batch = engine.batch(), rows = engine.samples() * batch;
        u.assign(static_cast<std::size_t>(rows), T(0));
        std::int64_t offset = 0;
        for (std::size_t layer = 0; layer < engine.layers(); ++layer) {
            const std::int64_t in = engine.in(layer), out = engine.out(layer);
            projected.assign(static_cast<std::size_t>(batch * out), T(0));
            if (engine.has_bias(layer)) {
                for (std::int64_t n = 0; n < batch; ++n) std::copy_n(vt.data() + offset + out * in, out, projected.data() + n * out);
            }
            gemm(CblasNoTrans, CblasTrans, batch, out, in, engine.input(layer), in, vt.data() + offset, in, T(1),
                 projected.data(), out);
            const T* g = engine.gradient(layer);
            for (std::int64_t row = 0; row < rows; ++row) {
                const T* z = projected.data() + (row % batch) * out;
                T sum = 0;
                for (std::int64_t i = 0; i < out; ++i) sum += g[row * out + i] * z[i];
                u[row] += sum;
            }
            offset += engine.has_bias(layer) ? out * (in + 1) : out * in;
        }
        offset = 0;
        for (std::size_t layer = 0; layer < engine.layers(); ++layer) {
            const std::int64_t in = engine.in(layer), out = engine.out(layer);
            const T* g = engine.gradient(layer);
            weights.assign(static_cast<std::size_t>(batch * out), T(0));
            for (std::int64_t row = 0; row < rows; ++row) {
                T* w = weights.data() + (row % batch) * out;
                for (std::int64_t i = 0; i < out; ++i) w[i] += g[row * out + i] * u[row];
            }
            gemm(CblasTrans, CblasNoTrans, out, in, batch, weights.data(), out, engine.input(layer), in, T(1),
                 result.data() + offset, in);
            offset += out * in;
            if (!engine.has_bias(layer)) continue;
            for (std::int64_t n = 0; n < batch; ++n) {
                for (std::int64_t i = 0; i < out; ++i) result[offset + i] += weights[n * out + i];
            }
            offset += out;
        }
    });
    return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(result.data(), v.size()).template cast<double>();
}

// sum_n g[n] (outer) a[n] per layer, and the column sums of g for the bias.
template <typename T>
Vector stack_gradient(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                      const FisherProblem& problem) {
    std::vector<T> total(static_cast<std::size_t>(parameter_count(model.parameters)), T(0));
    for_each_stack_batch<T>(model, inputs, labels, problem, /*compact=*/false, [&](const StackEngine<T>& engine) {
        const std::int64_t rows = engine.samples() * engine.batch();
        std::int64_t offset = 0;
        for (std::size_t layer = 0; layer < engine.layers(); ++layer) {
            const std::int64_t in = engine.in(layer), out = engine.out(layer);
            const T* g = engine.gradient(layer);
            gemm(CblasTrans, CblasNoTrans, out, in, rows, g, out, engine.input(layer), in, T(1), total.data() + offset, in);
            offset += out * in;
            if (!engine.has_bias(layer)) continue;
            for (std::int64_t row = 0; row < rows; ++row) {
                for (std::int64_t i = 0; i < out; ++i) total[offset + i] += g[row * out + i];
            }
            offset += out;
        }
    });
    return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(total.data(), total.size()).template cast<double>();
}

}  // namespace

FisherMatrix compute_stack_blocks(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                                  const FisherProblem& problem, Representation representation,
                                  BlockGrouping grouping) {
    if (representation != Representation::dense && representation != Representation::block) {
        throw Error(describe("cannot compute", to_string(representation),
                             "compute_stack_blocks computes dense and block", "use compute_fisher"));
    }
    return problem.single_precision ? stack_blocks<float>(model, inputs, labels, problem, representation, grouping)
                                    : stack_blocks<double>(model, inputs, labels, problem, representation, grouping);
}

Vector stack_fisher_product(const FisherModel::Impl& model, const Vector& v, const RowMatrix& inputs,
                            const Labels& labels, const FisherProblem& problem) {
    return problem.single_precision ? stack_product<float>(model, v, inputs, labels, problem)
                                    : stack_product<double>(model, v, inputs, labels, problem);
}

Vector stack_log_likelihood_gradient(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                                     const FisherProblem& problem) {
    return problem.single_precision ? stack_gradient<float>(model, inputs, labels, problem)
                                    : stack_gradient<double>(model, inputs, labels, problem);
}

}  // namespace scorekit
