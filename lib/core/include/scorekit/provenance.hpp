// Provenance recorded in every HDF5 output: tool, version, command line, seed.
#pragma once

#include <cstdint>
#include <string>

namespace scorekit {

struct Provenance {
    std::string tool = "scorekit";
    std::string version;
    std::string command_line;
    std::uint64_t seed = 0;
};

// The process-wide record, filled by run_tool before the tool body runs.
Provenance& provenance();

}  // namespace scorekit
