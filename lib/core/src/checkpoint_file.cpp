#include "checkpoint_file.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <sys/stat.h>

#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/metric.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit {

std::string exact_text(double value) {
    // The shortest of 15, 16 or 17 significant digits that reads back to `value`, so that a
    // mismatch message shows 0.3 as the user typed it rather than 0.29999999999999999.
    char text[32];
    for (int digits = 15; digits <= 17; ++digits) {
        std::snprintf(text, sizeof(text), "%.*g", digits, value);
        if (std::strtod(text, nullptr) == value) break;
    }
    return text;
}

std::string checksum_text(const std::vector<const RowMatrix*>& matrices) {
    std::uint64_t hash = 1469598103934665603ULL;
    for (const RowMatrix* matrix : matrices) {
        const auto* bytes = reinterpret_cast<const unsigned char*>(matrix->data());
        const auto count = static_cast<std::size_t>(matrix->size()) * sizeof(double);
        for (std::size_t i = 0; i < count; ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
    }
    char text[17];
    std::snprintf(text, sizeof(text), "%016" PRIx64, hash);
    return text;
}

std::string model_identity_text(const std::string& model) {
    struct stat status {};
    return stat(model.c_str(), &status) == 0 && S_ISREG(status.st_mode) ? "a model file" : model;
}

std::string model_checksum_text(const std::string& model) {
    // Only a regular file is read, because the model loader has already consumed a FIFO and
    // reading it again would block.
    struct stat status {};
    if (stat(model.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) return "none";
    std::ifstream file(model, std::ios::binary);
    if (!file) return "none";
    std::uint64_t hash = 1469598103934665603ULL;
    char buffer[65536];
    while (file.read(buffer, sizeof(buffer)) || file.gcount() > 0) {
        for (std::streamsize i = 0; i < file.gcount(); ++i) {
            hash = (hash ^ static_cast<unsigned char>(buffer[i])) * 1099511628211ULL;
        }
    }
    char text[17];
    std::snprintf(text, sizeof(text), "%016" PRIx64, hash);
    return text;
}

CheckpointSettings metric_checkpoint_settings(const std::string& model, const ScoreMetric& metric) {
    return {{"model", model_identity_text(model)},
            {"model_checksum", model_checksum_text(model)},
            {"metric", to_string(metric.kind())},
            {"lambda", exact_text(metric.lambda())},
            {"beta", exact_text(metric.beta())},
            {"sigma", exact_text(metric.sigma())}};
}

void check_checkpoint_format(const std::string& path, const std::string& tool) {
    // Opening a FIFO without a writer blocks; Hdf5Reader rejects pipes with its own message.
    if (is_pipe_or_device(path)) return;
    std::ifstream file(path, std::ios::binary);
    if (!file || has_hdf5_signature(path)) return;
    throw Error(describe("cannot resume from", path, "not an HDF5 file",
                         "give a checkpoint written by " + tool + " (OUTPUT.ckpt)"));
}

void write_checkpoint_settings(Hdf5Writer& file, const std::string& group, const CheckpointSettings& settings) {
    for (const auto& [name, value] : settings) file.write_attribute(group, name, value);
}

std::string checkpoint_settings_mismatch(const Hdf5Reader& file, const std::string& group,
                                         const CheckpointSettings& settings) {
    for (const auto& [name, value] : settings) {
        const std::string saved =
            file.has_attribute(group, name) ? file.read_string_attribute(group, name) : std::string("nothing");
        if (saved != value) return name + " is " + value + " but the checkpoint has " + saved;
    }
    return "";
}

void write_results_revision(Hdf5Writer& file, const std::string& group, int revision) {
    file.write_attribute(group, "results_revision", static_cast<std::int64_t>(revision));
    file.write_attribute(group, "written_by", "scorekit " + version_string());
}

void check_results_revision(const Hdf5Reader& file, const std::string& group, int revision, const std::string& path) {
    const int saved = file.has_attribute(group, "results_revision")
                          ? static_cast<int>(file.read_integer_attribute(group, "results_revision", 0, 1 << 30))
                          : 1;
    if (saved == revision) return;
    const std::string build =
        file.has_attribute(group, "written_by") ? file.read_string_attribute(group, "written_by") : "an earlier scorekit";
    throw Error(describe("cannot resume from", path,
                         "written by " + build + ", whose results differ from this build's (results revision " +
                             std::to_string(saved) + ", this build " + std::to_string(revision) + ")",
                         "run again without --resume, or finish the run with the build that wrote the checkpoint"));
}

bool remove_finished_checkpoint(const std::string& path, bool written, const std::string& resume) {
    if (path.empty() || !(written || path == resume)) return false;
    if (std::remove(path.c_str()) == 0) log_verbose("removed the checkpoint " + path);
    return true;
}

}  // namespace scorekit
