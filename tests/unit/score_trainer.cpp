// The hand-written backward pass and Adam of the trainer against LibTorch autograd and torch::optim.
// LibTorch defines its own CHECK macro, so its headers come first and Catch's CHECK replaces it.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dsm_trainer.hpp"

#undef CHECK
#include <catch2/catch.hpp>

using namespace scorekit;

namespace {

MlpParameters random_parameters(MlpArchitecture a) {
    torch::manual_seed(3);
    MlpParameters p;
    p.architecture = a;
    for (auto [out, in] : a.layer_shapes()) {
        for (std::int64_t size : {static_cast<std::int64_t>(out) * in, static_cast<std::int64_t>(out)}) {
            torch::Tensor t = torch::randn({size}) * 0.3;
            p.tensors.emplace_back(t.data_ptr<float>(), t.data_ptr<float>() + size);
        }
    }
    return p;
}

// Runs three steps of DsmTrainer and of autograd with torch::optim::Adam on the same network and
// batch, and checks the losses and the parameters after the last step.
void check_against_autograd(Activation activation, int width, std::int64_t batch) {
    MlpArchitecture a{3, width, 2, activation};
    MlpParameters initial = random_parameters(a);
    std::vector<double> sigmas{2.0, 0.5, 0.1};
    torch::Tensor x = torch::randn({batch, 3});
    torch::Tensor level = torch::randint(0, 3, {batch}, torch::kInt64);
    torch::Tensor noise = torch::randn({batch, 3});

    // Reference: the same network as leaf tensors, the loss through autograd, torch's Adam.
    MlpNetwork reference = MlpNetwork::from_parameters(initial);
    std::vector<torch::Tensor> leaves;
    for (size_t i = 0; i < reference.weights.size(); ++i) {
        reference.weights[i].requires_grad_(true);
        reference.biases[i].requires_grad_(true);
        leaves.push_back(reference.weights[i]);
        leaves.push_back(reference.biases[i]);
    }
    torch::optim::Adam adam(leaves, torch::optim::AdamOptions(1e-2));
    torch::Tensor sigma = torch::tensor(sigmas, torch::kFloat64).to(torch::kFloat32).index_select(0, level);

    DsmTrainer trainer(initial, sigmas, batch, AdamSettings{}, 0.0);
    for (std::int64_t step = 1; step <= 3; ++step) {
        adam.zero_grad();
        torch::Tensor out = reference.forward(network_input(x + sigma.unsqueeze(1) * noise, sigma));
        torch::Tensor loss = (out + noise).pow(2).sum() / batch;
        loss.backward();
        adam.step();

        double ours = trainer.step(x, level, noise, 1e-2, step);
        CHECK(std::abs(ours - loss.item<double>()) < 1e-5 * (1 + std::abs(ours)));
    }
    MlpParameters after = trainer.parameters(false);
    for (size_t i = 0; i < leaves.size(); ++i) {
        torch::Tensor expected = leaves[i].detach().flatten();
        torch::Tensor got = torch::tensor(after.tensors[i]);
        INFO("activation " << to_string(activation) << ", tensor " << i);
        CHECK(torch::allclose(got, expected, 1e-4, 1e-5));
    }
}

}  // namespace

TEST_CASE("trainer step equals autograd and torch::optim::Adam", "[score][trainer]") {
    for (Activation activation : {Activation::softplus, Activation::silu, Activation::tanh, Activation::elu}) {
        check_against_autograd(activation, 16, 32);
    }
}

TEST_CASE("trainer step equals autograd at width 128", "[score][trainer]") {
    // At width 128 an aliased at::mm_out came out wrong (LibTorch 1.13, OpenBLAS); width 16 hid it.
    check_against_autograd(Activation::softplus, 128, 64);
}

TEST_CASE("fused softplus and sigmoid match double precision", "[score][trainer]") {
    // Pre-activations from -86.9 to 87 in steps of 7e-3, plus values around 0 and beyond the
    // threshold 20 where torch's softplus returns its input.
    std::vector<float> pre;
    for (int i = -86900; i <= 87000; i += 7) pre.push_back(static_cast<float>(i) * 1e-3f);
    for (float p : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 20.0f, 50.0f, -50.0f}) pre.push_back(p);
    std::vector<float> value(pre.size()), slope(pre.size());
    softplus_and_sigmoid(pre.data(), value.data(), slope.data(), static_cast<std::int64_t>(pre.size()));

    double worst_value = 0, worst_slope = 0;
    for (size_t i = 0; i < pre.size(); ++i) {
        const double p = pre[i];
        const double expected_value = std::max(p, 0.0) + std::log1p(std::exp(-std::abs(p)));
        const double expected_slope = 1 / (1 + std::exp(-p));
        worst_value = std::max(worst_value, std::abs(value[i] - expected_value) / expected_value);
        worst_slope = std::max(worst_slope, std::abs(slope[i] - expected_slope) / expected_slope);
    }
    // float32 rounding is 6e-8; the kernel takes a few rounding steps.
    CHECK(worst_value < 1e-6);
    CHECK(worst_slope < 1e-6);

    // In place: the derivative may overwrite the pre-activations.
    std::vector<float> in_place = pre;
    softplus_and_sigmoid(in_place.data(), value.data(), in_place.data(), static_cast<std::int64_t>(pre.size()));
    CHECK(in_place == slope);
}

TEST_CASE("fused softplus below the clamp stays tiny", "[score][trainer]") {
    const float pre[] = {-87.5f, -100.0f, -1e30f};
    float value[3], slope[3];
    softplus_and_sigmoid(pre, value, slope, 3);
    for (int i = 0; i < 3; ++i) {
        INFO("pre-activation " << pre[i]);
        CHECK(value[i] >= 0.0f);
        CHECK(value[i] < 2e-38f);
        CHECK(slope[i] >= 0.0f);
        CHECK(slope[i] < 2e-38f);
    }
}
