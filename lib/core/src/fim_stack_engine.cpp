// The linear-stack engine and the diag and kfac representations built on it.
#include "fim_stack_engine.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "fim_likelihood.hpp"
#include "scorekit/error.hpp"

namespace scorekit {
namespace {

// g[r * B + n, i] *= f'(pre[n, i]) for every r < samples. ReLU zeroes entries without a product.
template <typename T>
void multiply_by_derivative(const ElementwiseActivation& activation, const T* pre, std::int64_t batch,
                            std::int64_t width, std::int64_t samples, T* g, std::vector<T>& scratch) {
    const std::int64_t count = batch * width;
    if (activation.kind == ElementwiseActivation::Kind::identity) return;
    if (activation.kind == ElementwiseActivation::Kind::relu) {
        for (std::int64_t r = 0; r < samples; ++r) {
            T* block = g + r * count;
            for (std::int64_t i = 0; i < count; ++i) block[i] = pre[i] > 0 ? block[i] : T(0);
        }
        return;
    }
    scratch.resize(count);
    for (std::int64_t i = 0; i < count; ++i) scratch[i] = derivative(activation, pre[i]);
    for (std::int64_t r = 0; r < samples; ++r) {
        T* block = g + r * count;
        for (std::int64_t i = 0; i < count; ++i) block[i] *= scratch[i];
    }
}

template <typename T>
const T* parameter_data(const double* values, std::int64_t count, std::vector<std::vector<T>>& storage) {
    if constexpr (std::is_same<T, double>::value) {
        return values;
    } else {
        storage.emplace_back(values, values + count);
        return storage.back().data();
    }
}

}  // namespace

template <typename T>
StackEngine<T>::StackEngine(const FisherModel::Impl& model, const FisherProblem& problem, bool compact)
    : model_(model), problem_(problem), compact_(compact) {
    converted_.reserve(2 * model.weights.size());
    widths_.push_back(model.weights.front().cols());
    for (size_t layer = 0; layer < model.weights.size(); ++layer) {
        const RowMatrix& weight = model.weights[layer];
        const Vector& bias = model.biases[layer];
        widths_.push_back(weight.rows());
        weights_.push_back(parameter_data<T>(weight.data(), weight.size(), converted_));
        biases_.push_back(model.has_bias(layer) ? parameter_data<T>(bias.data(), bias.size(), converted_) : nullptr);
    }
    samples_ = vectors_per_input(problem, widths_.back());
    inputs_.resize(layers() + 1);
    pre_.resize(layers());
    activated_.resize(layers());
    gradients_.resize(layers());
    live_.resize(layers());
}

template <typename T>
void StackEngine<T>::run(const RowMatrix& inputs, const Labels& labels, std::int64_t first, std::int64_t size,
                         const BackwardFilter& needs_backward) {
    batch_ = size;
    for (size_t layer = 0; layer < layers(); ++layer) {
        const std::size_t entries = static_cast<std::size_t>(size * out(layer));
        if (pre_[layer].size() < entries) pre_[layer].resize(entries);
        if (gradients_[layer].size() < samples_ * entries) gradients_[layer].resize(samples_ * entries);
    }
    const double* rows = inputs.data() + first * inputs.cols();
    if constexpr (std::is_same<T, double>::value) {
        inputs_[0] = rows;
    } else {
        batch_inputs_.assign(rows, rows + size * inputs.cols());
        inputs_[0] = batch_inputs_.data();
    }
    forward();
    output_space(labels, first);
    if (!needs_backward || needs_backward(*this)) backward();
}

template <typename T>
void StackEngine<T>::forward() {
    for (size_t layer = 0; layer < layers(); ++layer) {
        const std::int64_t in_width = in(layer), out_width = out(layer);
        T* pre = pre_[layer].data();
        if (has_bias(layer)) {
            for (std::int64_t n = 0; n < batch_; ++n) std::copy_n(biases_[layer], out_width, pre + n * out_width);
        }
        gemm(CblasNoTrans, CblasTrans, batch_, out_width, in_width, inputs_[layer], in_width, weights_[layer], in_width,
             has_bias(layer) ? T(1) : T(0), pre, out_width);
        const ElementwiseActivation& f = activation(layer);
        find_live_units(layer);
        if (f.kind == ElementwiseActivation::Kind::identity) {
            inputs_[layer + 1] = pre;
            continue;
        }
        WorkBuffer<T>& activated = activated_[layer];
        const std::int64_t count = batch_ * out_width;
        activated.resize(static_cast<std::size_t>(count));
        if (f.kind == ElementwiseActivation::Kind::relu) {
            for (std::int64_t i = 0; i < count; ++i) activated[i] = pre[i] > 0 ? pre[i] : T(0);
        } else {
            for (std::int64_t i = 0; i < count; ++i) activated[i] = activate(f, pre[i]);
        }
        inputs_[layer + 1] = activated.data();
    }
}

template <typename T>
void StackEngine<T>::output_space(const Labels& labels, std::int64_t first) {
    const std::int64_t outputs = widths_.back(), count = samples_ * batch_ * outputs;
    const double* f = nullptr;
    double* e = nullptr;
    if constexpr (std::is_same<T, double>::value) {
        f = output();
        e = gradients_.back().data();
    } else {
        outputs64_.assign(output(), output() + batch_ * outputs);
        vectors64_.resize(count);
        f = outputs64_.data();
        e = vectors64_.data();
    }
    const double* label_rows = labels.size() ? labels.data() + first * labels.cols() : nullptr;
    output_vectors(f, batch_, outputs, label_rows, problem_, static_cast<std::uint64_t>(first), e);
    if constexpr (!std::is_same<T, double>::value) std::copy_n(e, count, gradients_.back().data());
    multiply_by_derivative(activation(layers() - 1), pre_.back().data(), batch_, outputs, samples_,
                           gradients_.back().data(), derivatives_);
}

// Keeps the ReLU units of a hidden layer that some input of the batch activates, because the
// gradient column of any other unit is zero for the whole batch.
template <typename T>
void StackEngine<T>::find_live_units(std::size_t layer) {
    std::vector<std::int64_t>& live = live_[layer];
    live.clear();
    if (!compact_ || layer + 1 == layers() || activation(layer).kind != ElementwiseActivation::Kind::relu) return;
    const std::int64_t width = out(layer);
    const T* pre = pre_[layer].data();
    derivatives_.assign(static_cast<std::size_t>(width), T(0));
    T* largest = derivatives_.data();
    for (std::int64_t n = 0; n < batch_; ++n) {
        for (std::int64_t j = 0; j < width; ++j) largest[j] = std::max(largest[j], pre[n * width + j]);
    }
    for (std::int64_t j = 0; j < width; ++j) {
        if (largest[j] > 0) live.push_back(j);
    }
    if (static_cast<std::int64_t>(live.size()) == width) live.clear();
}

// Layer `layer`'s weight restricted to the kept units of its output (rows) and of the layer
// below (columns), [gradient_width(layer), gradient_width(layer - 1)].
template <typename T>
const T* StackEngine<T>::backward_weight(std::size_t layer) {
    const std::int64_t* rows = gradient_columns(layer);
    const std::int64_t* columns = gradient_columns(layer - 1);
    if (!rows && !columns) return weights_[layer];
    const std::int64_t height = gradient_width(layer), width = gradient_width(layer - 1), in_width = in(layer);
    weight_block_.resize(static_cast<std::size_t>(height * width));
    for (std::int64_t i = 0; i < height; ++i) {
        const T* row = weights_[layer] + (rows ? rows[i] : i) * in_width;
        for (std::int64_t j = 0; j < width; ++j) weight_block_[i * width + j] = row[columns ? columns[j] : j];
    }
    return weight_block_.data();
}

template <typename T>
void StackEngine<T>::backward() {
    for (size_t layer = layers() - 1; layer > 0; --layer) {
        // The gradient below layer `layer` for all R * B rows in one product with its weight.
        const std::int64_t rows = samples_ * batch_, height = gradient_width(layer), width = gradient_width(layer - 1);
        const std::size_t entries = static_cast<std::size_t>(rows * width);
        if (gradients_[layer - 1].size() < entries) gradients_[layer - 1].resize(entries);
        T* below = gradients_[layer - 1].data();
        const T* weight = backward_weight(layer);
        gemm(CblasNoTrans, CblasNoTrans, rows, width, height, gradients_[layer].data(), height, weight, width, T(0), below,
             width);

        const T* pre = pre_[layer - 1].data();
        if (const std::int64_t* columns = gradient_columns(layer - 1)) {
            live_pre_.resize(static_cast<std::size_t>(batch_ * width));
            for (std::int64_t n = 0; n < batch_; ++n) {
                for (std::int64_t j = 0; j < width; ++j) live_pre_[n * width + j] = pre[n * in(layer) + columns[j]];
            }
            pre = live_pre_.data();
        }
        multiply_by_derivative(activation(layer - 1), pre, batch_, width, samples_, below, derivatives_);
    }
}

template class StackEngine<float>;
template class StackEngine<double>;

template <typename T>
void for_each_stack_batch(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                          const FisherProblem& problem, bool compact,
                          const std::function<void(const StackEngine<T>&)>& body,
                          const typename StackEngine<T>::BackwardFilter& needs_backward) {
    check_input_width(model, inputs);
    StackEngine<T> engine(model, problem, compact);
    const std::int64_t rows = inputs.rows(), step = std::max(1, problem.batch_size);
    for (std::int64_t first = 0; first < rows; first += step) {
        engine.run(inputs, labels, first, std::min(step, rows - first), needs_backward);
        body(engine);
        if (problem.on_batch) problem.on_batch(first + engine.batch(), rows);
    }
}

template void for_each_stack_batch<float>(const FisherModel::Impl&, const RowMatrix&, const Labels&,
                                          const FisherProblem&, bool,
                                          const std::function<void(const StackEngine<float>&)>&,
                                          const StackEngine<float>::BackwardFilter&);
template void for_each_stack_batch<double>(const FisherModel::Impl&, const RowMatrix&, const Labels&,
                                           const FisherProblem&, bool,
                                           const std::function<void(const StackEngine<double>&)>&,
                                           const StackEngine<double>::BackwardFilter&);

namespace {

// target[:n, :n] += rows^T rows on the upper triangle, for rows [k, n] and a target with leading
// dimension ld. With `columns`, column j of the rows is column columns[j] of the target, and the
// target's other columns receive zeros. The product then goes through `product` first.
template <typename T>
void add_upper_gram(T* target, std::int64_t ld, const T* rows, std::int64_t k, std::int64_t n,
                    const std::int64_t* columns, std::vector<T>& product) {
    if (k == 0 || n == 0) return;
    if (!columns) {
        syrk(n, k, rows, T(1), target, ld);
        return;
    }
    product.resize(static_cast<std::size_t>(n * n));
    syrk(n, k, rows, T(0), product.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
        T* target_row = target + columns[i] * ld;
        const T* product_row = product.data() + i * n;
        for (std::int64_t j = i; j < n; ++j) target_row[columns[j]] += product_row[j];
    }
}

// The symmetric float64 matrix whose upper triangle `upper` [n, n] contains, times `scale`.
template <typename T>
RowMatrix symmetric_from_upper(const std::vector<T>& upper, std::int64_t n, double scale) {
    using Stored = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    RowMatrix result = Eigen::Map<const Stored>(upper.data(), n, n).template cast<double>() * scale;
    result.triangularView<Eigen::StrictlyLower>() = result.transpose();
    return result;
}

// Sum over batches of the diagonal of F.
template <typename T>
class StackDiagonal {
public:
    explicit StackDiagonal(std::int64_t parameters) : diagonal_(static_cast<std::size_t>(parameters), T(0)) {}

