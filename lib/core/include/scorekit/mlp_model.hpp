// The noise-conditional MLP score model that score-train fits and writes, and its evaluation
// without LibTorch.
//
// Network: input [z, log sigma] (D + 1 values) -> `depth` hidden layers of `width` units with the
// chosen activation -> D outputs. The output is sigma * s_z(z, sigma), the score in standardised
// coordinates z = (x - mean) / std scaled by the noise level, which keeps the regression target
// of denoising score matching at unit scale for every sigma. Parameters are named as PyTorch names
// an nn.ModuleList called `layers`: layers.<i>.weight [out, in] and layers.<i>.bias [out].
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "scorekit/score_model.hpp"
#include "scorekit/simd_activation.hpp"

namespace scorekit {

class Hdf5Reader;
class Hdf5Writer;

struct MlpArchitecture {
    int dim = 2;
    int width = 128;
    int depth = 2;  // hidden layers
    Activation activation = Activation::softplus;

    // Shapes [out, in] of the linear layers in order.
    std::vector<std::pair<int, int>> layer_shapes() const;
    std::int64_t parameter_count() const;
};

// Parameters of the network as plain float32 arrays in layer order (weight, bias, weight, ...).
struct MlpParameters {
    MlpArchitecture architecture;
    std::vector<std::vector<float>> tensors;
};

// A trained model: network, noise levels and the data standardisation.
struct MlpScoreFile {
    MlpParameters parameters;
    std::vector<double> sigmas;  // largest first, standardised units
    Vector data_mean, data_std;
};

void write_mlp_model(Hdf5Writer& file, const MlpScoreFile& model);

// Reads the /model group of an mlp-score file. Throws Error naming the file when attributes or
// tensor shapes are inconsistent.
MlpScoreFile read_mlp_model(const Hdf5Reader& file);

// Builds the ScoreModel of a trained MLP, evaluated in float32 on the CPU without LibTorch.
// Each call splits its points into row blocks on up to `threads` threads. score_jvp, score_vjp
// and score_jacobian are exact derivatives of the float32 network (forward and reverse mode
// through the layers), and score_precision() is 2^-23. Several threads may call one model at
// once. Throws Error when the parameter arrays do not match the architecture.
std::unique_ptr<ScoreModel> make_mlp_score_model(MlpScoreFile model, int threads = 1);

}  // namespace scorekit
