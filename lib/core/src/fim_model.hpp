// The network behind a FisherModel (private to the core layer). It is either a stack of linear
// layers with elementwise activations, evaluated and differentiated by hand on plain arrays, or
// a general TorchScript module that the torch layer differentiates by autograd (fim_backend.hpp).
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "scorekit/fim.hpp"
#include "scorekit/fim_backend.hpp"

namespace scorekit {

struct ElementwiseActivation {
    enum class Kind { identity, relu, tanh, sigmoid, softplus, silu, elu, leaky_relu };
    Kind kind = Kind::identity;
    double parameter = 1;   // softplus beta, elu alpha, leaky_relu negative slope
    double threshold = 20;  // softplus: linear above beta * x > threshold, as torch.nn.Softplus
};

// Parses the activation names of LinearLayerSpec; throws UsageError listing them.
ElementwiseActivation parse_elementwise_activation(const std::string& name);

// The activations as scalar functions, with the same formulas as torch.nn's modules.
template <typename T>
T activate(const ElementwiseActivation& a, T x) {
    using Kind = ElementwiseActivation::Kind;
    const T parameter = static_cast<T>(a.parameter);
    switch (a.kind) {
        case Kind::identity: return x;
        case Kind::relu: return x > 0 ? x : T(0);
        case Kind::tanh: return std::tanh(x);
        case Kind::sigmoid: return 1 / (1 + std::exp(-x));
        case Kind::softplus: return parameter * x > a.threshold ? x : std::log1p(std::exp(parameter * x)) / parameter;
        case Kind::silu: return x / (1 + std::exp(-x));
        case Kind::elu: return x > 0 ? x : parameter * std::expm1(x);
        case Kind::leaky_relu: return x > 0 ? x : parameter * x;
    }
    return x;
}

template <typename T>
T derivative(const ElementwiseActivation& a, T x) {
    using Kind = ElementwiseActivation::Kind;
    const T parameter = static_cast<T>(a.parameter);
    switch (a.kind) {
        case Kind::identity: return 1;
        case Kind::relu: return x > 0 ? T(1) : T(0);
        case Kind::tanh: {
            const T t = std::tanh(x);
            return 1 - t * t;
        }
        case Kind::sigmoid: {
            const T s = 1 / (1 + std::exp(-x));
            return s * (1 - s);
        }
        case Kind::softplus: return parameter * x > a.threshold ? T(1) : 1 / (1 + std::exp(-parameter * x));
        case Kind::silu: {
            const T s = 1 / (1 + std::exp(-x));
            return s * (1 + x * (1 - s));
        }
        case Kind::elu: return x > 0 ? T(1) : parameter * std::exp(x);
        case Kind::leaky_relu: return x > 0 ? T(1) : parameter;
    }
    return 1;
}

struct FisherModel::Impl {
    std::string source;
    std::vector<ParameterInfo> parameters;
    int input_dim = 0;
    bool score_model = false;  // a score-train MLP file (default likelihood gaussian)

    // Linear stack: the master copy of the parameters in float64.
    bool stack = false;
    std::vector<RowMatrix> weights;  // [out, in]
    std::vector<Vector> biases;      // [out]; empty for a layer without bias
    std::vector<ElementwiseActivation> activations;  // applied after each layer

    // General TorchScript module, loaded by the torch layer.
    std::shared_ptr<FisherModule> module;
    std::string kfac_obstacle;

    bool has_bias(std::size_t layer) const { return biases[layer].size() > 0; }
};

// f(x) [B, C] of a linear stack in float64.
RowMatrix forward_stack(const FisherModel::Impl& model, const RowMatrix& x);

// Throws Error when the inputs' width differs from the model's input width (when it is known).
void check_input_width(const FisherModel::Impl& model, const RowMatrix& inputs);

// A contiguous range of theta that forms one block of the block representation.
struct BlockRange {
    std::string name;
    std::int64_t offset = 0, size = 0;
};

std::vector<BlockRange> block_ranges(const std::vector<ParameterInfo>& parameters, BlockGrouping grouping);

}  // namespace scorekit