    // Per layer, sum_r g^2 per input [B, out], then sum_n g^2 (outer) a^2 in one product.
    void add(const StackEngine<T>& engine) {
        const std::int64_t batch = engine.batch(), samples = engine.samples();
        std::int64_t offset = 0;
        for (size_t layer = 0; layer < engine.layers(); ++layer) {
            const std::int64_t in = engine.in(layer), out = engine.out(layer), count = batch * out;
            const T* g = engine.gradient(layer);
            squared_gradients_.assign(g, g + count);
            for (std::int64_t i = 0; i < count; ++i) squared_gradients_[i] *= squared_gradients_[i];
            for (std::int64_t r = 1; r < samples; ++r) {
                const T* block = g + r * count;
                for (std::int64_t i = 0; i < count; ++i) squared_gradients_[i] += block[i] * block[i];
            }
            const T* a = engine.input(layer);
            squared_inputs_.resize(static_cast<std::size_t>(batch * in));
            for (std::int64_t i = 0; i < batch * in; ++i) squared_inputs_[i] = a[i] * a[i];
            gemm(CblasTrans, CblasNoTrans, out, in, batch, squared_gradients_.data(), out, squared_inputs_.data(), in,
                 T(1), diagonal_.data() + offset, in);
            offset += out * in;
            if (!engine.has_bias(layer)) continue;
            T* bias = diagonal_.data() + offset;
            for (std::int64_t n = 0; n < batch; ++n) {
                for (std::int64_t i = 0; i < out; ++i) bias[i] += squared_gradients_[n * out + i];
            }
            offset += out;
        }
    }

