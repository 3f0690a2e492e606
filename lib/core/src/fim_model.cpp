#include "fim_model.hpp"

#include <cerrno>
#include <cstring>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/mlp_model.hpp"
#include "scorekit/points.hpp"
#include "scorekit/text_input.hpp"
#include "torch_layer.hpp"
#include "torchscript_archive.hpp"

namespace scorekit {

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

RowMatrix forward_stack(const FisherModel::Impl& model, const RowMatrix& x) {
    RowMatrix h = x;
    for (std::size_t layer = 0; layer < model.weights.size(); ++layer) {
        RowMatrix pre = h * model.weights[layer].transpose();
        if (model.has_bias(layer)) pre.rowwise() += model.biases[layer].transpose();
        const ElementwiseActivation& f = model.activations[layer];
        h = pre.unaryExpr([&f](double value) { return activate(f, value); });
    }
    return h;
}

// Throws Error when an input table of `rows` rows and `columns` columns does not have the model's
// known input width. A table stored transposed has as many rows as the model has inputs, so that
// case gets the advice to transpose.
static void check_table_width(const FisherModel::Impl& model, Eigen::Index rows, Eigen::Index columns) {
    if (model.input_dim == 0 || columns == model.input_dim) return;
    const bool transposed = rows == model.input_dim;
    throw Error(describe("inputs do not fit the model", model.source,
                         "inputs have " + std::to_string(columns) + " columns, the model takes " +
                             std::to_string(model.input_dim),
                         "give inputs of the model's input width" +
                             (transposed ? ", or, " + transposed_table_advice() : std::string())));
}

void check_input_width(const FisherModel::Impl& model, const RowMatrix& inputs) {
    check_table_width(model, inputs.rows(), inputs.cols());
}

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

namespace {

std::string owning_layer(const std::string& name) {
    size_t dot = name.rfind('.');
    return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

void add_parameter(std::vector<ParameterInfo>& parameters, const std::string& name,
                   const std::vector<std::int64_t>& shape) {
    ParameterInfo info;
    info.name = name;
    info.shape = shape;
    info.offset = parameter_count(parameters);
    info.size = 1;
    for (auto extent : shape) info.size *= extent;
    info.layer = owning_layer(name);
    parameters.push_back(info);
}

// Registers the stack's tensors under `names[layer]` ("<layer>.weight", "<layer>.bias"), with
// the file's dtypes when `dtypes` has one per tensor.
void finish_stack(FisherModel::Impl& impl, const std::vector<std::string>& layer_names,
                  const std::vector<std::string>& dtypes = {}) {
    impl.stack = true;
    impl.parameters.clear();
    for (size_t layer = 0; layer < impl.weights.size(); ++layer) {
        const RowMatrix& w = impl.weights[layer];
        add_parameter(impl.parameters, layer_names[layer] + ".weight", {w.rows(), w.cols()});
        if (impl.has_bias(layer)) add_parameter(impl.parameters, layer_names[layer] + ".bias", {w.rows()});
    }
    if (dtypes.size() == impl.parameters.size()) {
        for (size_t i = 0; i < dtypes.size(); ++i) impl.parameters[i].dtype = dtypes[i];
    }
    impl.input_dim = static_cast<int>(impl.weights.front().cols());
}

double attribute_or(const SequentialChild& child, const std::string& name, double fallback) {
    auto found = child.attributes.find(name);
    return found == child.attributes.end() ? fallback : found->second;
}

// Reads the children of an nn.Sequential as a linear stack. Returns an empty string on success,
// otherwise the reason (naming the layer) why the module is not such a stack.
std::string read_sequential(FisherModel::Impl& impl, const std::vector<SequentialChild>& children) {
    using Kind = ElementwiseActivation::Kind;
    std::vector<std::string> names, dtypes;
    for (const auto& child : children) {
        const std::string& kind = child.kind;
        if (kind == "Linear") {
            impl.weights.push_back(child.weight);
            impl.biases.push_back(child.has_bias ? child.bias : Vector());
            impl.activations.emplace_back();
            names.push_back(child.name);
            dtypes.push_back(child.weight_dtype);
            if (child.has_bias) dtypes.push_back(child.bias_dtype);
            continue;
        }
        // fim evaluates the module (dropout off) on inputs [N, D], where Flatten changes nothing.
        if (kind == "Dropout" || kind == "Flatten") continue;
        ElementwiseActivation activation;
        if (kind == "ReLU") activation.kind = Kind::relu;
        else if (kind == "Tanh") activation.kind = Kind::tanh;
        else if (kind == "Sigmoid") activation.kind = Kind::sigmoid;
        else if (kind == "SiLU") activation.kind = Kind::silu;
        else if (kind == "Identity") activation.kind = Kind::identity;
        else if (kind == "Softplus") {
            activation.kind = Kind::softplus;
            activation.parameter = attribute_or(child, "beta", 1.0);
            activation.threshold = attribute_or(child, "threshold", 20.0);
        } else if (kind == "ELU") {
            activation.kind = Kind::elu;
            activation.parameter = attribute_or(child, "alpha", 1.0);
        } else if (kind == "LeakyReLU") {
            activation.kind = Kind::leaky_relu;
            activation.parameter = attribute_or(child, "negative_slope", 0.01);
        } else {
            return "layer \"" + child.name + "\" is a " + kind +
                   ", which is neither nn.Linear nor an elementwise activation (ReLU, Tanh, Sigmoid, SiLU, "
                   "Softplus, ELU, LeakyReLU, Identity) nor Dropout or Flatten";
        }
        if (impl.activations.empty() || impl.activations.back().kind != Kind::identity) {
            return "layer \"" + child.name + "\" (" + kind + ") does not follow an nn.Linear layer";
        }
        impl.activations.back() = activation;
    }
    if (impl.weights.empty()) return "the nn.Sequential has no nn.Linear layer";
    finish_stack(impl, names, dtypes);
    return "";
}

void clear_stack(FisherModel::Impl& impl) {
    impl.stack = false;
    impl.weights.clear();
    impl.biases.clear();
    impl.activations.clear();
}

// The widths of consecutive layers fit, which LibTorch's path checks by running the module.
bool widths_fit(const FisherModel::Impl& impl) {
    for (std::size_t layer = 1; layer < impl.weights.size(); ++layer) {
        if (impl.weights[layer].cols() != impl.weights[layer - 1].rows()) return false;
    }
    return true;
}

// The stack read from the module's children must compute what the module's forward computes;
// a traced module may have constants (e.g. a Softplus beta) that the children do not expose.
bool stack_matches_module(FisherModel::Impl& impl) {
    if (!widths_fit(impl)) return false;
    RowMatrix x(4, impl.input_dim);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = 2 * std::sin(static_cast<double>(i));
    RowMatrix expected;
    try {
        expected = impl.module->forward(x, /*single_precision=*/false);
    } catch (const Error&) {
        return false;
    }
    RowMatrix got = forward_stack(impl, x);
    if (got.rows() != expected.rows() || got.cols() != expected.cols()) return false;
    // torch.allclose(got, expected, rtol 1e-9, atol 1e-12)
    return ((got - expected).array().abs() <= 1e-12 + 1e-9 * expected.array().abs()).all();
}

// A TorchScript file through LibTorch: the torch layer loads the module, and an nn.Sequential of
// linear layers and elementwise activations becomes a stack when it computes what its children do.
FisherModel::Impl load_with_torch(const std::string& path, int threads) {
    auto backend = reinterpret_cast<FisherBackend (*)()>(torch_layer_symbol("scorekit_fisher_backend_v1", path, threads));
    FisherModel::Impl impl;
    impl.source = path;
    impl.module = backend()(path);
    impl.parameters = impl.module->parameters();
    impl.input_dim = impl.module->input_dim();

    const std::string type = impl.module->type_name();
    impl.kfac_obstacle = type == "Sequential"
                             ? read_sequential(impl, impl.module->children())
                             : "the module is a " + type +
                                   ", not an nn.Sequential of linear layers and elementwise activations";
    // A layer used twice (or two layers holding one tensor) would become two layers with their own
    // parameters, where the module lists the shared parameters once.
    if (impl.kfac_obstacle.empty() && parameter_count(impl.parameters) != parameter_count(impl.module->parameters())) {
        impl.kfac_obstacle = "the module shares parameters between layers";
    }
    if (impl.kfac_obstacle.empty() && !stack_matches_module(impl)) {
        impl.kfac_obstacle = "the module's forward does not compute the stack of its children";
    }
    if (impl.kfac_obstacle.empty()) {
        impl.module.reset();
        return impl;
    }
    clear_stack(impl);
    impl.parameters = impl.module->parameters();
    impl.input_dim = impl.module->input_dim();
    return impl;
}

FisherModel::Impl load_torchscript(const std::string& path, int threads) {
    reject_torch_save_file(path);
    ArchiveSequential archive = read_archive_sequential(path);
    if (archive.rejection.empty()) {
        FisherModel::Impl impl;
        impl.source = path;
        const std::string reason = read_sequential(impl, archive.children);
        if (reason.empty() && widths_fit(impl)) {
            log_verbose("read " + path + " as a linear stack without LibTorch");
            return impl;
        }
        archive.rejection = reason.empty() ? "the layers' widths do not fit" : reason;
    }
    log_verbose("loading " + path + " with LibTorch: " + archive.rejection);
    return load_with_torch(path, threads);
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
    using FloatMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    for (size_t layer = 0; layer < shapes.size(); ++layer) {
        auto [out, in] = shapes[layer];
        const auto& w = model.parameters.tensors[2 * layer];
        const auto& b = model.parameters.tensors[2 * layer + 1];
        impl.weights.push_back(Eigen::Map<const FloatMatrix>(w.data(), out, in).cast<double>());
        impl.biases.push_back(Eigen::Map<const Eigen::VectorXf>(b.data(), out).cast<double>());
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

FisherModel FisherModel::load(const std::string& path, int threads) {
    // TorchScript and HDF5 files are read by seeking, which a pipe cannot do.
    if (is_pipe_or_device(path)) {
        throw Error(describe("cannot read model", path, "it is a pipe or device, and a model file is read by seeking",
                             "give the name of the model file itself"));
    }
    FILE* probe = std::fopen(path.c_str(), "rb");
    if (!probe) {
        throw Error(describe("cannot open model", path, std::strerror(errno),
                             "give a TorchScript .pt file or an MLP model file from score-train"));
    }
    std::fclose(probe);
    FisherModel model;
    if (has_zip_magic(path)) {
        model.impl_ = std::make_shared<Impl>(load_torchscript(path, threads));
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
        impl->weights.push_back(spec.weight);
        impl->biases.push_back(spec.bias);
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

void FisherModel::check_input_table(const std::string& source, Eigen::Index rows, Eigen::Index columns) const {
    if (impl_->input_dim == 0) {
        warn_if_transposed(source, rows, columns);
    } else {
        check_table_width(*impl_, rows, columns);
    }
}

RowMatrix FisherModel::forward(const RowMatrix& inputs) const {
    check_input_width(*impl_, inputs);
    if (impl_->stack) return forward_stack(*impl_, inputs);
    return impl_->module->forward(inputs, /*single_precision=*/false);
}

Vector FisherModel::parameter_vector() const {
    if (!impl_->stack) return impl_->module->parameter_vector();
    Vector theta(parameter_count());
    std::int64_t offset = 0;
    for (size_t layer = 0; layer < impl_->weights.size(); ++layer) {
        const RowMatrix& w = impl_->weights[layer];
        std::copy_n(w.data(), w.size(), theta.data() + offset);
        offset += w.size();
        const Vector& b = impl_->biases[layer];
        std::copy_n(b.data(), b.size(), theta.data() + offset);
        offset += b.size();
    }
    return theta;
}

void FisherModel::set_parameter_vector(const Vector& theta) {
    if (theta.size() != parameter_count()) {
        throw UsageError(describe_at("invalid parameter vector", "with " + std::to_string(theta.size()) + " entries",
                                  "the model has " + std::to_string(parameter_count()) + " parameters"));
    }
    if (!impl_->stack) return impl_->module->set_parameter_vector(theta);
    std::int64_t offset = 0;
    for (size_t layer = 0; layer < impl_->weights.size(); ++layer) {
        RowMatrix& w = impl_->weights[layer];
        std::copy_n(theta.data() + offset, w.size(), w.data());
        offset += w.size();
        Vector& b = impl_->biases[layer];
        std::copy_n(theta.data() + offset, b.size(), b.data());
        offset += b.size();
    }
}

}  // namespace scorekit
