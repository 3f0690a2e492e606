// The batched Fisher engine: per batch, output-space vectors from the likelihood (fim_likelihood),
// per-example gradients through the network (by hand for linear stacks, by autograd otherwise),
// accumulated into the requested representation.
#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include "fim_likelihood.hpp"
#include "fim_model.hpp"
#include "fim_stack_engine.hpp"
#include "scorekit/error.hpp"
#include "scorekit/fim.hpp"
#include "torch_convert.hpp"

namespace scorekit {
namespace {

torch::Dtype dtype_of(const FisherProblem& problem) {
    return problem.single_precision ? torch::kFloat32 : torch::kFloat64;
}

// A contiguous range of theta that forms one block.
struct BlockRange {
    std::string name;
    std::int64_t offset = 0, size = 0;
};

std::vector<BlockRange> block_ranges(const std::vector<ParameterInfo>& parameters, BlockGrouping grouping) {
    std::vector<BlockRange> ranges;
    for (const auto& p : parameters) {
        bool same_layer = grouping == BlockGrouping::layer && !ranges.empty() && !p.layer.empty() &&
                          ranges.back().name == p.layer;
        if (same_layer) {
            ranges.back().size += p.size;
        } else {
            ranges.push_back({grouping == BlockGrouping::layer && !p.layer.empty() ? p.layer : p.name, p.offset, p.size});
        }
    }
    return ranges;
}

// The inputs and labels of one batch, and everything the per-example gradients need.
struct Batch {
    std::int64_t first = 0, size = 0;
    torch::Tensor x, labels;
};

// Calls `body` for each batch of rows.
template <typename Body>
void for_each_batch(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                    const FisherProblem& problem, Body body) {
    const std::int64_t rows = inputs.rows(), step = std::max(1, problem.batch_size);
    at::set_num_threads(std::max(1, problem.threads));
    torch::Tensor all = input_tensor(model, inputs, dtype_of(problem));
    torch::Tensor all_labels = labels.size() ? to_tensor(labels, torch::kFloat64).clone() : torch::Tensor();
    for (std::int64_t first = 0; first < rows; first += step) {
        Batch batch;
        batch.first = first;
        batch.size = std::min(step, rows - first);
        batch.x = all.narrow(0, first, batch.size);
        if (all_labels.defined()) batch.labels = all_labels.narrow(0, first, batch.size);
        body(batch);
        if (problem.on_batch) problem.on_batch(first + batch.size, rows);
    }
}

// Per-example gradients of e[r, n] . f(x_n) for a general module, [R * B, P] with row r * B + n.
torch::Tensor module_gradients(FisherModel::Impl& model, const Batch& batch, const FisherProblem& problem) {
    torch::Tensor f;
    {
        torch::NoGradGuard no_grad;
        f = model.forward(batch.x);
    }
    torch::Tensor e = output_vectors(f, batch.labels, problem, batch.first);
    const std::int64_t samples = e.size(0), total = parameter_count(model.parameters);
    torch::Tensor psi = torch::zeros({samples * batch.size, total}, f.options());
    for (auto& parameter : model.module_parameters) parameter.requires_grad_(true);

    for (std::int64_t n = 0; n < batch.size; ++n) {
        torch::Tensor fn = model.forward(batch.x.narrow(0, n, 1));
        for (std::int64_t r = 0; r < samples; ++r) {
            auto grads = torch::autograd::grad({fn}, model.module_parameters, {e[r].narrow(0, n, 1)},
                                               /*retain_graph=*/r + 1 < samples, false, /*allow_unused=*/true);
            std::int64_t offset = 0;
            for (size_t t = 0; t < grads.size(); ++t) {
                std::int64_t size = model.module_parameters[t].numel();
                if (grads[t].defined()) psi[r * batch.size + n].narrow(0, offset, size).copy_(grads[t].reshape({-1}));
                offset += size;
            }
        }
    }
    return psi;
}

// Per-example gradients of a linear stack for one batch, as tensors that alias the buffers of a
// StackEngine (valid until its next batch).
struct StackGradients {
    StackForward forward;
    std::vector<torch::Tensor> grads;  // per layer [R * B, out]
    std::vector<bool> bias;            // per layer: has a bias
    std::int64_t samples = 0;
};

template <typename T>
StackGradients torch_view(const StackEngine<T>& engine) {
    auto options = torch::TensorOptions().dtype(std::is_same<T, double>::value ? torch::kFloat64 : torch::kFloat32);
    auto view = [&](const T* data, std::int64_t rows, std::int64_t columns) {
        return torch::from_blob(const_cast<T*>(data), {rows, columns}, options);
    };
    StackGradients result;
    result.samples = engine.samples();
    const std::int64_t batch = engine.batch();
    for (size_t layer = 0; layer < engine.layers(); ++layer) {
        result.forward.inputs.push_back(view(engine.input(layer), batch, engine.in(layer)));
        result.forward.pre_activations.push_back(view(engine.pre_activation(layer), batch, engine.out(layer)));
        result.grads.push_back(view(engine.gradient(layer), result.samples * batch, engine.out(layer)));
        result.bias.push_back(engine.has_bias(layer));
    }
    result.forward.output = view(engine.output(), batch, engine.out(engine.layers() - 1));
    return result;
}

// Calls `body` with the gradients of each batch, computed in the problem's precision.
void for_each_stack_gradients(const FisherModel::Impl& model, const RowMatrix& inputs, const Labels& labels,
                              const FisherProblem& problem, const std::function<void(const StackGradients&)>& body) {
    if (problem.single_precision) {
        for_each_stack_batch<float>(model, inputs, labels, problem, /*compact=*/false,
                                    [&](const StackEngine<float>& engine) { body(torch_view(engine)); });
    } else {
        for_each_stack_batch<double>(model, inputs, labels, problem, /*compact=*/false,
                                     [&](const StackEngine<double>& engine) { body(torch_view(engine)); });
    }
}

// Per-example gradient rows [R * B, n] of one layer: weight entries row-major, then the bias.
torch::Tensor layer_gradient_rows(const torch::Tensor& input, const torch::Tensor& grad, std::int64_t samples,
                                  bool with_weight, bool with_bias) {
    const std::int64_t batch = input.size(0), in = input.size(1), out = grad.size(1);
    std::vector<torch::Tensor> parts;
    if (with_weight) {
        torch::Tensor g = grad.view({samples, batch, out, 1});
        torch::Tensor a = input.view({1, batch, 1, in});
        parts.push_back((g * a).reshape({samples * batch, out * in}));
    }
    if (with_bias) parts.push_back(grad);
    return parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
}

// Layer inputs with a trailing column of ones for layers with a bias: the inputs a~ of [W | b].
std::vector<torch::Tensor> augmented_inputs(const StackGradients& batch) {
    std::vector<torch::Tensor> inputs;
    for (size_t layer = 0; layer < batch.grads.size(); ++layer) {
        const torch::Tensor& a = batch.forward.inputs[layer];
        inputs.push_back(batch.bias[layer] ? torch::cat({a, torch::ones({a.size(0), 1}, a.options())}, 1)
                                                         : a);
    }
    return inputs;
}

// The block of F between the [W | b] entries of two layers, summed over a batch:
//   F[(i, j), (k, m)] = sum_n M_n[i, k] a_n[j] b_n[m],   M_n = sum_r g[r, n, i] h[r, n, k],
// computed as one product over the batch, [out_g * out_h, B] x [B, in_a * in_b]. This costs
// 2 B P^2 instead of the 2 R B P^2 of summing outer products of per-example gradients.
torch::Tensor kronecker_sum(const torch::Tensor& g, const torch::Tensor& a, const torch::Tensor& h,
                            const torch::Tensor& b, std::int64_t samples) {
    const std::int64_t batch = a.size(0), out_g = g.size(1), out_h = h.size(1), in_a = a.size(1), in_b = b.size(1);
    torch::Tensor left = g.view({samples, batch, out_g}).permute({1, 2, 0});   // [B, out_g, R]
    torch::Tensor right = h.view({samples, batch, out_h}).permute({1, 0, 2});  // [B, R, out_h]
    torch::Tensor outputs = torch::bmm(left, right).reshape({batch, out_g * out_h});
    torch::Tensor inputs = torch::bmm(a.unsqueeze(2), b.unsqueeze(1)).reshape({batch, in_a * in_b});
    torch::Tensor product = torch::mm(outputs.t(), inputs);  // [(i, k), (j, m)]
    return product.view({out_g, out_h, in_a, in_b}).permute({0, 2, 1, 3}).reshape({out_g * in_a, out_h * in_b});
}

// For each theta index of a stack's parameters, its index among the [W | b] entries (row-major per
// layer, layers in order). Both orders have the same layer offsets.
torch::Tensor augmented_positions(const StackTensors& tensors) {
    std::vector<std::int64_t> positions;
    std::int64_t offset = 0;
    for (size_t layer = 0; layer < tensors.weights.size(); ++layer) {
        const std::int64_t out = tensors.weights[layer].size(0), in = tensors.weights[layer].size(1);
        const bool bias = tensors.biases[layer].defined();
        const std::int64_t columns = bias ? in + 1 : in;
        for (std::int64_t i = 0; i < out; ++i) {
            for (std::int64_t j = 0; j < in; ++j) positions.push_back(offset + i * columns + j);
        }
        if (bias) {
            for (std::int64_t i = 0; i < out; ++i) positions.push_back(offset + i * columns + in);
        }
        offset += out * columns;
    }
    return torch::tensor(positions, torch::kLong);
}

// scale * m[order[i], order[j]] as a float64 matrix (m itself when order is empty), copied
// entry by entry so that a large dense F exists only twice, as the accumulator and the result.
template <typename T>
RowMatrix reordered_matrix(const torch::Tensor& m, const std::vector<std::int64_t>& order, double scale) {
    torch::Tensor c = m.contiguous();
    const T* data = c.data_ptr<T>();
    const std::int64_t n = c.size(0);
    RowMatrix result(n, n);
    for (std::int64_t i = 0; i < n; ++i) {
        const T* row = data + (order.empty() ? i : order[i]) * n;
        for (std::int64_t j = 0; j < n; ++j) result(i, j) = scale * static_cast<double>(row[order.empty() ? j : order[j]]);
    }
    return result;
}

// Sums of the representation over batches, normalised by finish().
class Accumulator {
public:
    Accumulator(const FisherModel::Impl& model, const FisherProblem& problem, Representation representation,
                BlockGrouping grouping, torch::Dtype dtype)
        : model_(model), problem_(problem), representation_(representation), grouping_(grouping), dtype_(dtype) {
        const std::int64_t total = parameter_count(model.parameters);
        auto options = torch::TensorOptions().dtype(dtype);
        if (representation == Representation::dense) dense_ = torch::zeros({total, total}, options);
        if (representation == Representation::diag) diagonal_ = torch::zeros({total}, options);
        if (representation == Representation::block) {
            ranges_ = block_ranges(model.parameters, grouping);
            for (const auto& range : ranges_) blocks_.push_back(torch::zeros({range.size, range.size}, options));
        }
    }

