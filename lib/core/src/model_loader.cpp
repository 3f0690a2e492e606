#include "scorekit/model_loader.hpp"

#include <dlfcn.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/mlp_model.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit {

namespace {

// The torch layer sits next to the core library, in the build tree and when installed. Looking
// it up there, not on the loader's search path, avoids picking up an older installed copy.
std::string torch_layer_path() {
    Dl_info self{};
    std::string directory;
    if (dladdr(reinterpret_cast<void*>(&load_torchscript_model), &self) != 0 && self.dli_fname != nullptr) {
        directory = self.dli_fname;
        const std::size_t slash = directory.rfind('/');
        directory = slash == std::string::npos ? std::string() : directory.substr(0, slash + 1);
    }
    return directory + SCOREKIT_TORCH_LAYER;
}

struct TorchLayer {
    using Entry = TorchScriptLoader (*)();
    Entry entry = nullptr;
    std::string failure;
};

TorchLayer open_torch_layer() {
    TorchLayer layer;
    const std::string library = torch_layer_path();
    void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (handle == nullptr) {
        layer.failure = dlerror();
        return layer;
    }
    layer.entry = reinterpret_cast<TorchLayer::Entry>(dlsym(handle, "scorekit_torchscript_loader_v1"));
    if (layer.entry == nullptr) layer.failure = library + " has no scorekit_torchscript_loader_v1";
    return layer;
}

}  // namespace

std::unique_ptr<ScoreModel> load_torchscript_model(const std::string& path, int threads) {
    if (std::strlen(SCOREKIT_TORCH_LAYER) == 0) {
        throw Error(describe("cannot load TorchScript module", path, "this scorekit was built without LibTorch",
                             "rebuild with -DSCOREKIT_WITH_TORCH=ON, or use an HDF5 model from score-train"));
    }
    // Opened once (thread-safe static) and kept for the life of the process: LibTorch does not
    // support unloading.
    static const TorchLayer layer = open_torch_layer();
    if (layer.entry == nullptr) {
        throw Error(describe("cannot load TorchScript module", path, "the torch layer failed to load: " + layer.failure,
                             "reinstall scorekit so that its libraries match"));
    }
    // run_tool set OpenBLAS's threads before LibTorch, and OpenBLAS with it, was loaded. The
    // layer is opened RTLD_GLOBAL so that this second call finds OpenBLAS.
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) set_blas_threads(threads);
    return layer.entry()(path, threads);
}

std::unique_ptr<ScoreModel> load_score_model(const std::string& spec, int threads) {
    if (is_analytic_model_spec(spec)) return make_analytic_model(spec);

    FILE* probe = std::fopen(spec.c_str(), "rb");
    if (!probe) {
        throw Error(describe("cannot open model", spec, std::strerror(errno),
                             "give a model file from score-train, a TorchScript .pt file, or gaussian:/gmm:"));
    }
    std::fclose(probe);
    if (has_zip_magic(spec)) return load_torchscript_model(spec, threads);
    if (!has_hdf5_signature(spec)) {
        throw Error(describe("cannot read model", spec, "neither an HDF5 model file nor a TorchScript archive",
                             "give a model file from score-train or a file saved by torch.jit.save"));
    }

    Hdf5Reader file(spec);
    if (!file.has_attribute("/model", "kind")) {
        throw Error(describe("cannot read model", spec, "no /model group with a kind attribute",
                             "give a model file written by score-train"));
    }
    std::string kind = file.read_string_attribute("/model", "kind");
    if (kind == "mlp-score") return make_mlp_score_model(read_mlp_model(file), threads);
    if (kind == "gaussian" || kind == "gmm") return read_analytic_model(file);
    throw Error(describe("cannot read model", spec, "unknown model kind \"" + kind + "\"",
                         "expected mlp-score, gaussian or gmm"));
}

}  // namespace scorekit
