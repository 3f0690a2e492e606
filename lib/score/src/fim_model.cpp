#include "fim_model.hpp"

#include <cstring>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/mlp_score.hpp"
#include "scorekit/text_input.hpp"
#include "torch_convert.hpp"

namespace scorekit {

torch::Tensor ElementwiseActivation::apply(const torch::Tensor& pre) const {
    switch (kind) {
        case Kind::identity: return pre;
        case Kind::relu: return torch::relu(pre);
        case Kind::tanh: return torch::tanh(pre);
        case Kind::sigmoid: return torch::sigmoid(pre);
        case Kind::softplus: return torch::softplus(pre, parameter, threshold);
        case Kind::silu: return torch::silu(pre);
        case Kind::elu: return torch::elu(pre, parameter);
        case Kind::leaky_relu: return torch::leaky_relu(pre, parameter);
    }
    return pre;
}

torch::Tensor ElementwiseActivation::derivative(const torch::Tensor& pre) const {
    switch (kind) {
        case Kind::identity: return torch::ones_like(pre);
        case Kind::relu: return (pre > 0).to(pre.scalar_type());
        case Kind::tanh: {
            torch::Tensor t = torch::tanh(pre);
            return 1 - t * t;
        }
        case Kind::sigmoid: {
            torch::Tensor s = torch::sigmoid(pre);
            return s * (1 - s);
        }
        case Kind::softplus:
            return torch::where(pre * parameter > threshold, torch::ones_like(pre), torch::sigmoid(pre * parameter));
        case Kind::silu: {
            torch::Tensor s = torch::sigmoid(pre);
            return s * (1 + pre * (1 - s));
        }
        case Kind::elu: return torch::where(pre > 0, torch::ones_like(pre), parameter * torch::exp(pre));
        case Kind::leaky_relu: return torch::where(pre > 0, torch::ones_like(pre), torch::full_like(pre, parameter));
    }
    return torch::ones_like(pre);
}

ElementwiseActivation parse_elementwise_activation(const std::string& name) {
    using Kind = ElementwiseActivation::Kind;
    ElementwiseActivation activation;
    if (name == "identity") activation.kind = Kind::identity;
    else if (name == "relu") activation.kind = Kind::relu;
    else if (name == "tanh") activation.kind = Kind::tanh;
    else if (name == "sigmoid") activation.kind = Kind::sigmoid;
    else if (name == "softplus") activation.kind = Kind::softplus;
    else if (name == "silu") activation.kind = Kind::silu;
    else if (name == "elu") activation.kind = Kind::elu;
    else if (name == "leaky_relu") {
        activation.kind = Kind::leaky_relu;
        activation.parameter = 0.01;
    } else {
        throw UsageError(describe("invalid activation", name,
                                  "expected one of identity, relu, tanh, sigmoid, softplus, silu, elu, leaky_relu"));
    }
    return activation;
}

StackTensors FisherModel::Impl::stack_in(torch::Dtype dtype) const {
    if (dtype == torch::kFloat64) return stack_tensors;
    StackTensors converted;
    for (const auto& w : stack_tensors.weights) converted.weights.push_back(w.to(dtype));
    for (const auto& b : stack_tensors.biases) converted.biases.push_back(b.defined() ? b.to(dtype) : b);
    return converted;
}

torch::Tensor FisherModel::Impl::forward(const torch::Tensor& x) {
    if (stack) return forward_stack(*this, stack_in(x.scalar_type()), x).output;
    try {
        return module.forward({x}).toTensor();
    } catch (const c10::Error& e) {
        std::string message = e.what_without_backtrace();
        throw Error(describe("TorchScript forward failed", source, message.substr(0, message.find('\n')),
                             "check that forward takes the inputs x [N, D] and returns the outputs f [N, C]"));
    }
}

void FisherModel::Impl::use_dtype(torch::Dtype dtype) {
    if (stack || dtype == module_dtype) return;
    module.to(dtype);
    module_parameters.clear();
    for (const auto& parameter : module.parameters()) module_parameters.push_back(parameter);
    module_dtype = dtype;
}

StackForward forward_stack(const FisherModel::Impl& model, const StackTensors& tensors, const torch::Tensor& x) {
    StackForward pass;
    torch::Tensor h = x;
    for (size_t layer = 0; layer < tensors.weights.size(); ++layer) {
        pass.inputs.push_back(h);
        const torch::Tensor& bias = tensors.biases[layer];
        torch::Tensor pre = bias.defined() ? torch::addmm(bias, h, tensors.weights[layer].t())
                                           : torch::mm(h, tensors.weights[layer].t());
        pass.pre_activations.push_back(pre);
        h = model.activations[layer].apply(pre);
    }
    pass.output = h;
    return pass;
}

void check_input_width(const FisherModel::Impl& model, const RowMatrix& inputs) {
    if (model.input_dim > 0 && inputs.cols() != model.input_dim) {
        throw Error(describe("inputs do not fit the model", model.source,
                             "inputs have " + std::to_string(inputs.cols()) + " columns, the model takes " +
                                 std::to_string(model.input_dim),
                             "give inputs of the model's input width"));
    }
}

torch::Tensor input_tensor(const FisherModel::Impl& model, const RowMatrix& inputs, torch::Dtype dtype) {
    check_input_width(model, inputs);
    return to_tensor(inputs, dtype).clone();  // to_tensor aliases the matrix for float64
}

namespace {

std::string owning_layer(const std::string& name) {
    size_t dot = name.rfind('.');
    return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

void add_parameter(std::vector<ParameterInfo>& parameters, const std::string& name, const torch::Tensor& t) {
    ParameterInfo info;
    info.name = name;
    info.shape.assign(t.sizes().begin(), t.sizes().end());
    info.offset = parameter_count(parameters);
    info.size = t.numel();
    info.layer = owning_layer(name);
    parameters.push_back(info);
}

// Registers the stack's tensors under `names[layer]` ("<layer>.weight", "<layer>.bias").
void finish_stack(FisherModel::Impl& impl, const std::vector<std::string>& layer_names) {
    impl.stack = true;
    impl.parameters.clear();
    for (size_t layer = 0; layer < impl.stack_tensors.weights.size(); ++layer) {
        add_parameter(impl.parameters, layer_names[layer] + ".weight", impl.stack_tensors.weights[layer]);
        if (impl.stack_tensors.biases[layer].defined()) {
            add_parameter(impl.parameters, layer_names[layer] + ".bias", impl.stack_tensors.biases[layer]);
        }
    }
    impl.input_dim = static_cast<int>(impl.stack_tensors.weights.front().size(1));
}

std::string type_name(const torch::jit::Module& module) {
    std::string name = module.type()->name() ? module.type()->name()->qualifiedName() : "";
    size_t dot = name.rfind('.');
    return dot == std::string::npos ? name : name.substr(dot + 1);
}

double attribute_or(const torch::jit::Module& module, const std::string& name, double fallback) {
    if (!module.hasattr(name)) return fallback;
    c10::IValue value = module.attr(name);
    if (value.isDouble()) return value.toDouble();
    if (value.isInt()) return static_cast<double>(value.toInt());
    return fallback;
}

// Reads the children of an nn.Sequential as a linear stack. Returns an empty string on success,
// otherwise the reason (naming the layer) why the module is not such a stack.
std::string read_sequential(FisherModel::Impl& impl) {
    using Kind = ElementwiseActivation::Kind;
    std::string module_type = type_name(impl.module);
    if (module_type != "Sequential") {
        return "the module is a " + module_type + ", not an nn.Sequential of linear layers and elementwise activations";
    }
    std::vector<std::string> names;
    for (const auto& child : impl.module.named_children()) {
        std::string kind = type_name(child.value);
        if (kind == "Linear") {
            impl.stack_tensors.weights.push_back(child.value.attr("weight").toTensor().detach().to(torch::kFloat64));
            c10::IValue bias = child.value.attr("bias");
            impl.stack_tensors.biases.push_back(bias.isTensor() ? bias.toTensor().detach().to(torch::kFloat64)
                                                                : torch::Tensor());
            impl.activations.emplace_back();
            names.push_back(child.name);
            continue;
        }
        ElementwiseActivation activation;
        if (kind == "ReLU") activation.kind = Kind::relu;
        else if (kind == "Tanh") activation.kind = Kind::tanh;
        else if (kind == "Sigmoid") activation.kind = Kind::sigmoid;
        else if (kind == "SiLU") activation.kind = Kind::silu;
        else if (kind == "Identity") activation.kind = Kind::identity;
        else if (kind == "Softplus") {
            activation.kind = Kind::softplus;
            activation.parameter = attribute_or(child.value, "beta", 1.0);
            activation.threshold = attribute_or(child.value, "threshold", 20.0);
        } else if (kind == "ELU") {
            activation.kind = Kind::elu;
            activation.parameter = attribute_or(child.value, "alpha", 1.0);
        } else if (kind == "LeakyReLU") {
            activation.kind = Kind::leaky_relu;
            activation.parameter = attribute_or(child.value, "negative_slope", 0.01);
        } else {
            return "layer \"" + child.name + "\" is a " + kind +
                   ", which is neither nn.Linear nor an elementwise activation (ReLU, Tanh, Sigmoid, SiLU, "
                   "Softplus, ELU, LeakyReLU, Identity)";
        }
        if (impl.activations.empty() || impl.activations.back().kind != Kind::identity) {
            return "layer \"" + child.name + "\" (" + kind + ") does not follow an nn.Linear layer";
        }
        impl.activations.back() = activation;
    }
    if (impl.stack_tensors.weights.empty()) return "the nn.Sequential has no nn.Linear layer";
    finish_stack(impl, names);
    return "";
}

// The stack read from the module's children must compute what the module's forward computes;
// a traced module may have constants (e.g. a Softplus beta) that the children do not expose.
bool stack_matches_module(FisherModel::Impl& impl) {
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::arange(4 * impl.input_dim, torch::kFloat64).view({4, impl.input_dim}).sin() * 2;
    torch::Tensor expected;
    try {
        impl.module.to(torch::kFloat64);
        expected = impl.module.forward({x}).toTensor();
    } catch (const c10::Error&) {
        return false;
    }
    impl.module_dtype = torch::kFloat64;
    torch::Tensor got = forward_stack(impl, impl.stack_tensors, x).output;
    return got.sizes() == expected.sizes() && torch::allclose(got, expected, 1e-9, 1e-12);
}

FisherModel::Impl load_torchscript(const std::string& path) {
    FisherModel::Impl impl;
    impl.source = path;
    try {
        impl.module = torch::jit::load(path);
    } catch (const c10::Error& e) {
        std::string message = e.what_without_backtrace();
        throw Error(describe("cannot load TorchScript module", path, message.substr(0, message.find('\n')),
                             "save it with torch.jit.script(model).save(path) or torch.jit.trace"));
    }
    impl.module.eval();
    for (const auto& parameter : impl.module.named_parameters()) {
        add_parameter(impl.parameters, parameter.name, parameter.value);
        impl.module_parameters.push_back(parameter.value);
    }
    if (impl.parameters.empty()) {
        throw Error(describe("cannot compute the Fisher information of", path,
                             "the TorchScript module has no parameters (torch.jit.freeze turns them into constants)",
                             "save the module without torch.jit.freeze, e.g. torch.jit.script(model).save(path)"));
    }
    if (impl.module.hasattr("dim") && impl.module.attr("dim").isInt()) {
        impl.input_dim = static_cast<int>(impl.module.attr("dim").toInt());
    }

    std::vector<ParameterInfo> module_parameters = impl.parameters;
    impl.kfac_obstacle = read_sequential(impl);
    if (impl.kfac_obstacle.empty() && !stack_matches_module(impl)) {
        impl.kfac_obstacle = "the module's forward does not compute the stack of its children";
    }
    if (!impl.kfac_obstacle.empty()) {
        impl.stack = false;
        impl.stack_tensors = {};
        impl.activations.clear();
        impl.parameters = module_parameters;
    }
    return impl;
}

FisherModel::Impl load_mlp_file(const std::string& path) {
    Hdf5Reader file(path);
    if (!file.has_attribute("/model", "kind") || file.read_string_attribute("/model", "kind") != "mlp-score") {
        throw Error(describe("cannot read model", path, "not an MLP model file (no /model with kind mlp-score)",
                             "give a model file written by score-train or a TorchScript .pt file"));
    }
    MlpScoreFile model = read_mlp_model(file);
    FisherModel::Impl impl;
    impl.source = path;
    auto shapes = model.parameters.architecture.layer_shapes();
    std::vector<std::string> names;
    for (size_t layer = 0; layer < shapes.size(); ++layer) {
        auto [out, in] = shapes[layer];
        const auto& w = model.parameters.tensors[2 * layer];
        const auto& b = model.parameters.tensors[2 * layer + 1];
        impl.stack_tensors.weights.push_back(
            torch::from_blob(const_cast<float*>(w.data()), {out, in}, torch::kFloat32).to(torch::kFloat64));
        impl.stack_tensors.biases.push_back(
            torch::from_blob(const_cast<float*>(b.data()), {out}, torch::kFloat32).to(torch::kFloat64));
        bool last = layer + 1 == shapes.size();
        impl.activations.push_back(parse_elementwise_activation(
            last ? "identity" : to_string(model.parameters.architecture.activation)));
        names.push_back("layers." + std::to_string(layer));
    }
    finish_stack(impl, names);
    impl.score_model = true;
    return impl;
}

}  // namespace

FisherModel FisherModel::load(const std::string& path) {
    FILE* probe = std::fopen(path.c_str(), "rb");
    if (!probe) {
        throw Error(describe("cannot open model", path, std::strerror(errno),
                             "give a TorchScript .pt file or an MLP model file from score-train"));
    }
    std::fclose(probe);
    FisherModel model;
    if (has_zip_magic(path)) {
        model.impl_ = std::make_shared<Impl>(load_torchscript(path));
    } else if (has_hdf5_signature(path)) {
        model.impl_ = std::make_shared<Impl>(load_mlp_file(path));
    } else {
        throw Error(describe("cannot read model", path, "neither a TorchScript archive nor an HDF5 model file",
                             "give a file saved by torch.jit.save or a model file from score-train"));
    }
    return model;
}

FisherModel FisherModel::linear_stack(const std::vector<LinearLayerSpec>& layers) {
    if (layers.empty()) throw UsageError(describe("invalid linear stack", "0 layers", "give at least one layer"));
    FisherModel model;
    auto impl = std::make_shared<Impl>();
    impl->source = "linear stack";
    std::vector<std::string> names;
    for (size_t layer = 0; layer < layers.size(); ++layer) {
        const LinearLayerSpec& spec = layers[layer];
        if (layer > 0 && spec.weight.cols() != layers[layer - 1].weight.rows()) {
            throw UsageError(describe("invalid linear stack", "layer " + std::to_string(layer),
                                      "its input width does not match the previous layer's output width"));
        }
        if (spec.bias.size() != 0 && spec.bias.size() != spec.weight.rows()) {
            throw UsageError(describe("invalid linear stack", "layer " + std::to_string(layer),
                                      "the bias length differs from the weight's row count"));
        }
        impl->stack_tensors.weights.push_back(to_tensor(spec.weight, torch::kFloat64).clone());
        impl->stack_tensors.biases.push_back(
            spec.bias.size() ? to_tensor(RowMatrix(spec.bias.transpose()), torch::kFloat64).view({-1}).clone()
                             : torch::Tensor());
        impl->activations.push_back(parse_elementwise_activation(spec.activation));
        names.push_back(std::to_string(layer));
    }
    finish_stack(*impl, names);
    model.impl_ = impl;
    return model;
}

const std::vector<ParameterInfo>& FisherModel::parameters() const { return impl_->parameters; }
std::int64_t FisherModel::parameter_count() const { return scorekit::parameter_count(impl_->parameters); }
const std::string& FisherModel::source() const { return impl_->source; }
int FisherModel::input_dim() const { return impl_->input_dim; }
bool FisherModel::is_linear_stack() const { return impl_->stack; }
Likelihood FisherModel::default_likelihood() const {
    return impl_->score_model ? Likelihood::gaussian : Likelihood::categorical;
}
std::string FisherModel::kfac_obstacle() const { return impl_->stack ? std::string() : impl_->kfac_obstacle; }

RowMatrix FisherModel::forward(const RowMatrix& inputs) const {
    torch::NoGradGuard no_grad;
    impl_->use_dtype(torch::kFloat64);
    torch::Tensor out = impl_->forward(input_tensor(*impl_, inputs, torch::kFloat64));
    if (out.dim() == 1) out = out.unsqueeze(1);
    return to_matrix(out);
}

namespace {

std::vector<torch::Tensor> parameter_tensors(const FisherModel::Impl& impl) {
    if (!impl.stack) return impl.module_parameters;
    std::vector<torch::Tensor> tensors;
    for (size_t layer = 0; layer < impl.stack_tensors.weights.size(); ++layer) {
        tensors.push_back(impl.stack_tensors.weights[layer]);
        if (impl.stack_tensors.biases[layer].defined()) tensors.push_back(impl.stack_tensors.biases[layer]);
    }
    return tensors;
}

}  // namespace

Vector FisherModel::parameter_vector() const {
    Vector theta(parameter_count());
    std::int64_t offset = 0;
    for (const auto& t : parameter_tensors(*impl_)) {
        torch::Tensor flat = t.detach().to(torch::kFloat64).contiguous().view({-1});
        std::memcpy(theta.data() + offset, flat.data_ptr<double>(), flat.numel() * sizeof(double));
        offset += flat.numel();
    }
    return theta;
}

void FisherModel::set_parameter_vector(const Vector& theta) {
    if (theta.size() != parameter_count()) {
        throw UsageError(describe_at("invalid parameter vector", "with " + std::to_string(theta.size()) + " entries",
                                  "the model has " + std::to_string(parameter_count()) + " parameters"));
    }
    torch::NoGradGuard no_grad;
    std::int64_t offset = 0;
    for (auto& t : parameter_tensors(*impl_)) {
        torch::Tensor source = torch::from_blob(const_cast<double*>(theta.data() + offset), t.sizes(), torch::kFloat64);
        t.copy_(source);
        offset += t.numel();
    }
}

}  // namespace scorekit
