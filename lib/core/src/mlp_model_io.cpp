#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/mlp_model.hpp"

namespace scorekit {

std::vector<std::pair<int, int>> MlpArchitecture::layer_shapes() const {
    std::vector<std::pair<int, int>> shapes;
    int in = dim + 1;  // the extra input is log sigma
    for (int layer = 0; layer < depth; ++layer) {
        shapes.emplace_back(width, in);
        in = width;
    }
    shapes.emplace_back(dim, in);
    return shapes;
}

std::int64_t MlpArchitecture::parameter_count() const {
    std::int64_t count = 0;
    for (auto [out, in] : layer_shapes()) count += static_cast<std::int64_t>(out) * in + out;
    return count;
}

void write_mlp_model(Hdf5Writer& file, const MlpScoreFile& model) {
    const MlpArchitecture& a = model.parameters.architecture;
    file.create_group("/model");
    file.write_attribute("/model", "kind", std::string("mlp-score"));
    file.write_attribute("/model", "dim", static_cast<std::int64_t>(a.dim));
    file.write_attribute("/model", "width", static_cast<std::int64_t>(a.width));
    file.write_attribute("/model", "depth", static_cast<std::int64_t>(a.depth));
    file.write_attribute("/model", "activation", to_string(a.activation));
    file.write_attribute("/model", "input", std::string("concat(z, log(sigma)), z = (x - data_mean) / data_std"));
    file.write_attribute("/model", "output", std::string("sigma * score in z coordinates"));
    file.write_attribute("/model", "num_levels", static_cast<std::int64_t>(model.sigmas.size()));
    file.write_attribute("/model", "sigma_max", model.sigmas.front());
    file.write_attribute("/model", "sigma_min", model.sigmas.back());
    file.write_vector("/model/sigmas", model.sigmas);
    file.write_vector("/model/data_mean", std::vector<double>(model.data_mean.data(), model.data_mean.data() + a.dim));
    file.write_vector("/model/data_std", std::vector<double>(model.data_std.data(), model.data_std.data() + a.dim));

    auto shapes = a.layer_shapes();
    for (size_t layer = 0; layer < shapes.size(); ++layer) {
        auto [out, in] = shapes[layer];
        const auto& w = model.parameters.tensors[2 * layer];
        const auto& b = model.parameters.tensors[2 * layer + 1];
        std::vector<double> wd(w.begin(), w.end()), bd(b.begin(), b.end());
        std::string prefix = "/model/layers." + std::to_string(layer);
        file.write_array(prefix + ".weight", {out, in}, wd.data(), true);
        file.write_array(prefix + ".bias", {out}, bd.data(), true);
    }
}

MlpScoreFile read_mlp_model(const Hdf5Reader& file) {
    MlpScoreFile model;
    MlpArchitecture& a = model.parameters.architecture;
    const std::int64_t largest = std::numeric_limits<int>::max();
    a.dim = static_cast<int>(file.read_integer_attribute("/model", "dim", 1, largest));
    a.width = static_cast<int>(file.read_integer_attribute("/model", "width", 1, largest));
    a.depth = static_cast<int>(file.read_integer_attribute("/model", "depth", 1, largest));
    const std::string activation = file.read_string_attribute("/model", "activation");
    try {
        a.activation = parse_activation(activation);
    } catch (const UsageError&) {
        // The name comes from the file, not from --activation: a bad file, not a usage error.
        throw Error(describe("invalid model file", file.path(), "unknown activation " + quote(activation),
                             "expected one of softplus, silu, tanh, elu; train the model again"));
    }
    model.sigmas = file.read_array("/model/sigmas").values;
    Array mean = file.read_array("/model/data_mean"), std = file.read_array("/model/data_std");
    if (model.sigmas.empty() || mean.values.size() != static_cast<size_t>(a.dim) ||
        std.values.size() != static_cast<size_t>(a.dim)) {
        throw Error(describe("invalid model file", file.path(), "sigmas, data_mean or data_std have the wrong size",
                             "train the model again"));
    }
    model.data_mean = Eigen::Map<Vector>(mean.values.data(), a.dim);
    model.data_std = Eigen::Map<Vector>(std.values.data(), a.dim);
    check_noise_levels(model.sigmas, file.path() + ":/model/sigmas");
    if (!model.data_mean.allFinite() || !model.data_std.allFinite() || !(model.data_std.array() > 0).all()) {
        throw Error(describe("invalid model file", file.path(), "data_std must be positive and finite, data_mean finite",
                             "train the model again"));
    }

    auto shapes = a.layer_shapes();
    for (size_t layer = 0; layer < shapes.size(); ++layer) {
        auto [out, in] = shapes[layer];
        std::string prefix = "/model/layers." + std::to_string(layer);
        Array w = file.read_array(prefix + ".weight"), b = file.read_array(prefix + ".bias");
        if (w.shape != std::vector<std::int64_t>{out, in} || b.shape != std::vector<std::int64_t>{out}) {
            throw Error(describe("invalid model file", file.path() + ":" + prefix,
                                 "tensor shapes do not match the architecture attributes", "train the model again"));
        }
        const auto finite = [](const Array& array) {
            return std::all_of(array.values.begin(), array.values.end(), [](double v) { return std::isfinite(v); });
        };
        if (!finite(w) || !finite(b)) {
            throw Error(describe("invalid model file", file.path() + ":" + prefix, "a weight or bias is not finite",
                                 "train the model again"));
        }
        model.parameters.tensors.emplace_back(w.values.begin(), w.values.end());
        model.parameters.tensors.emplace_back(b.values.begin(), b.values.end());
    }
    return model;
}

}  // namespace scorekit