    Vector finish(double scale) const {
        Vector result(static_cast<Eigen::Index>(diagonal_.size()));
        for (size_t i = 0; i < diagonal_.size(); ++i) result(static_cast<Eigen::Index>(i)) = scale * diagonal_[i];
        return result;
    }

private:
    std::vector<T> diagonal_, squared_gradients_, squared_inputs_;
};

// Sums over batches of the Kronecker factors A = sum a~ a~^T (a~ = [a, 1] for a layer with bias)
// and G = sum_r g g^T per layer. Only upper triangles are accumulated; finish() mirrors them.
template <typename T>
class StackKfac {
public:
    StackKfac(const FisherModel::Impl& model, const FisherProblem& problem) : model_(model), problem_(problem) {}

    void add(const StackEngine<T>& engine) {
        if (input_factors_.empty()) allocate(engine);
        const std::int64_t batch = engine.batch();
        for (size_t layer = 0; layer < engine.layers(); ++layer) {
            // A from a^T a and the column sums of a (finish() adds the count), without copying a
            // into a~.
            const std::int64_t in = engine.in(layer), out = engine.out(layer);
            add_input_gram(engine, layer, input_factors_[layer].data(), columns_[layer]);
            if (engine.has_bias(layer)) {
                const T* a = engine.input(layer);
                double* sums = input_sums_[layer].data();
                for (std::int64_t n = 0; n < batch; ++n) {
                    for (std::int64_t i = 0; i < in; ++i) sums[i] += a[n * in + i];
                }
            }
            if (layer + 1 == engine.layers() && problem_.estimator.kind == EstimatorSpec::Kind::exact) {
                add_output_gradient_factor(engine);
            } else if (layer + 2 == engine.layers() && use_masked_form(engine)) {
                add_masked_gradient_factor(engine);
            } else {
                add_upper_gram(gradient_factors_[layer].data(), out, engine.gradient(layer), engine.samples() * batch,
                               engine.gradient_width(layer), engine.gradient_columns(layer), product_);
            }
        }
    }

