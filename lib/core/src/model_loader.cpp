#include "scorekit/model_loader.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>

#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/mlp_model.hpp"
#include "scorekit/text_input.hpp"
#include "torch_layer.hpp"
#include "torchscript_archive.hpp"

namespace scorekit {

std::unique_ptr<ScoreModel> load_torchscript_model(const std::string& path, int threads) {
    auto entry = reinterpret_cast<TorchScriptLoader (*)()>(torch_layer_symbol("scorekit_torchscript_loader_v1", path, threads));
    return entry()(path, threads);
}

void reject_ambiguous_model_spec(const std::string& spec) {
    struct stat status {};
    if (stat(spec.c_str(), &status) != 0 || S_ISDIR(status.st_mode)) return;
    throw UsageError(describe("ambiguous model", spec, "it is a model spec and also the name of an existing file",
                              "write ./" + spec + " for the file, or rename the file to use the model spec"));
}

std::unique_ptr<ScoreModel> load_score_model(const std::string& spec, int threads) {
    if (is_analytic_model_spec(spec)) {
        reject_ambiguous_model_spec(spec);
        return make_analytic_model(spec);
    }

    // HDF5 and TorchScript files are read by seeking, which a pipe cannot do.
    if (is_pipe_or_device(spec)) {
        throw Error(describe("cannot read model", spec, "it is a pipe or device, and a model file is read by seeking",
                             "give the name of the model file itself"));
    }
    FILE* probe = std::fopen(spec.c_str(), "rb");
    if (!probe) {
        throw Error(describe("cannot open model", spec, std::strerror(errno),
                             "give a model file from score-train, a TorchScript .pt file, or gaussian:/gmm:"));
    }
    std::fclose(probe);
    if (has_zip_magic(spec)) {
        reject_torch_save_file(spec);
        return load_torchscript_model(spec, threads);
    }
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
