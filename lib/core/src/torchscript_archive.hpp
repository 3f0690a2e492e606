// Reads the module tree of a TorchScript archive without LibTorch (private to the core layer).
//
// torch.jit.save writes a zip archive with <name>/data.pkl, a pickle (protocol 2) of the module
// objects whose tensors refer to raw little-endian storages <name>/data/<key>, and the modules'
// code under <name>/code/. This reader recognises only an nn.Sequential of stock layers. fim uses
// it to compute such stacks without loading LibTorch, and sends every other file to LibTorch.
#pragma once

#include <string>
#include <vector>

#include "scorekit/fim_backend.hpp"

namespace scorekit {

// The children of a TorchScript nn.Sequential read from the archive alone.
struct ArchiveSequential {
    // The reason the archive is not such a Sequential or cannot be read without LibTorch, for the
    // log. Empty when the children were read.
    std::string rejection;
    std::vector<SequentialChild> children;  // in the order of their names "0", "1", ...
};

// Reads `path` as a TorchScript archive whose root module is torch.nn.Sequential. Its children
// must be nn.Linear (float32, float64, float16 or bfloat16 tensors, widened exactly to float64),
// the elementwise activations ReLU, Tanh, Sigmoid, SiLU, Identity, Softplus, ELU and LeakyReLU,
// or Dropout and Flatten (no-ops for fim's evaluation on inputs [N, D]). An activation with constants (Softplus beta and threshold, ELU
// alpha, LeakyReLU negative_slope) is accepted only when the pickle stores them as attributes,
// because scripted and traced modules inline them into their code. For a file it cannot read it
// returns the reason in `rejection` instead of throwing.
ArchiveSequential read_archive_sequential(const std::string& path);

// Throws Error naming `path` when it is a torch.save file rather than TorchScript, so that the
// user reads how to export the module instead of LibTorch's message about a missing zip entry.
void reject_torch_save_file(const std::string& path);

}  // namespace scorekit