    void add_module_batch(const torch::Tensor& psi) {
        if (representation_ == Representation::dense) dense_.addmm_(psi.t(), psi);
        if (representation_ == Representation::diag) diagonal_ += psi.square().sum(0);
        if (representation_ == Representation::block) {
            for (size_t k = 0; k < ranges_.size(); ++k) {
                torch::Tensor part = psi.narrow(1, ranges_[k].offset, ranges_[k].size);
                blocks_[k].addmm_(part.t(), part);
            }
        }
    }

    // Stacks: dense and block only (compute_stack_fisher computes diag and kfac).
    void add_stack_batch(const StackGradients& batch) {
        if (representation_ == Representation::dense) add_stack_dense(batch);
        if (representation_ == Representation::block) add_stack_blocks(batch);
    }

    FisherMatrix finish(std::int64_t inputs, Reduction reduction) const;

private:
    // Dense F of a stack, accumulated over the entries of each layer's [weight | bias] (row-major)
    // and put into theta order by finish().
    void add_stack_dense(const StackGradients& batch) {
        std::vector<torch::Tensor> inputs = augmented_inputs(batch);
        std::int64_t row = 0;
        for (size_t l = 0; l < inputs.size(); ++l) {
            const std::int64_t rows = batch.grads[l].size(1) * inputs[l].size(1);
            std::int64_t column = row;
            for (size_t m = l; m < inputs.size(); ++m) {
                const std::int64_t columns = batch.grads[m].size(1) * inputs[m].size(1);
                torch::Tensor block = kronecker_sum(batch.grads[l], inputs[l], batch.grads[m], inputs[m], batch.samples);
                dense_.narrow(0, row, rows).narrow(1, column, columns) += block;
                if (m != l) dense_.narrow(0, column, columns).narrow(1, row, rows) += block.t();
                column += columns;
            }
            row += rows;
        }
        augmented_order_ = true;
    }

