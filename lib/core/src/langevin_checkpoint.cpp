#include "langevin_checkpoint.hpp"

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"

namespace scorekit {
namespace {

constexpr const char* kGroup = "/checkpoint";

// A stream's four 64-bit words go to HDF5 as eight 32-bit halves, which int64 datasets written
// from doubles hold exactly.
constexpr int kHalves = 8;

}  // namespace

void write_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings, const LangevinState& state) {
    Hdf5Writer file(path);
    file.create_group(kGroup);
    write_checkpoint_settings(file, kGroup, settings);
    file.write_attribute(kGroup, "step", static_cast<std::int64_t>(state.step));
    file.write_attribute(kGroup, "proposals", static_cast<std::int64_t>(state.proposals));
    file.write_attribute(kGroup, "accepted", static_cast<std::int64_t>(state.accepted));
    file.write_attribute(kGroup, "divergence_bound", state.divergence_bound);
    file.write_attribute(kGroup, "kept_rows", static_cast<std::int64_t>(state.kept.rows()));
    file.write_matrix(std::string(kGroup) + "/z", state.z);
    if (state.kept.rows() > 0) file.write_matrix(std::string(kGroup) + "/kept", state.kept);

    const auto chains = static_cast<std::int64_t>(state.streams.size());
    std::vector<double> halves, spares, has_spare;
    for (const Rng::State& stream : state.streams) {
        for (std::uint64_t word : stream.words) {
            halves.push_back(static_cast<double>(word >> 32));
            halves.push_back(static_cast<double>(word & 0xffffffffULL));
        }
        spares.push_back(stream.spare);
        has_spare.push_back(stream.has_spare ? 1 : 0);
    }
    file.write_integer_array(std::string(kGroup) + "/streams", {chains, kHalves}, halves.data());
    file.write_vector(std::string(kGroup) + "/spares", spares);
    file.write_integer_array(std::string(kGroup) + "/has_spare", {chains}, has_spare.data());
    file.commit();
}

LangevinState read_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings) {
    check_checkpoint_format(path, "langevin");
    Hdf5Reader file(path);
    if (!file.exists(kGroup) || !file.has_attribute(kGroup, "step") || !file.exists(std::string(kGroup) + "/streams")) {
        throw Error(describe("cannot resume from", path, "no /checkpoint group with a sampler state",
                             "give a checkpoint written by langevin (OUTPUT.ckpt)"));
    }
    std::string mismatch = checkpoint_settings_mismatch(file, kGroup, settings);
    if (!mismatch.empty()) {
        throw UsageError(describe("cannot resume from", path, mismatch,
                                  "resume with the options and data of the interrupted run"));
    }

    LangevinState state;
    state.step = static_cast<std::int64_t>(file.read_number_attribute(kGroup, "step"));
    state.proposals = static_cast<std::int64_t>(file.read_number_attribute(kGroup, "proposals"));
    state.accepted = static_cast<std::int64_t>(file.read_number_attribute(kGroup, "accepted"));
    state.divergence_bound = file.read_number_attribute(kGroup, "divergence_bound");
    state.z = file.read_matrix(std::string(kGroup) + "/z");
    if (file.read_number_attribute(kGroup, "kept_rows") > 0) state.kept = file.read_matrix(std::string(kGroup) + "/kept");

    RowMatrix halves = file.read_matrix(std::string(kGroup) + "/streams");
    RowMatrix spares = file.read_matrix(std::string(kGroup) + "/spares");
    RowMatrix has_spare = file.read_matrix(std::string(kGroup) + "/has_spare");
    if (halves.cols() != kHalves || spares.rows() != halves.rows() || has_spare.rows() != halves.rows()) {
        throw Error(describe("cannot resume from", path, "its stream datasets do not match",
                             "start the run again without --resume"));
    }
    for (Eigen::Index c = 0; c < halves.rows(); ++c) {
        Rng::State stream{};
        for (int w = 0; w < 4; ++w) {
            stream.words[w] = (static_cast<std::uint64_t>(halves(c, 2 * w)) << 32) |
                              static_cast<std::uint64_t>(halves(c, 2 * w + 1));
        }
        stream.spare = spares(c, 0);
        stream.has_spare = has_spare(c, 0) != 0;
        state.streams.push_back(stream);
    }
    return state;
}

}  // namespace scorekit