    std::vector<KfacFactors> finish(std::int64_t inputs, double scale) const;

    // Whether G of the layer below the last comes from the masked form (add_masked_gradient_factor)
    // in this batch: when that layer is a ReLU and the form takes fewer operations than the
    // rank-k update of its gradient rows. A stack of two layers then needs no backward
    // pass below the last layer.
    bool use_masked_form(const StackEngine<T>& engine) const {
        if (engine.layers() < 2) return false;
        const std::size_t layer = engine.layers() - 2;
        if (engine.activation(layer).kind != ElementwiseActivation::Kind::relu) return false;
        const double h = static_cast<double>(engine.gradient_width(layer)), c = static_cast<double>(engine.out(layer + 1));
        const double rows = static_cast<double>(engine.samples() * engine.batch());
        const double inactive = static_cast<double>(count_inactive(engine, layer));
        // Multiply-adds of each way. The masked form's plain loops form the output-space
        // covariances, their products with the inactive units' weight columns and the pairs of
        // inactive units (about inactive^2 / batch per input). Those loops ran about 12 times
        // slower per multiply-add than BLAS: 6 ms for bench/fim's digits, 58 ms for wide_mlp's
        // random weights, where half the units are inactive and the rank-k update wins. The two
        // products with all kept units run in BLAS.
        double direct = 0.5 * rows * h * h;
        if (engine.layers() == 2) direct += rows * h * c;  // the backward product it saves
        const double pairs = inactive * inactive / static_cast<double>(engine.batch());
        const double loops = rows * c * c + inactive * c * c + 0.5 * pairs * c;
        return 12 * loops + h * c * c + h * h * c < direct;
    }

private:
    // Inactive (pre-activation <= 0) entries of the kept units of `layer` over the batch.
    static std::int64_t count_inactive(const StackEngine<T>& engine, std::size_t layer) {
        const std::int64_t width = engine.out(layer), kept = engine.gradient_width(layer);
        const std::int64_t* columns = engine.gradient_columns(layer);
        const T* pre = engine.pre_activation(layer);
        std::int64_t count = 0;
        for (std::int64_t n = 0; n < engine.batch(); ++n) {
            for (std::int64_t j = 0; j < kept; ++j) count += pre[n * width + (columns ? columns[j] : j)] <= 0;
        }
        return count;
    }

