// Helpers shared by the libFuzzer targets: the readers take file names, so each input is written
// to a per-process temporary file first.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "scorekit/error.hpp"

namespace fuzz {

// Writes the input to a file named after the process id and `suffix`, and returns its path.
inline std::string write_input(const std::uint8_t* data, std::size_t size, const std::string& suffix = "") {
    const char* directory = std::getenv("TMPDIR");
    const std::string path = std::string(directory ? directory : "/tmp") + "/scorekit-fuzz-" +
                             std::to_string(::getpid()) + suffix;
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (!file || std::fwrite(data, 1, size, file) != size || std::fclose(file) != 0) {
        std::perror(path.c_str());
        std::abort();
    }
    return path;
}

// Runs `read`. The project's contract for bad input is scorekit::Error or UsageError, which the
// tools print as one line. Any other exception escapes to run_tool's generic handler, which does
// not name the file, so the target aborts and libFuzzer keeps the input.
template <typename Read>
void expect_clean_failure(Read read) {
    try {
        read();
    } catch (const scorekit::Error&) {
    } catch (const scorekit::UsageError&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        std::abort();
    }
}

}  // namespace fuzz
