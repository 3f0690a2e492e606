// General TorchScript modules for fim (the torch layer's side of fim_backend.hpp): per-example
// gradients by autograd, one input at a time, accumulated into the dense, diag or block
// representation, and products F v. The core computes linear stacks itself.
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "fim_likelihood.hpp"
#include "fim_model.hpp"
#include "scorekit/error.hpp"
#include "scorekit/fim_backend.hpp"
#include "torch_convert.hpp"

namespace scorekit {
namespace {

torch::Dtype dtype_of(bool single_precision) { return single_precision ? torch::kFloat32 : torch::kFloat64; }

// f and labels as contiguous float64 tensors, for the plain-array functions of fim_likelihood.
torch::Tensor contiguous_f64(const torch::Tensor& t) {
    return t.defined() ? t.detach().to(torch::kFloat64).contiguous() : t;
}

const double* data_or_null(const torch::Tensor& t) { return t.defined() ? t.data_ptr<double>() : nullptr; }

// d log p(y | f) / df for the given labels, [B, C].
torch::Tensor output_gradient_tensor(const torch::Tensor& f, const torch::Tensor& labels,
                                     const FisherProblem& problem, std::uint64_t first_row) {
    torch::Tensor f64 = contiguous_f64(f), labels64 = contiguous_f64(labels);
    check_finite_outputs(f64.data_ptr<double>(), f.size(0), f.size(1), problem, first_row);
    torch::Tensor result = torch::empty({f.size(0), f.size(1)}, torch::kFloat64);
    log_likelihood_output_gradient(f64.data_ptr<double>(), f.size(0), f.size(1), data_or_null(labels64), problem,
                                   result.data_ptr<double>());
    return result.to(f.scalar_type());
}

// The estimator's output-space vectors e [R, B, C]; `first_row` is the index of the batch's first
// input, because each input's mc draws come from its own seeded stream.
torch::Tensor output_vectors_tensor(const torch::Tensor& f, const torch::Tensor& labels, const FisherProblem& problem,
                                    std::uint64_t first_row) {
    torch::Tensor f64 = contiguous_f64(f), labels64 = contiguous_f64(labels);
    const std::int64_t vectors = vectors_per_input(problem, f.size(1));
    torch::Tensor result = torch::empty({vectors, f.size(0), f.size(1)}, torch::kFloat64);
    output_vectors(f64.data_ptr<double>(), f.size(0), f.size(1), data_or_null(labels64), problem, first_row,
                   result.data_ptr<double>());
    return result.to(f.scalar_type());
}

std::string type_name(const torch::jit::Module& module) {
    std::string name = module.type()->name() ? module.type()->name()->qualifiedName() : "";
    size_t dot = name.rfind('.');
    return dot == std::string::npos ? name : name.substr(dot + 1);
}

// The dtype's name as torch spells it in Python ("float16", "bfloat16", "float32", ...).
std::string dtype_name(c10::ScalarType type) {
    switch (type) {
        case torch::kFloat16: return "float16";
        case torch::kBFloat16: return "bfloat16";
        case torch::kFloat32: return "float32";
        case torch::kFloat64: return "float64";
        case torch::kComplexFloat: return "complex64";
        case torch::kComplexDouble: return "complex128";
        case torch::kInt64: return "int64";
        case torch::kInt32: return "int32";
        case torch::kInt16: return "int16";
        case torch::kInt8: return "int8";
        case torch::kUInt8: return "uint8";
        case torch::kBool: return "bool";
        default: return c10::toString(type);
    }
}

std::string owning_layer(const std::string& name) {
    size_t dot = name.rfind('.');
    return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

// The module's parameters, each once. A submodule used twice appears under both names in
// named_parameters(), but it is one parameter, as PyTorch's Module.parameters() lists it.
std::vector<torch::jit::Named<torch::Tensor>> unique_parameters(const torch::jit::Module& module) {
    std::vector<torch::jit::Named<torch::Tensor>> result;
    std::set<const c10::TensorImpl*> seen;
    for (const auto& parameter : module.named_parameters()) {
        if (seen.insert(parameter.value.unsafeGetTensorImpl()).second) result.push_back(parameter);
    }
    return result;
}

// Copies the constants of a traced LeakyReLU, ELU or Softplus, which exist only as inputs of its
// aten call (aten::leaky_relu(%x, %slope)), into `entry`. A scripted module has them as attributes.
void read_traced_constants(const torch::jit::Module& child, SequentialChild& entry) {
    static const std::map<std::string, std::vector<std::string>> constants = {
        {"aten::leaky_relu", {"negative_slope"}}, {"aten::leaky_relu_", {"negative_slope"}},
        {"aten::elu", {"alpha"}},                 {"aten::elu_", {"alpha"}},
        {"aten::softplus", {"beta", "threshold"}}};
    c10::optional<torch::jit::Method> forward = child.find_method("forward");
    if (!forward) return;
    for (torch::jit::Node* node : forward->graph()->nodes()) {
        auto found = constants.find(node->kind().toQualString());
        if (found == constants.end()) continue;
        for (std::size_t i = 0; i < found->second.size() && i + 1 < node->inputs().size(); ++i) {
            const std::string& name = found->second[i];
            c10::optional<c10::IValue> value = torch::jit::toIValue(node->inputs()[i + 1]);
            if (!value || entry.attributes.count(name)) continue;
            if (value->isDouble()) entry.attributes[name] = value->toDouble();
            if (value->isInt()) entry.attributes[name] = static_cast<double>(value->toInt());
        }
    }
}

// The inputs and labels of one batch.
struct Batch {
    std::int64_t first = 0, size = 0;
    torch::Tensor x, labels;
};

class TorchFisherModule : public FisherModule {
public:
    explicit TorchFisherModule(const std::string& path);

    const std::vector<ParameterInfo>& parameters() const override { return parameters_; }
    int input_dim() const override { return input_dim_; }
    std::string type_name() const override { return scorekit::type_name(module_); }
    std::vector<SequentialChild> children() const override;
    RowMatrix forward(const RowMatrix& inputs, bool single_precision) override;
    std::int64_t output_width(const RowMatrix& inputs, bool single_precision) override;
    FisherMatrix compute(const RowMatrix& inputs, const Labels& labels, const FisherProblem& problem,
                         Representation representation, BlockGrouping grouping) override;
    Vector product(const Vector& v, const RowMatrix& inputs, const Labels& labels,
                   const FisherProblem& problem) override;
    Vector log_likelihood_gradient(const RowMatrix& inputs, const Labels& labels,
                                   const FisherProblem& problem) override;
    Vector parameter_vector() const override;
    void set_parameter_vector(const Vector& theta) override;

private:
    // The dtype that the file stores parameter `name` in, as recorded at load (use_dtype converts
    // the module later); empty for an unknown name.
    std::string stored_dtype(const std::string& name) const {
        for (const auto& info : parameters_) {
            if (info.name == name) return info.dtype;
        }
        return "";
    }

    torch::Tensor forward_tensor(const torch::Tensor& x);
    void use_dtype(torch::Dtype dtype);
    torch::Tensor gradients(const Batch& batch, const FisherProblem& problem);

    template <typename Body>
    void for_each_batch(const RowMatrix& inputs, const Labels& labels, const FisherProblem& problem, Body body);

    std::string source_;
    torch::jit::Module module_;
    std::vector<torch::Tensor> tensors_;
    std::vector<ParameterInfo> parameters_;
    torch::Dtype dtype_ = torch::kFloat32;
    int input_dim_ = 0;
};

TorchFisherModule::TorchFisherModule(const std::string& path) : source_(path) {
    try {
        // Tensors saved on a GPU are loaded to the CPU, as torch.jit.load(path, map_location="cpu").
        module_ = torch::jit::load(path, torch::kCPU);
    } catch (const c10::Error& e) {
        std::string message = e.what_without_backtrace();
        throw Error(describe("cannot load TorchScript module", path, message.substr(0, message.find('\n')),
                             "save it with torch.jit.script(model).save(path) or torch.jit.trace"));
    }
    module_.eval();
    for (const auto& parameter : unique_parameters(module_)) {
        // LibTorch would cast complex parameters to real ones when fim converts the module to
        // float64, silently dropping their imaginary parts.
        if (!c10::isFloatingType(parameter.value.scalar_type())) {
            throw Error(describe("cannot compute the Fisher information of", path,
                                 "parameter \"" + parameter.name + "\" has dtype " +
                                     dtype_name(parameter.value.scalar_type()) +
                                     ", and fim takes float16, bfloat16, float32 or float64 parameters",
                                 "export the module with real floating-point parameters"));
        }
        ParameterInfo info;
        info.name = parameter.name;
        info.shape.assign(parameter.value.sizes().begin(), parameter.value.sizes().end());
        info.offset = parameter_count(parameters_);
        info.size = parameter.value.numel();
        info.layer = owning_layer(parameter.name);
        info.dtype = dtype_name(parameter.value.scalar_type());
        parameters_.push_back(info);
        tensors_.push_back(parameter.value);
    }
    // use_dtype converts only when the requested dtype differs from dtype_, so dtype_ must be the
    // parameters' own (a float16 module called with float32 inputs fails), or Undefined for
    // mixed dtypes so that the first call converts them all.
    dtype_ = tensors_.empty() ? torch::kFloat32 : tensors_.front().scalar_type();
    for (const auto& tensor : tensors_) {
        if (tensor.scalar_type() != dtype_) dtype_ = c10::ScalarType::Undefined;
    }
    if (parameters_.empty()) {
        throw Error(describe("cannot compute the Fisher information of", path,
                             "the TorchScript module has no parameters (torch.jit.freeze turns them into constants)",
                             "save the module without torch.jit.freeze, e.g. torch.jit.script(model).save(path)"));
    }
    if (module_.hasattr("dim") && module_.attr("dim").isInt()) input_dim_ = static_cast<int>(module_.attr("dim").toInt());
}

std::vector<SequentialChild> TorchFisherModule::children() const {
    std::vector<SequentialChild> result;
    for (const auto& child : module_.named_children()) {
        SequentialChild entry;
        entry.name = child.name;
        entry.kind = scorekit::type_name(child.value);
        if (entry.kind == "Linear") {
            entry.weight = to_matrix(child.value.attr("weight").toTensor());
            entry.weight_dtype = stored_dtype(child.name + ".weight");
            // A traced nn.Linear(bias=False) has no bias attribute, a scripted one a bias of None.
            c10::IValue bias = child.value.hasattr("bias") ? child.value.attr("bias") : c10::IValue();
            entry.has_bias = bias.isTensor();
            if (entry.has_bias) entry.bias = to_matrix(bias.toTensor().view({-1, 1})).col(0);
            if (entry.has_bias) entry.bias_dtype = stored_dtype(child.name + ".bias");
        }
        for (const char* name : {"beta", "threshold", "alpha", "negative_slope"}) {
            if (!child.value.hasattr(name)) continue;
            c10::IValue value = child.value.attr(name);
            if (value.isDouble()) entry.attributes[name] = value.toDouble();
            if (value.isInt()) entry.attributes[name] = static_cast<double>(value.toInt());
        }
        read_traced_constants(child.value, entry);
        result.push_back(entry);
    }
    return result;
}

void TorchFisherModule::use_dtype(torch::Dtype dtype) {
    if (dtype == dtype_) return;
    convert_floating_state(module_, dtype);
    tensors_.clear();
    for (const auto& parameter : unique_parameters(module_)) tensors_.push_back(parameter.value);
    dtype_ = dtype;
}

torch::Tensor TorchFisherModule::forward_tensor(const torch::Tensor& x) {
    try {
        return module_.forward({x}).toTensor();
    } catch (const c10::Error& e) {
        std::string message = e.what_without_backtrace();
        throw Error(describe("TorchScript forward failed", source_, message.substr(0, message.find('\n')),
                             "check that forward takes the inputs x [N, D] and returns the outputs f [N, C]"));
    }
}

RowMatrix TorchFisherModule::forward(const RowMatrix& inputs, bool single_precision) {
    torch::NoGradGuard no_grad;
    use_dtype(dtype_of(single_precision));
    torch::Tensor out = forward_tensor(to_tensor(inputs, dtype_));
    if (out.dim() == 1) out = out.unsqueeze(1);
    return to_matrix(out);
}

std::int64_t TorchFisherModule::output_width(const RowMatrix& inputs, bool single_precision) {
    torch::NoGradGuard no_grad;
    use_dtype(dtype_of(single_precision));
    torch::Tensor f = forward_tensor(to_tensor(inputs.topRows(1), dtype_));
    // Autograd needs floating outputs: an integer output has no gradient, and a complex one has no
    // likelihood here.
    if (!c10::isFloatingType(f.scalar_type())) {
        throw Error(describe("invalid model output", source_, "forward returns " + dtype_name(f.scalar_type()) + " values",
                             "return floating-point outputs f [N, C]"));
    }
    if (f.dim() != 2 || f.size(0) != 1) {
        throw Error(describe("invalid model output", source_,
                             "one input gave an output of " + std::to_string(f.dim()) + " dimensions",
                             "forward must return outputs [N, C]"));
    }
    return f.size(1);
}

template <typename Body>
void TorchFisherModule::for_each_batch(const RowMatrix& inputs, const Labels& labels, const FisherProblem& problem,
                                       Body body) {
    const std::int64_t rows = inputs.rows(), step = std::max(1, problem.batch_size);
    at::set_num_threads(std::max(1, problem.threads));
    torch::Tensor all = to_tensor(inputs, dtype_);
    torch::Tensor all_labels = labels.size() ? to_tensor(labels, torch::kFloat64) : torch::Tensor();
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

// Per-example gradients of e[r, n] . f(x_n), [R * B, P] with row r * B + n.
torch::Tensor TorchFisherModule::gradients(const Batch& batch, const FisherProblem& problem) {
    torch::Tensor f;
    {
        torch::NoGradGuard no_grad;
        f = forward_tensor(batch.x);
    }
    torch::Tensor e = output_vectors_tensor(f, batch.labels, problem, batch.first);
    const std::int64_t samples = e.size(0), total = parameter_count(parameters_);
    torch::Tensor psi = torch::zeros({samples * batch.size, total}, f.options());
    for (auto& parameter : tensors_) parameter.requires_grad_(true);

    for (std::int64_t n = 0; n < batch.size; ++n) {
        torch::Tensor fn = forward_tensor(batch.x.narrow(0, n, 1));
        for (std::int64_t r = 0; r < samples; ++r) {
            auto grads = torch::autograd::grad({fn}, tensors_, {e[r].narrow(0, n, 1)},
                                               /*retain_graph=*/r + 1 < samples, false, /*allow_unused=*/true);
            std::int64_t offset = 0;
            for (size_t t = 0; t < grads.size(); ++t) {
                std::int64_t size = tensors_[t].numel();
                if (grads[t].defined()) psi[r * batch.size + n].narrow(0, offset, size).copy_(grads[t].reshape({-1}));
                offset += size;
            }
        }
    }
    return psi;
}

Vector to_vector(const torch::Tensor& t) {
    torch::Tensor c = t.detach().to(torch::kFloat64).contiguous().view({-1});
    return Eigen::Map<const Vector>(c.data_ptr<double>(), c.numel());
}

FisherMatrix TorchFisherModule::compute(const RowMatrix& inputs, const Labels& labels, const FisherProblem& problem,
                                        Representation representation, BlockGrouping grouping) {
    use_dtype(dtype_of(problem.single_precision));
    const std::int64_t total = parameter_count(parameters_);
    auto options = torch::TensorOptions().dtype(dtype_);
    torch::Tensor dense, diagonal;
    std::vector<BlockRange> ranges;
    std::vector<torch::Tensor> blocks;
    if (representation == Representation::dense) dense = torch::zeros({total, total}, options);
    if (representation == Representation::diag) diagonal = torch::zeros({total}, options);
    if (representation == Representation::block) {
        ranges = block_ranges(parameters_, grouping);
        for (const auto& range : ranges) blocks.push_back(torch::zeros({range.size, range.size}, options));
    }

    for_each_batch(inputs, labels, problem, [&](const Batch& batch) {
        torch::Tensor psi = gradients(batch, problem);
        torch::NoGradGuard no_grad;
        if (dense.defined()) dense.addmm_(psi.t(), psi);
        if (diagonal.defined()) diagonal += psi.square().sum(0);
        for (size_t k = 0; k < ranges.size(); ++k) {
            torch::Tensor part = psi.narrow(1, ranges[k].offset, ranges[k].size);
            blocks[k].addmm_(part.t(), part);
        }
    });

    FisherMatrix fisher;
    fisher.representation = representation;
    fisher.parameters = parameters_;
    const double scale = problem.reduction == Reduction::mean ? 1.0 / static_cast<double>(inputs.rows()) : 1.0;
    if (dense.defined()) fisher.dense = to_matrix(dense) * scale;
    if (diagonal.defined()) fisher.diagonal = to_vector(diagonal) * scale;
    for (size_t k = 0; k < blocks.size(); ++k) {
        fisher.blocks.push_back({ranges[k].name, ranges[k].offset, ranges[k].size, to_matrix(blocks[k]) * scale});
    }
    return fisher;
}

Vector TorchFisherModule::product(const Vector& v, const RowMatrix& inputs, const Labels& labels,
                                  const FisherProblem& problem) {
    use_dtype(dtype_of(problem.single_precision));
    torch::Tensor vt = torch::from_blob(const_cast<double*>(v.data()), {v.size()}, torch::kFloat64).to(dtype_);
    torch::Tensor result = torch::zeros({v.size()}, torch::TensorOptions().dtype(dtype_));
    for_each_batch(inputs, labels, problem, [&](const Batch& batch) {
        torch::Tensor psi = gradients(batch, problem);
        torch::NoGradGuard no_grad;
        result += torch::mv(psi.t(), torch::mv(psi, vt));
    });
    return to_vector(result);
}

Vector TorchFisherModule::log_likelihood_gradient(const RowMatrix& inputs, const Labels& labels,
                                                  const FisherProblem& problem) {
    use_dtype(dtype_of(problem.single_precision));
    torch::Tensor total = torch::zeros({parameter_count(parameters_)}, torch::TensorOptions().dtype(dtype_));
    for (auto& parameter : tensors_) parameter.requires_grad_(true);
    for_each_batch(inputs, labels, problem, [&](const Batch& batch) {
        torch::Tensor f = forward_tensor(batch.x);
        torch::Tensor e = output_gradient_tensor(f.detach(), batch.labels, problem, static_cast<std::uint64_t>(batch.first));
        auto grads = torch::autograd::grad({f}, tensors_, {e}, false, false, true);
        std::int64_t offset = 0;
        for (size_t t = 0; t < grads.size(); ++t) {
            std::int64_t size = tensors_[t].numel();
            if (grads[t].defined()) total.narrow(0, offset, size) += grads[t].detach().reshape({-1});
            offset += size;
        }
    });
    return to_vector(total);
}

Vector TorchFisherModule::parameter_vector() const {
    Vector theta(parameter_count(parameters_));
    std::int64_t offset = 0;
    for (const auto& t : tensors_) {
        torch::Tensor flat = t.detach().to(torch::kFloat64).contiguous().view({-1});
        std::memcpy(theta.data() + offset, flat.data_ptr<double>(), flat.numel() * sizeof(double));
        offset += flat.numel();
    }
    return theta;
}

void TorchFisherModule::set_parameter_vector(const Vector& theta) {
    torch::NoGradGuard no_grad;
    std::int64_t offset = 0;
    for (auto& t : tensors_) {
        torch::Tensor source = torch::from_blob(const_cast<double*>(theta.data() + offset), t.sizes(), torch::kFloat64);
        t.copy_(source);
        offset += t.numel();
    }
}

std::unique_ptr<FisherModule> open_fisher_module(const std::string& path) {
    return std::make_unique<TorchFisherModule>(path);
}

}  // namespace
}  // namespace scorekit

extern "C" __attribute__((visibility("default"))) scorekit::FisherBackend scorekit_fisher_backend_v1() {
    return &scorekit::open_fisher_module;
}