    // Adds G of the layer below the last, sum_n D_n U Lambda_n U^T D_n, without its gradient rows.
    // U [h, C] is the kept units' columns of the last weight. Lambda_n = sum_r e e^T is the
    // output-space covariance of input n (e: the last layer's gradient rows). D_n = I - E_n is the
    // ReLU's derivative, with E_n marking the units inactive for input n. Expanding
    // D M D = M - (E M + M E) + E M E leaves
    //   U S U^T - (Y U^T + U Y^T) + T,  S = sum_n Lambda_n,
    //   Y_j = sum over inputs with j inactive of Lambda_n U_j,
    //   T_jk = sum over inputs with j and k inactive of U_j^T Lambda_n U_k.
    // Only units inactive for an input cost per input, and most units of a ReLU layer are active,
    // so this takes a small fraction of the rank-k update's work. It runs in float64 for both
    // precisions. The subtraction cancels for units that few inputs activate, at a cost in relative
    // precision of at most the batch size times float64's. Leaky ReLU is left to the rank-k
    // update, because for its never-active units the same expansion cancels down to slope^2.
    void add_masked_gradient_factor(const StackEngine<T>& engine) {
        const std::size_t top = engine.layers() - 1, layer = top - 1;
        const std::int64_t c_out = engine.out(top), width = engine.out(layer), h = engine.gradient_width(layer);
        const std::int64_t batch = engine.batch(), samples = engine.samples();
        const std::int64_t* columns = engine.gradient_columns(layer);

        const T* w = engine.weight(top);
        unit_columns_.resize(static_cast<std::size_t>(h * c_out));
        for (std::int64_t j = 0; j < h; ++j) {
            const std::int64_t unit = columns ? columns[j] : j;
            for (std::int64_t k = 0; k < c_out; ++k) unit_columns_[j * c_out + k] = w[k * width + unit];
        }
        covariance_sum_.assign(static_cast<std::size_t>(c_out * c_out), 0.0);
        inactive_products_.assign(static_cast<std::size_t>(h * c_out), 0.0);
        pair_terms_.assign(static_cast<std::size_t>(h * h), 0.0);
        covariance_.resize(static_cast<std::size_t>(c_out * c_out));

        const T* e = engine.gradient(top);
        const T* pre = engine.pre_activation(layer);
        for (std::int64_t n = 0; n < batch; ++n) {
            std::fill(covariance_.begin(), covariance_.end(), 0.0);
            for (std::int64_t r = 0; r < samples; ++r) {
                const T* row = e + (r * batch + n) * c_out;
                for (std::int64_t a = 0; a < c_out; ++a) {
                    for (std::int64_t b = 0; b < c_out; ++b) covariance_[a * c_out + b] += double(row[a]) * double(row[b]);
                }
            }
            for (std::size_t i = 0; i < covariance_.size(); ++i) covariance_sum_[i] += covariance_[i];

            inactive_.clear();
            for (std::int64_t j = 0; j < h; ++j) {
                if (pre[n * width + (columns ? columns[j] : j)] <= 0) inactive_.push_back(j);
            }
            const std::size_t count = inactive_.size();
            weighted_.resize(count * static_cast<std::size_t>(c_out));
            for (std::size_t a = 0; a < count; ++a) {
                const double* u = unit_columns_.data() + inactive_[a] * c_out;
                double* lu = weighted_.data() + a * c_out;
                double* y = inactive_products_.data() + inactive_[a] * c_out;
                for (std::int64_t k = 0; k < c_out; ++k) {
                    double sum = 0;
                    for (std::int64_t l = 0; l < c_out; ++l) sum += covariance_[k * c_out + l] * u[l];
                    lu[k] = sum;
                    y[k] += sum;
                }
            }
            for (std::size_t a = 0; a < count; ++a) {
                const double* u = unit_columns_.data() + inactive_[a] * c_out;
                double* pair_row = pair_terms_.data() + inactive_[a] * h;
                for (std::size_t b = a; b < count; ++b) {
                    const double* lu = weighted_.data() + b * c_out;
                    double sum = 0;
                    for (std::int64_t k = 0; k < c_out; ++k) sum += u[k] * lu[k];
                    pair_row[inactive_[b]] += sum;
                }
            }
        }

        // K = U S / 2 - Y, so that K U^T + U K^T = U S U^T - (Y U^T + U Y^T).
        half_form_.resize(static_cast<std::size_t>(h * c_out));
        for (std::int64_t j = 0; j < h; ++j) {
            const double* u = unit_columns_.data() + j * c_out;
            for (std::int64_t k = 0; k < c_out; ++k) {
                double sum = 0;
                for (std::int64_t l = 0; l < c_out; ++l) sum += u[l] * covariance_sum_[l * c_out + k];
                half_form_[j * c_out + k] = 0.5 * sum - inactive_products_[j * c_out + k];
            }
        }
        cblas().dsyr2k(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(h), static_cast<int>(c_out), 1.0,
                     half_form_.data(), static_cast<int>(c_out), unit_columns_.data(), static_cast<int>(c_out), 1.0,
                     pair_terms_.data(), static_cast<int>(h));

        T* target = gradient_factors_[layer].data();
        for (std::int64_t i = 0; i < h; ++i) {
            T* target_row = target + (columns ? columns[i] : i) * width;
            const double* row = pair_terms_.data() + i * h;
            for (std::int64_t j = i; j < h; ++j) target_row[columns ? columns[j] : j] += static_cast<T>(row[j]);
        }
    }

