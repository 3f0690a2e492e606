#include "checkpoint_file.hpp"

#include <cinttypes>
#include <cstdio>

#include "scorekit/log.hpp"

namespace scorekit {

std::string exact_text(double value) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.17g", value);
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

void remove_finished_checkpoint(const std::string& path, bool written, const std::string& resume) {
    if (path.empty() || !(written || path == resume)) return;
    if (std::remove(path.c_str()) == 0) log_verbose("removed the checkpoint " + path);
}

}  // namespace scorekit
