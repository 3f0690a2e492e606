// Options shared by every tool and the one entry point that maps failures to exit statuses.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <limits>
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

// Option check for a decimal whole number in [minimum, maximum]. CLI11 2.1 converts integers
// with strtoll, which saturates, so a value beyond the type's range is rejected here.
// Pass the option type's maximum (std::numeric_limits<int>::max() for an int option).
CLI::Validator whole_number(std::int64_t minimum,
                            std::int64_t maximum = std::numeric_limits<std::int64_t>::max());

// Option check for a finite number in [minimum, maximum], or in (minimum, maximum] when
// `exclude_minimum`, or [minimum, maximum) when `exclude_maximum`. NaN and infinities fail.
CLI::Validator finite_number(double minimum, double maximum = std::numeric_limits<double>::max(),
                             bool exclude_minimum = false, bool exclude_maximum = false);

// Option check for a positive finite number: finite_number(0, max, true).
CLI::Validator positive_number();

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
