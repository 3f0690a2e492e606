#include "mlp_network.hpp"

namespace scorekit {

torch::Tensor activate(const torch::Tensor& pre, Activation activation) {
    switch (activation) {
        case Activation::softplus: return torch::softplus(pre);
        case Activation::silu: return torch::silu(pre);
        case Activation::tanh: return torch::tanh(pre);
        case Activation::elu: return torch::elu(pre);
    }
    return pre;
}

torch::Tensor activation_derivative(const torch::Tensor& pre, Activation activation) {
    switch (activation) {
        case Activation::softplus: return torch::sigmoid(pre);
        case Activation::silu: {
            torch::Tensor sig = torch::sigmoid(pre);
            return sig * (1 + pre * (1 - sig));
        }
        case Activation::tanh: {
            torch::Tensor t = torch::tanh(pre);
            return 1 - t * t;
        }
        case Activation::elu: return torch::where(pre > 0, torch::ones_like(pre), torch::exp(pre));
    }
    return torch::ones_like(pre);
}

MlpNetwork MlpNetwork::from_parameters(const MlpParameters& parameters, torch::Tensor flat) {
    MlpNetwork network;
    network.architecture = parameters.architecture;
    auto shapes = parameters.architecture.layer_shapes();
    std::int64_t offset = 0;
    for (size_t layer = 0; layer < shapes.size(); ++layer) {
        auto [out, in] = shapes[layer];
        const auto& w = parameters.tensors[2 * layer];
        const auto& b = parameters.tensors[2 * layer + 1];
        torch::Tensor weight, bias;
        if (flat.defined()) {
            weight = flat.narrow(0, offset, out * in).view({out, in});
            offset += out * in;
            bias = flat.narrow(0, offset, out);
            offset += out;
        } else {
            weight = torch::empty({out, in}, torch::kFloat32);
            bias = torch::empty({out}, torch::kFloat32);
        }
        std::memcpy(weight.data_ptr<float>(), w.data(), w.size() * sizeof(float));
        std::memcpy(bias.data_ptr<float>(), b.data(), b.size() * sizeof(float));
        network.weights.push_back(weight);
        network.biases.push_back(bias);
    }
    return network;
}

MlpParameters MlpNetwork::to_parameters() const {
    MlpParameters parameters;
    parameters.architecture = architecture;
    for (size_t layer = 0; layer < weights.size(); ++layer) {
        for (const torch::Tensor* t : {&weights[layer], &biases[layer]}) {
            torch::Tensor c = t->detach().contiguous();
            const float* p = c.data_ptr<float>();
            parameters.tensors.emplace_back(p, p + c.numel());
        }
    }
    return parameters;
}

torch::Tensor MlpNetwork::forward(const torch::Tensor& input) const {
    torch::Tensor h = input;
    const size_t last = weights.size() - 1;
    for (size_t layer = 0; layer < last; ++layer) {
        h = activate(torch::addmm(biases[layer], h, weights[layer].t()), architecture.activation);
    }
    return torch::addmm(biases[last], h, weights[last].t());
}

torch::Tensor network_input(const torch::Tensor& z, const torch::Tensor& sigma) {
    return torch::cat({z, sigma.log().unsqueeze(1)}, 1);
}

}  // namespace scorekit
