// The denoising score matching step for the MLP with a hand-written backward pass and Adam
// over one flat parameter buffer (private to the score layer).
//
// Autograd and a per-tensor optimizer cost more than the arithmetic at toy sizes. Here every
// buffer is allocated once, gradients are written straight into a flat buffer, and Adam and the
// weight average are a handful of vectorised operations over all parameters at once.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "mlp_network.hpp"

namespace scorekit {

struct AdamSettings {
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class DsmTrainer {
public:
    DsmTrainer(const MlpParameters& initial, std::vector<double> sigmas, std::int64_t batch_size, AdamSettings adam,
               double ema_decay);

    // One optimisation step on the batch `x` [B, D] (standardised) with per-example level
    // indices `level` [B] (int64) and standard normal `noise` [B, D]. `step` counts from 1.
    // Returns the batch loss before the update.
    double step(const torch::Tensor& x, const torch::Tensor& level, const torch::Tensor& noise, double learning_rate,
                std::int64_t step);

    // Sums the gradients of all data-parallel ranks in place; receives this rank's share of the
    // loss and returns the summed loss.
    using GradientReduction = std::function<double(torch::Tensor& gradients, double loss)>;

    // Turns step() into one rank's part of a data-parallel step. The batch given to step() is
    // this rank's slice of a global batch of `global_batch` examples, so loss and gradients are
    // divided by `global_batch`. Then `reduce` sums the gradients over the ranks before Adam.
    void set_gradient_reduction(std::int64_t global_batch, GradientReduction reduce);

    // Mean loss of the current (or averaged) weights on fixed inputs, without updating.
    double evaluate(const torch::Tensor& x, const torch::Tensor& level, const torch::Tensor& noise, bool averaged);

    MlpParameters parameters(bool averaged) const;

    // Optimizer state for checkpoints: parameters, Adam moments, weight average (flat float32).
    torch::Tensor& flat_parameters() { return params_; }
    torch::Tensor& adam_first_moment() { return m_; }
    torch::Tensor& adam_second_moment() { return v_; }
    torch::Tensor& averaged_parameters() { return ema_; }
    bool has_average() const { return ema_decay_ > 0; }

private:
    void forward(const torch::Tensor& x, const torch::Tensor& level, const torch::Tensor& noise);

    MlpNetwork network_;           // views into params_
    MlpNetwork gradient_;          // views into grads_
    torch::Tensor params_, grads_, m_, v_, ema_, denominator_;
    torch::Tensor sigmas_, log_sigmas_;
    std::vector<torch::Tensor> pre_, hidden_;  // per layer, preallocated
    // Activation derivatives at pre_, per layer, filled by forward() for softplus only. Other
    // activations compute theirs in the backward pass.
    std::vector<torch::Tensor> slope_;
    torch::Tensor input_, output_, delta_;
    // Back-propagated deltas of the hidden layers, alternating so that no product is written into
    // its own input.
    torch::Tensor delta_hidden_[2];
    AdamSettings adam_;
    double ema_decay_;
    std::int64_t batch_;
    std::int64_t global_batch_;  // batch_ unless data-parallel
    GradientReduction reduce_;
};

}  // namespace scorekit