    void add_stack_blocks(const StackGradients& batch) {
        size_t block = 0;
        for (size_t layer = 0; layer < batch.grads.size(); ++layer) {
            const torch::Tensor& a = batch.forward.inputs[layer];
            const torch::Tensor& g = batch.grads[layer];
            const bool bias = batch.bias[layer];
            if (grouping_ == BlockGrouping::layer) {
                torch::Tensor augmented = bias ? torch::cat({a, torch::ones({a.size(0), 1}, a.options())}, 1) : a;
                blocks_[block++] += kronecker_sum(g, augmented, g, augmented, batch.samples);
                augmented_order_ = true;
                continue;
            }
            torch::Tensor psi = layer_gradient_rows(a, g, batch.samples, true, false);
            blocks_[block++].addmm_(psi.t(), psi);
            if (bias) blocks_[block++].addmm_(g.t(), g);
        }
    }

    const FisherModel::Impl& model_;
    const FisherProblem& problem_;
    Representation representation_;
    BlockGrouping grouping_;
    torch::Dtype dtype_;
    torch::Tensor dense_, diagonal_;
    bool augmented_order_ = false;  // dense_ and blocks_ are in [W | b] order (stacks)
    std::vector<BlockRange> ranges_;
    std::vector<torch::Tensor> blocks_;
};

Vector to_vector(const torch::Tensor& t) {
    torch::Tensor c = t.detach().to(torch::kFloat64).contiguous().view({-1});
    return Eigen::Map<const Vector>(c.data_ptr<double>(), c.numel());
}

torch::Tensor from_vector(const Vector& v, torch::Dtype dtype) {
    return torch::from_blob(const_cast<double*>(v.data()), {v.size()}, torch::kFloat64).to(dtype);
}

FisherMatrix Accumulator::finish(std::int64_t inputs, Reduction reduction) const {
    FisherMatrix fisher;
    fisher.representation = representation_;
    fisher.parameters = model_.parameters;
    const double scale = reduction == Reduction::mean ? 1.0 / static_cast<double>(inputs) : 1.0;

    torch::Tensor positions = augmented_order_ ? augmented_positions(model_.stack_tensors) : torch::Tensor();
    auto to_theta_order = [&](const torch::Tensor& m, std::int64_t offset) {
        std::vector<std::int64_t> local;
        if (augmented_order_) {
            torch::Tensor part = (positions.narrow(0, offset, m.size(0)) - offset).contiguous();
            local.assign(part.data_ptr<std::int64_t>(), part.data_ptr<std::int64_t>() + part.numel());
        }
        return m.scalar_type() == torch::kFloat32 ? reordered_matrix<float>(m, local, scale)
                                                  : reordered_matrix<double>(m, local, scale);
    };
    if (dense_.defined()) fisher.dense = to_theta_order(dense_, 0);
    if (diagonal_.defined()) fisher.diagonal = to_vector(diagonal_) * scale;
    for (size_t k = 0; k < blocks_.size(); ++k) {
        fisher.blocks.push_back({ranges_[k].name, ranges_[k].offset, ranges_[k].size, to_theta_order(blocks_[k], ranges_[k].offset)});
    }

    return fisher;
}

void check_request(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                   const FisherProblem& problem, Representation representation) {
    if (inputs.rows() == 0) throw Error(describe("cannot compute the Fisher information", "0 inputs", "give at least one input"));
    if (problem.estimator.needs_labels() && labels.size() == 0) {
        throw UsageError(describe("missing labels for", "--estimator empirical",
                                  "the empirical Fisher uses the data labels",
                                  "give --labels, or use --estimator exact or mc:K for the Fisher information"));
    }
    if (labels.size() != 0 && labels.rows() != inputs.rows()) {
        throw Error(describe("labels do not match the inputs",
                             std::to_string(labels.rows()) + " labels for " + std::to_string(inputs.rows()) + " inputs",
                             "give one label row per input"));
    }
    if (representation == Representation::kfac && !model.is_linear_stack()) {
        throw UsageError(describe("cannot compute kfac for", model.source(), model.kfac_obstacle(),
                                  "use --representation diag, block or dense"));
    }
    if (representation == Representation::implicit) {
        throw UsageError(describe("invalid representation", "implicit", "it stores no matrix",
                                  "use FisherOperator for matrix-free products"));
    }
}

std::int64_t output_width(FisherModel::Impl& model, const RowMatrix& inputs, torch::Dtype dtype) {
    if (model.stack) {
        check_input_width(model, inputs);
        return model.stack_tensors.weights.back().size(0);
    }
    torch::NoGradGuard no_grad;
    torch::Tensor f = model.forward(input_tensor(model, inputs.topRows(1), dtype));
    if (f.dim() != 2 || f.size(0) != 1) {
        throw Error(describe("invalid model output", model.source,
                             "one input gave an output of " + std::to_string(f.dim()) + " dimensions",
                             "forward must return outputs [N, C]"));
    }
    return f.size(1);
}

}  // namespace

FisherMatrix compute_fisher(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                            const FisherProblem& problem, Representation representation, BlockGrouping grouping) {
    check_request(model, inputs, labels, problem, representation);
    FisherModel::Impl& impl = *model.impl();
    const torch::Dtype dtype = dtype_of(problem);
    impl.use_dtype(dtype);
    const std::int64_t outputs = output_width(impl, inputs, dtype);
    check_outputs_and_labels(impl.source, outputs, labels, problem);
    check_fisher_memory(model, problem, representation, grouping, outputs, /*factorised=*/false, problem.max_memory);

    if (impl.stack && (representation == Representation::diag || representation == Representation::kfac)) {
        return compute_stack_fisher(impl, inputs, labels, problem, representation);
    }
    Accumulator accumulator(impl, problem, representation, grouping, dtype);
    if (impl.stack) {
        torch::NoGradGuard no_grad;
        for_each_stack_gradients(impl, inputs, labels, problem,
                                 [&](const StackGradients& batch) { accumulator.add_stack_batch(batch); });
    } else {
        for_each_batch(impl, inputs, labels, problem, [&](const Batch& batch) {
            torch::Tensor psi = module_gradients(impl, batch, problem);
            torch::NoGradGuard no_grad;
            accumulator.add_module_batch(psi);
        });
    }
    return accumulator.finish(inputs.rows(), problem.reduction);
}

FisherOperator::FisherOperator(FisherModel model, RowMatrix inputs, Labels labels, FisherProblem problem)
    : model_(std::move(model)), inputs_(std::move(inputs)), labels_(std::move(labels)), problem_(problem) {
    check_request(model_, inputs_, labels_, problem_, Representation::diag);
    FisherModel::Impl& impl = *model_.impl();
    impl.use_dtype(dtype_of(problem_));
    const std::int64_t outputs = output_width(impl, inputs_, dtype_of(problem_));
    check_outputs_and_labels(impl.source, outputs, labels_, problem_);
    check_fisher_memory(model_, problem_, Representation::implicit, BlockGrouping::layer, outputs, false,
                        problem_.max_memory);
}

Vector FisherOperator::apply(const Vector& v) const {
    if (v.size() != size()) {
        throw Error(describe_at("invalid vector", "with " + std::to_string(v.size()) + " entries",
                             "the model has " + std::to_string(size()) + " parameters", "give one entry per parameter"));
    }
    FisherModel::Impl& impl = *model_.impl();
    const torch::Dtype dtype = dtype_of(problem_);
    impl.use_dtype(dtype);
    torch::Tensor vt = from_vector(v, dtype);
    torch::Tensor result = torch::zeros({size()}, torch::TensorOptions().dtype(dtype));

    if (impl.stack) {
        torch::NoGradGuard no_grad;
        for_each_stack_gradients(impl, inputs_, labels_, problem_, [&](const StackGradients& s) {
            // u[r, n] = psi[r, n] . v, then F v = sum psi[r, n] u[r, n], layer by layer.
            std::vector<torch::Tensor> inputs;
            torch::Tensor u;
            std::int64_t offset = 0;
            for (size_t layer = 0; layer < s.grads.size(); ++layer) {
                const torch::Tensor& g = s.grads[layer];
                const std::int64_t out = g.size(1), in = s.forward.inputs[layer].size(1);
                inputs.push_back(s.forward.inputs[layer].repeat({s.samples, 1}));
                torch::Tensor part = (torch::mm(g, vt.narrow(0, offset, out * in).view({out, in})) * inputs.back()).sum(1);
                offset += out * in;
                if (s.bias[layer]) {
                    part += torch::mv(g, vt.narrow(0, offset, out));
                    offset += out;
                }
                u = u.defined() ? u + part : part;
            }
            offset = 0;
            for (size_t layer = 0; layer < s.grads.size(); ++layer) {
                torch::Tensor gu = s.grads[layer] * u.unsqueeze(1);
                torch::Tensor weight = torch::mm(gu.t(), inputs[layer]);
                result.narrow(0, offset, weight.numel()) += weight.reshape({-1});
                offset += weight.numel();
                if (s.bias[layer]) {
                    result.narrow(0, offset, gu.size(1)) += gu.sum(0);
                    offset += gu.size(1);
                }
            }
        });
    } else {
        for_each_batch(impl, inputs_, labels_, problem_, [&](const Batch& batch) {
            torch::Tensor psi = module_gradients(impl, batch, problem_);
            torch::NoGradGuard no_grad;
            result += torch::mv(psi.t(), torch::mv(psi, vt));
        });
    }
    Vector product = to_vector(result);
    if (problem_.reduction == Reduction::mean) product /= static_cast<double>(inputs_.rows());
    return product;
}

Vector FisherOperator::diagonal() const {
    return compute_fisher(model_, inputs_, labels_, problem_, Representation::diag).diagonal;
}

Vector log_likelihood_gradient(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                               const FisherProblem& problem) {
    FisherProblem empirical = problem;
    empirical.estimator = EstimatorSpec{EstimatorSpec::Kind::empirical, 0};
    check_request(model, inputs, labels, empirical, Representation::diag);
    FisherModel::Impl& impl = *model.impl();
    const torch::Dtype dtype = dtype_of(problem);
    impl.use_dtype(dtype);
    check_outputs_and_labels(impl.source, output_width(impl, inputs, dtype), labels, empirical);

    torch::Tensor total = torch::zeros({model.parameter_count()}, torch::TensorOptions().dtype(dtype));
    if (impl.stack) {
        torch::NoGradGuard no_grad;
        for_each_stack_gradients(impl, inputs, labels, empirical, [&](const StackGradients& s) {
            std::int64_t offset = 0;
            for (size_t layer = 0; layer < s.grads.size(); ++layer) {
                torch::Tensor weight = torch::mm(s.grads[layer].t(), s.forward.inputs[layer]);
                total.narrow(0, offset, weight.numel()) += weight.reshape({-1});
                offset += weight.numel();
                if (s.bias[layer]) {
                    total.narrow(0, offset, s.grads[layer].size(1)) += s.grads[layer].sum(0);
                    offset += s.grads[layer].size(1);
                }
            }
        });
    } else {
        for (auto& parameter : impl.module_parameters) parameter.requires_grad_(true);
        for_each_batch(impl, inputs, labels, empirical, [&](const Batch& batch) {
            torch::Tensor f = impl.forward(batch.x);
            torch::Tensor e = log_likelihood_output_gradient(f.detach(), batch.labels, empirical);
            auto grads = torch::autograd::grad({f}, impl.module_parameters, {e}, false, false, true);
            std::int64_t offset = 0;
            for (size_t t = 0; t < grads.size(); ++t) {
                std::int64_t size = impl.module_parameters[t].numel();
                if (grads[t].defined()) total.narrow(0, offset, size) += grads[t].detach().reshape({-1});
                offset += size;
            }
        });
    }
    Vector gradient = to_vector(total);
    if (problem.reduction == Reduction::mean) gradient /= static_cast<double>(inputs.rows());
    return gradient;
}

}  // namespace scorekit
