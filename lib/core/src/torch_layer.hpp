// Opens the torch layer (libscorekit_score) at run time (private to the core layer). LibTorch
// costs about 0.4 s of CPU to load, so tools link only the core and open the torch layer on the
// first model that needs it.
#pragma once

#include <string>

namespace scorekit {

// Returns the address of `symbol` in the torch layer, opened once (RTLD_NOW | RTLD_GLOBAL) from
// the directory of the core library and kept for the life of the process, because LibTorch does
// not support unloading. Throws Error naming `path` (the model that needs it) when this build
// has no torch layer, when the layer fails to load or lacks the symbol. Afterwards it sets
// OpenBLAS's thread count to `threads` again (unless OPENBLAS_NUM_THREADS is set), because
// OpenBLAS may arrive with LibTorch after run_tool set it.
void* torch_layer_symbol(const char* symbol, const std::string& path, int threads);

}  // namespace scorekit
