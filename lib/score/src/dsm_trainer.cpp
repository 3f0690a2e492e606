#include "dsm_trainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "scorekit/simd_activation.hpp"

namespace scorekit {

DsmTrainer::DsmTrainer(const MlpParameters& initial, std::vector<double> sigmas, std::int64_t batch_size,
                       AdamSettings adam, double ema_decay)
    : adam_(adam), ema_decay_(ema_decay), batch_(batch_size), global_batch_(batch_size) {
    const MlpArchitecture& a = initial.architecture;
    const std::int64_t count = a.parameter_count();
    params_ = torch::empty({count}, torch::kFloat32);
    grads_ = torch::zeros({count}, torch::kFloat32);
    network_ = MlpNetwork::from_parameters(initial, params_);
    gradient_ = MlpNetwork::from_parameters(initial, grads_);
    m_ = torch::zeros({count}, torch::kFloat32);
    v_ = torch::zeros({count}, torch::kFloat32);
    denominator_ = torch::empty({count}, torch::kFloat32);
    if (ema_decay_ > 0) ema_ = params_.clone();

    sigmas_ = torch::tensor(sigmas, torch::kFloat64).to(torch::kFloat32);
    log_sigmas_ = sigmas_.log();
    input_ = torch::empty({batch_, a.dim + 1}, torch::kFloat32);
    for (int layer = 0; layer < a.depth; ++layer) {
        pre_.push_back(torch::empty({batch_, a.width}, torch::kFloat32));
        hidden_.push_back(torch::empty({batch_, a.width}, torch::kFloat32));
        if (a.activation == Activation::softplus) slope_.push_back(torch::empty({batch_, a.width}, torch::kFloat32));
    }
    output_ = torch::empty({batch_, a.dim}, torch::kFloat32);
    delta_ = torch::empty({batch_, a.dim}, torch::kFloat32);
    for (torch::Tensor& buffer : delta_hidden_) buffer = torch::empty({batch_, a.width}, torch::kFloat32);
}

// Fills input_ = [x + sigma u, log sigma] and runs the network, keeping pre-activations.
void DsmTrainer::forward(const torch::Tensor& x, const torch::Tensor& level, const torch::Tensor& noise) {
    const int d = network_.architecture.dim;
    torch::Tensor sigma = sigmas_.index_select(0, level).unsqueeze(1);
    torch::Tensor perturbed = input_.narrow(1, 0, d);
    at::addcmul_out(perturbed, x, noise, sigma);
    input_.narrow(1, d, 1).copy_(log_sigmas_.index_select(0, level).unsqueeze(1));

    torch::Tensor h = input_;
    const size_t last = network_.weights.size() - 1;
    for (size_t layer = 0; layer < last; ++layer) {
        at::addmm_out(pre_[layer], network_.biases[layer], h, network_.weights[layer].t());
        switch (network_.architecture.activation) {
            case Activation::softplus:
                activate(Activation::softplus, pre_[layer].data_ptr<float>(), hidden_[layer].data_ptr<float>(),
                         slope_[layer].data_ptr<float>(), static_cast<std::size_t>(pre_[layer].numel()));
                break;
            case Activation::silu: at::silu_out(hidden_[layer], pre_[layer]); break;
            case Activation::tanh: at::tanh_out(hidden_[layer], pre_[layer]); break;
            case Activation::elu: at::elu_out(hidden_[layer], pre_[layer]); break;
        }
        h = hidden_[layer];
    }
    at::addmm_out(output_, network_.biases[last], h, network_.weights[last].t());
}

double DsmTrainer::step(const torch::Tensor& x, const torch::Tensor& level, const torch::Tensor& noise,
                        double learning_rate, std::int64_t step) {
    forward(x, level, noise);

    // loss = (1/B) sum ||f + u||^2, so dloss/df = (2/B)(f + u), with B the global batch.
    at::add_out(delta_, output_, noise);
    double loss = delta_.pow(2).sum().item<double>() / global_batch_;
    delta_.mul_(2.0 / global_batch_);

    const size_t last = network_.weights.size() - 1;
    torch::Tensor delta = delta_;
    for (size_t layer = last + 1; layer-- > 0;) {
        const torch::Tensor& below = layer == 0 ? input_ : hidden_[layer - 1];
        at::mm_out(gradient_.weights[layer], delta.t(), below);
        at::sum_out(gradient_.biases[layer], delta, {0});
        if (layer == 0) break;
        // at::mm_out does not support an output that aliases an input: with LibTorch 1.13 and
        // OpenBLAS it returned wrong products at width 128 (right ones at 16), so consecutive
        // layers alternate between two buffers.
        torch::Tensor& next = delta.is_same(delta_hidden_[0]) ? delta_hidden_[1] : delta_hidden_[0];
        at::mm_out(next, delta, network_.weights[layer]);
        if (network_.architecture.activation == Activation::softplus) {
            next.mul_(slope_[layer - 1]);
        } else {
            next.mul_(activation_derivative(pre_[layer - 1], network_.architecture.activation));
        }
        delta = next;
    }

    if (reduce_) loss = reduce_(grads_, loss);

    // Adam (Kingma and Ba 2015) with the bias corrections arranged as in torch.optim.Adam.
    const double correction1 = 1 - std::pow(adam_.beta1, static_cast<double>(step));
    const double correction2 = 1 - std::pow(adam_.beta2, static_cast<double>(step));
    m_.mul_(adam_.beta1).add_(grads_, 1 - adam_.beta1);
    v_.mul_(adam_.beta2).addcmul_(grads_, grads_, 1 - adam_.beta2);
    at::sqrt_out(denominator_, v_);
    denominator_.div_(std::sqrt(correction2)).add_(adam_.eps);
    params_.addcdiv_(m_, denominator_, -learning_rate / correction1);

    if (ema_decay_ > 0) {
        // The warm-up (1 + t) / (10 + t) keeps early averages from being dominated by the
        // random initial weights, as in TensorFlow's ExponentialMovingAverage.
        double decay = std::min(ema_decay_, (1.0 + step) / (10.0 + step));
        ema_.mul_(decay).add_(params_, 1 - decay);
    }
    return loss;
}

void DsmTrainer::set_gradient_reduction(std::int64_t global_batch, GradientReduction reduce) {
    global_batch_ = global_batch;
    reduce_ = std::move(reduce);
}

double DsmTrainer::evaluate(const torch::Tensor& x, const torch::Tensor& level, const torch::Tensor& noise,
                            bool averaged) {
    torch::NoGradGuard no_grad;
    MlpNetwork network = averaged && ema_decay_ > 0 ? MlpNetwork::from_parameters(parameters(true)) : network_;
    torch::Tensor sigma = sigmas_.index_select(0, level).unsqueeze(1);
    torch::Tensor input = torch::cat({x + sigma * noise, log_sigmas_.index_select(0, level).unsqueeze(1)}, 1);
    torch::Tensor residual = network.forward(input) + noise;
    return residual.pow(2).sum().item<double>() / x.size(0);
}

MlpParameters DsmTrainer::parameters(bool averaged) const {
    if (!averaged || ema_decay_ <= 0) return network_.to_parameters();
    MlpParameters result = network_.to_parameters();
    const float* p = ema_.data_ptr<float>();
    for (auto& tensor : result.tensors) {
        std::copy(p, p + tensor.size(), tensor.begin());
        p += tensor.size();
    }
    return result;
}

}  // namespace scorekit