    void allocate(const StackEngine<T>& engine) {
        for (size_t layer = 0; layer < engine.layers(); ++layer) {
            const std::int64_t columns = engine.has_bias(layer) ? engine.in(layer) + 1 : engine.in(layer);
            columns_.push_back(columns);
            input_factors_.emplace_back(static_cast<std::size_t>(columns * columns), T(0));
            input_sums_.emplace_back(static_cast<std::size_t>(engine.in(layer)), 0.0);
            gradient_factors_.emplace_back(static_cast<std::size_t>(engine.out(layer) * engine.out(layer)), T(0));
        }
        output_factor_.assign(gradient_factors_.back().size(), 0.0);
    }

    // Adds a^T a of a layer's inputs. The inputs of the layer above a compacted ReLU layer are zero
    // in the columns of the units left out, so only the kept columns enter the product.
    void add_input_gram(const StackEngine<T>& engine, size_t layer, T* factor, std::int64_t ld) {
        const std::int64_t batch = engine.batch(), in = engine.in(layer);
        const std::int64_t* columns = layer > 0 ? engine.gradient_columns(layer - 1) : nullptr;
        if (!columns) {
            add_upper_gram(factor, ld, engine.input(layer), batch, in, nullptr, product_);
            return;
        }
        const std::int64_t width = engine.gradient_width(layer - 1);
        packed_.resize(static_cast<std::size_t>(batch * width));
        const T* a = engine.input(layer);
        for (std::int64_t n = 0; n < batch; ++n) {
            for (std::int64_t j = 0; j < width; ++j) packed_[n * width + j] = a[n * in + columns[j]];
        }
        add_upper_gram(factor, ld, packed_.data(), batch, width, columns, product_);
    }

