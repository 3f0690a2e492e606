// The MLP as LibTorch tensors (private to the score layer). The forward pass uses plain tensor
// operations, so autograd can differentiate it when its input requires grad.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "scorekit/mlp_score.hpp"

namespace scorekit {

torch::Tensor activate(const torch::Tensor& pre, Activation activation);

// Derivative of the activation at the pre-activation values.
torch::Tensor activation_derivative(const torch::Tensor& pre, Activation activation);

struct MlpNetwork {
    MlpArchitecture architecture;
    std::vector<torch::Tensor> weights;  // [out, in], float32
    std::vector<torch::Tensor> biases;   // [out]

    // Builds tensors that share memory with `flat` (one contiguous float32 buffer), or own
    // their storage when `flat` is undefined.
    static MlpNetwork from_parameters(const MlpParameters& parameters, torch::Tensor flat = {});
    MlpParameters to_parameters() const;

    // input [N, D + 1] = [z, log sigma]; returns [N, D] = sigma * s_z.
    torch::Tensor forward(const torch::Tensor& input) const;
};

// The network input [z, log sigma] for standardised points z [N, D] and one sigma per row [N].
torch::Tensor network_input(const torch::Tensor& z, const torch::Tensor& sigma);

}  // namespace scorekit
