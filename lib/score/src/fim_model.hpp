// The network behind a FisherModel (private to the score layer): either a stack of linear layers
// with elementwise activations, evaluated and differentiated by hand in batches, or a general
// TorchScript module differentiated by autograd one input at a time.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "scorekit/fim.hpp"

namespace scorekit {

struct ElementwiseActivation {
    enum class Kind { identity, relu, tanh, sigmoid, softplus, silu, elu, leaky_relu };
    Kind kind = Kind::identity;
    double parameter = 1;   // softplus beta, elu alpha, leaky_relu negative slope
    double threshold = 20;  // softplus: linear above beta * x > threshold, as torch.nn.Softplus

    torch::Tensor apply(const torch::Tensor& pre) const;
    torch::Tensor derivative(const torch::Tensor& pre) const;
};

// Parses the activation names of LinearLayerSpec; throws UsageError listing them.
ElementwiseActivation parse_elementwise_activation(const std::string& name);

// Weights of a linear stack converted to one floating-point type.
struct StackTensors {
    std::vector<torch::Tensor> weights;  // [out, in]
    std::vector<torch::Tensor> biases;   // [out], undefined for a layer without bias
};

struct FisherModel::Impl {
    std::string source;
    std::vector<ParameterInfo> parameters;
    int input_dim = 0;
    bool score_model = false;  // a score-train MLP file (default likelihood gaussian)

    // Linear stack: the master copy of the parameters in float64.
    bool stack = false;
    StackTensors stack_tensors;
    std::vector<ElementwiseActivation> activations;  // applied after each layer

    // General TorchScript module.
    torch::jit::Module module;
    std::vector<torch::Tensor> module_parameters;
    torch::Dtype module_dtype = torch::kFloat32;
    std::string kfac_obstacle;

    // The stack's weights in `dtype` (copies for float32).
    StackTensors stack_in(torch::Dtype dtype) const;

    // f(x) [B, C] for x [B, D]. For a stack the result is differentiable by hand through
    // forward_stack; for a module through autograd when the parameters require grad.
    torch::Tensor forward(const torch::Tensor& x);

    // Converts the module's parameters to `dtype` (a no-op for stacks).
    void use_dtype(torch::Dtype dtype);
};

// Forward pass of a linear stack that keeps what the backward pass needs: the input of each
// layer [B, in] and each layer's pre-activation [B, out].
struct StackForward {
    std::vector<torch::Tensor> inputs;
    std::vector<torch::Tensor> pre_activations;
    torch::Tensor output;  // [B, C]
};

StackForward forward_stack(const FisherModel::Impl& model, const StackTensors& tensors, const torch::Tensor& x);

// Throws Error when the inputs' width differs from the model's input width (when it is known).
void check_input_width(const FisherModel::Impl& model, const RowMatrix& inputs);

// Checks the input width and converts inputs to a tensor of `dtype`.
torch::Tensor input_tensor(const FisherModel::Impl& model, const RowMatrix& inputs, torch::Dtype dtype);

}  // namespace scorekit
