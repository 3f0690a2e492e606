// Loads any score model by name.
//
//   gaussian:..., gmm:...   an analytic model on the command line (see score_model.hpp)
//   model.h5                an HDF5 model file: /model@kind is mlp-score, gaussian or gmm
//   model.pt                a TorchScript module (zip archive) with forward(x) or forward(x, sigma),
//                           x [N, D] and sigma [N], returning the score [N, D] in data coordinates;
//                           an optional attribute `sigmas` (1-D tensor, largest first) gives its
//                           noise levels. Loading TorchScript runs code from the file: load only
//                           files you trust.
#pragma once

#include <memory>
#include <string>

#include "scorekit/score_model.hpp"

namespace scorekit {

// Throws Error naming the file when it is missing, of an unknown kind, or inconsistent, and
// UsageError for an invalid analytic specification. `threads` sets LibTorch's thread count.
// A model spec that is also the name of an existing file (a file named halfplane in the working
// directory) is ambiguous and throws UsageError.
std::unique_ptr<ScoreModel> load_score_model(const std::string& spec, int threads = 1);

// Throws UsageError when `spec`, which the caller reads as a model spec (halfplane, gaussian:...,
// normal:...), also names an existing file that is not a directory. The message shows ./SPEC for
// the file.
void reject_ambiguous_model_spec(const std::string& spec);

// Loads a TorchScript score module (see above). LibTorch costs about half a second of CPU to load,
// so the torch layer (libscorekit_score) is opened here, on the first TorchScript model, rather than
// linked into every tool. Throws Error when this build has no torch layer.
std::unique_ptr<ScoreModel> load_torchscript_model(const std::string& path, int threads = 1);

// The loader that the torch layer exports, as `extern "C" TorchScriptLoader scorekit_torchscript_loader_v1()`.
using TorchScriptLoader = std::unique_ptr<ScoreModel> (*)(const std::string& path, int threads);

}  // namespace scorekit
