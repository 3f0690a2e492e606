// Options shared by every tool and the one entry point that maps failures to exit statuses.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace scorekit {

// Options that every tool spells the same way. Defaults live here and nowhere else.
struct CommonOptions {
    std::string output = "-";  // `-` is standard output
    int threads = 1;           // 0 means one per CPU core
    std::uint64_t seed = 0;
    int verbose = 0;  // count of -v
    bool quiet = false;
};

// Selection of the common options a tool takes. Every tool has --verbose, --quiet and --version.
struct CommonOptionSet {
    bool output = true;
    bool threads = true;
    bool seed = true;
};

void add_common_options(CLI::App& app, CommonOptions& options, CommonOptionSet set = {});

// Option check for numbers that must be 0 or positive, with a one-line message.
const CLI::Validator& non_negative();

// Version string printed by --version and written into provenance attributes.
std::string version_string();

// Parses argv, applies verbosity, runs `body` and maps exceptions to exit statuses:
// 0 success (and --help, --version), 1 Error, 2 usage error, 130 Interrupted.
int run_tool(CLI::App& app, int argc, char** argv, const CommonOptions& options,
             const std::function<void()>& body);

// The largest --threads that run_tool accepts.
constexpr int kMaxThreads = 1024;

// Number of worker threads for `requested` (0 = one per core).
int resolve_threads(int requested);

// Sets OpenBLAS's thread count. OpenBLAS is reached through LibTorch or the system BLAS, so it
// is looked up at run time, and the call does nothing when another BLAS is loaded.
void set_blas_threads(int threads);

}  // namespace scorekit
