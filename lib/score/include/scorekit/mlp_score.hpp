// The score layer's view of the trained MLP: its types and file format live in the core library
// (mlp_model.hpp), so that sampling and geometry evaluate trained models without LibTorch.
#pragma once

#include "scorekit/mlp_model.hpp"
