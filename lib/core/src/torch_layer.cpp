#include "torch_layer.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"

namespace scorekit {
namespace {

// The torch layer sits next to the core library, in the build tree and when installed. Looking
// it up there, not on the loader's search path, avoids picking up an older installed copy.
std::string torch_layer_path() {
    Dl_info self{};
    std::string directory;
    if (dladdr(reinterpret_cast<void*>(&torch_layer_symbol), &self) != 0 && self.dli_fname != nullptr) {
        directory = self.dli_fname;
        const std::size_t slash = directory.rfind('/');
        directory = slash == std::string::npos ? std::string() : directory.substr(0, slash + 1);
    }
    return directory + SCOREKIT_TORCH_LAYER;
}

struct TorchLayer {
    void* handle = nullptr;
    std::string library, failure;
};

TorchLayer open_torch_layer() {
    TorchLayer layer;
    layer.library = torch_layer_path();
    layer.handle = dlopen(layer.library.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (layer.handle == nullptr) layer.failure = dlerror();
    return layer;
}

}  // namespace

void* torch_layer_symbol(const char* symbol, const std::string& path, int threads) {
    if (std::strlen(SCOREKIT_TORCH_LAYER) == 0) {
        throw Error(describe("cannot load TorchScript module", path, "this scorekit was built without LibTorch",
                             "rebuild with -DSCOREKIT_WITH_TORCH=ON, or use an HDF5 model from score-train"));
    }
    static const TorchLayer layer = open_torch_layer();  // thread-safe static
    if (layer.handle == nullptr) {
        throw Error(describe("cannot load TorchScript module", path, "the torch layer failed to load: " + layer.failure,
                             "reinstall scorekit so that its libraries match"));
    }
    void* address = dlsym(layer.handle, symbol);
    if (address == nullptr) {
        throw Error(describe("cannot load TorchScript module", path,
                             "the torch layer failed to load: " + layer.library + " has no " + symbol,
                             "reinstall scorekit so that its libraries match"));
    }
    // run_tool set OpenBLAS's threads before LibTorch, and OpenBLAS with it, was loaded. The
    // layer is opened RTLD_GLOBAL so that this second call finds OpenBLAS.
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) set_blas_threads(threads);
    return address;
}

}  // namespace scorekit