    // G of the last layer for the exact estimator in closed form, sum_n D_n Lambda_n D_n with D_n
    // the derivative of its activation, from the outputs alone (no output-space factors). It is
    // formed in float64 also for --single, because diag(p) - p p^T cancels for confident p.
    void add_output_gradient_factor(const StackEngine<T>& engine) {
        const std::int64_t outputs = engine.out(engine.layers() - 1);
        const ElementwiseActivation& f = engine.activation(engine.layers() - 1);
        const T* pre = engine.pre_activation(engine.layers() - 1);
        const T* output = engine.output();
        std::vector<double> d(outputs), q(outputs), logits(outputs);
        double* factor = output_factor_.data();
        for (std::int64_t n = 0; n < engine.batch(); ++n) {
            for (std::int64_t c = 0; c < outputs; ++c) d[c] = derivative(f, static_cast<double>(pre[n * outputs + c]));
            switch (problem_.likelihood) {
                case Likelihood::categorical: {
                    // D (diag(p) - p p^T) D. The diagonal d_c^2 p_c (1 - p_c) takes 1 - p_c as the
                    // sum of the other classes' p, because p_c - p_c^2 cancels when p_c is near 1.
                    for (std::int64_t c = 0; c < outputs; ++c) logits[c] = output[n * outputs + c];
                    const double top = *std::max_element(logits.begin(), logits.end());
                    double total = 0;
                    for (std::int64_t c = 0; c < outputs; ++c) total += q[c] = std::exp(logits[c] - top);
                    for (std::int64_t c = 0; c < outputs; ++c) {
                        double others = 0;
                        for (std::int64_t k = 0; k < outputs; ++k) others += k == c ? 0.0 : q[k];
                        factor[c * outputs + c] += d[c] * d[c] * (q[c] / total) * (others / total);
                    }
                    for (std::int64_t c = 0; c < outputs; ++c) q[c] = d[c] * q[c] / total;
                    for (std::int64_t i = 0; i < outputs; ++i) {
                        for (std::int64_t j = i + 1; j < outputs; ++j) factor[i * outputs + j] -= q[i] * q[j];
                    }
                    break;
                }
                case Likelihood::bernoulli: {
                    const double p = 1 / (1 + std::exp(-static_cast<double>(output[n])));
                    factor[0] += d[0] * d[0] * p * (1 - p);
                    break;
                }
                case Likelihood::gaussian:
                    for (std::int64_t c = 0; c < outputs; ++c) {
                        factor[c * outputs + c] += d[c] * d[c] / (problem_.sigma * problem_.sigma);
                    }
                    break;
            }
        }
    }

    const FisherModel::Impl& model_;
    const FisherProblem& problem_;
    std::vector<std::int64_t> columns_;
    std::vector<std::vector<T>> input_factors_, gradient_factors_;
    // Column sums of each layer's inputs, in float64 because a float32 running sum over all inputs
    // lost 1e-6 of A's bias column for 1,797 digits.
    std::vector<std::vector<double>> input_sums_;
    std::vector<double> output_factor_;  // the last layer's G in closed form (exact estimator)
    std::vector<T> packed_, product_;
    // Work of add_masked_gradient_factor, in float64.
    std::vector<double> unit_columns_, covariance_, covariance_sum_, inactive_products_, pair_terms_, weighted_,
        half_form_;
    std::vector<std::int64_t> inactive_;
};

template <typename T>
std::vector<KfacFactors> StackKfac<T>::finish(std::int64_t inputs, double scale) const {
    // F_layer ~= N E[a a^T] (x) E[g g^T] for the sum: the count goes into A, G is a mean over inputs.
    // Names and offsets come from the parameter table, which lists each layer's weight then bias.
    std::vector<KfacFactors> result;
    const bool closed_form = problem_.estimator.kind == EstimatorSpec::Kind::exact;
    size_t tensor = 0;
    for (size_t layer = 0; layer < input_factors_.size(); ++layer) {
        KfacFactors factors;
        const ParameterInfo& weight = model_.parameters[tensor++];
        factors.layer = weight.layer;
        factors.weight_offset = weight.offset;
        if (model_.has_bias(layer)) factors.bias_offset = model_.parameters[tensor++].offset;
        factors.out = weight.shape[0];
        factors.in = weight.shape[1];
        factors.input_factor = symmetric_from_upper(input_factors_[layer], columns_[layer], scale);
        if (factors.bias_offset >= 0) {
            for (std::int64_t i = 0; i < factors.in; ++i) {
                factors.input_factor(i, factors.in) = factors.input_factor(factors.in, i) = scale * input_sums_[layer][i];
            }
            factors.input_factor(factors.in, factors.in) = scale * static_cast<double>(inputs);
        }
        const double mean = 1.0 / static_cast<double>(inputs);
        factors.gradient_factor = closed_form && layer + 1 == input_factors_.size()
                                      ? symmetric_from_upper(output_factor_, factors.out, mean)
                                      : symmetric_from_upper(gradient_factors_[layer], factors.out, mean);
        result.push_back(factors);
    }
    return result;
}

template <typename T>
FisherMatrix stack_fisher(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                          const FisherProblem& problem, Representation representation) {
    FisherMatrix fisher;
    fisher.representation = representation;
    fisher.parameters = model.parameters;
    const double scale = problem.reduction == Reduction::mean ? 1.0 / static_cast<double>(inputs.rows()) : 1.0;
    if (representation == Representation::diag) {
        StackDiagonal<T> diagonal(parameter_count(model.parameters));
        for_each_stack_batch<T>(model, inputs, labels, problem, /*compact=*/false,
                                [&](const StackEngine<T>& e) { diagonal.add(e); });
        fisher.diagonal = diagonal.finish(scale);
    } else {
        StackKfac<T> kfac(model, problem);
        for_each_stack_batch<T>(
            model, inputs, labels, problem, /*compact=*/true, [&](const StackEngine<T>& e) { kfac.add(e); },
            [&](const StackEngine<T>& e) { return e.layers() > 2 || !kfac.use_masked_form(e); });
        fisher.kfac = kfac.finish(inputs.rows(), scale);
    }
    return fisher;
}

}  // namespace

FisherMatrix compute_stack_fisher(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                                  const FisherProblem& problem, Representation representation) {
    if (representation != Representation::diag && representation != Representation::kfac) {
        throw Error(describe("cannot compute", to_string(representation), "the stack engine computes diag and kfac",
                             "use compute_fisher"));
    }
    return problem.single_precision ? stack_fisher<float>(model, inputs, labels, problem, representation)
                                    : stack_fisher<double>(model, inputs, labels, problem, representation);
}

}  // namespace scorekit
