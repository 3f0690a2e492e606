#include "scorekit/cli.hpp"

#include <dlfcn.h>
#include <signal.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <thread>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/provenance.hpp"
#include "scorekit/signals.hpp"
#include "scorekit/slurm.hpp"

#ifndef SCOREKIT_VERSION
#define SCOREKIT_VERSION "unknown"
#endif

namespace scorekit {
namespace {

std::string join_command_line(int argc, char** argv) {
    std::string line;
    for (int i = 0; i < argc; ++i) {
        if (i) line += ' ';
        std::string arg = argv[i];
        bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
        if (plain) {
            line += arg;
        } else {
            line += '\'';
            for (char c : arg) line += (c == '\'') ? std::string("'\\''") : std::string(1, c);
            line += '\'';
        }
    }
    return line;
}

// stdout is checked at exit so that a full disk or closed pipe fails loudly instead of silently.
void close_stdout() {
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        check_output_pipe_open();
        throw Error(describe("cannot write", "standard output", std::strerror(errno),
                             "check free disk space or the reading end of the pipe"));
    }
}

}  // namespace

Provenance& provenance() {
    static Provenance record;
    return record;
}

std::string version_string() { return SCOREKIT_VERSION; }

const CLI::Validator& non_negative() {
    static const CLI::Validator check(
        [](std::string& text) -> std::string {
            char* end = nullptr;
            double value = std::strtod(text.c_str(), &end);
            if (end == text.c_str() || *end != '\0' || !(value >= 0)) return quote(text) + ": must be 0 or positive";
            return "";
        },
        "NONNEGATIVE");
    return check;
}

namespace {

// Parses a decimal whole number with an optional sign. Returns std::nullopt for other text (CLI11
// would read 010 as 8 and 0x10 as 16) and for values beyond long long, where strtoll saturates.
std::optional<long long> parse_whole_number(const std::string& text) {
    const std::size_t first_digit = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
    const bool decimal = text.size() > first_digit && text.find_first_not_of("0123456789", first_digit) == std::string::npos;
    if (!decimal) return std::nullopt;
    errno = 0;
    const long long number = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE) return std::nullopt;
    return number;
}

std::string whole_number_range(std::int64_t minimum, std::int64_t maximum) {
    if (maximum == std::numeric_limits<std::int64_t>::max()) return "a whole number of at least " + std::to_string(minimum);
    return "a whole number from " + std::to_string(minimum) + " to " + std::to_string(maximum);
}

}  // namespace

CLI::Validator whole_number(std::int64_t minimum, std::int64_t maximum) {
    const std::string range = whole_number_range(minimum, maximum);
    return CLI::Validator(
        [minimum, maximum, range](std::string& text) -> std::string {
            const std::optional<long long> number = parse_whole_number(text);
            if (!number || *number < minimum || *number > maximum) return quote(text) + ": must be " + range;
            return "";
        },
        "INT");
}

CLI::Validator finite_number(double minimum, double maximum, bool exclude_minimum, bool exclude_maximum) {
    std::string range = std::string("in ") + (exclude_minimum ? "(" : "[") + format_number(minimum) + ", " +
                        format_number(maximum) + (exclude_maximum ? ")" : "]");
    if (maximum == std::numeric_limits<double>::max()) {
        range = (exclude_minimum ? "greater than " : "at least ") + format_number(minimum);
        if (minimum == 0) range = exclude_minimum ? "positive" : "0 or positive";
        if (minimum == std::numeric_limits<double>::lowest()) range = "a finite number";
    }
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            char* end = nullptr;
            const double number = std::strtod(text.c_str(), &end);
            if (text.empty() || end != text.c_str() + text.size()) return quote(text) + ": must be a number";
            if (!std::isfinite(number)) return quote(text) + ": must be a finite number";
            const bool below = exclude_minimum ? !(number > minimum) : !(number >= minimum);
            const bool above = exclude_maximum ? !(number < maximum) : !(number <= maximum);
            if (below || above) return quote(text) + ": must be " + range;
            return "";
        },
        "FLOAT");
}

CLI::Validator positive_number() { return finite_number(0, std::numeric_limits<double>::max(), true); }

namespace {

// CLI11 2.1 reads an unsigned option with strtoull, which takes "-1" as 2^64 - 1 and saturates
// beyond it, so the seed is checked as text.
const CLI::Validator& seed_value() {
    static const CLI::Validator check(
        [](std::string& text) -> std::string {
            const bool decimal = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
            errno = 0;
            if (decimal) std::strtoull(text.c_str(), nullptr, 10);
            if (!decimal || errno == ERANGE) return quote(text) + ": must be a whole number from 0 to 18446744073709551615";
            return "";
        },
        "UINT");
    return check;
}

}  // namespace

// Thread counts far above the core count only add start-up and memory, and in the tens of
// thousands the system refuses to create the threads.
static const CLI::Validator& thread_count() {
    static const CLI::Validator check(
        [](std::string& text) -> std::string {
            const std::optional<long long> value = parse_whole_number(text);
            if (!value) return quote(text) + ": must be " + whole_number_range(0, kMaxThreads);
            if (*value < 0) return quote(text) + ": must be 0 or positive";
            if (*value > kMaxThreads) {
                return quote(text) + ": more than " + std::to_string(kMaxThreads) +
                       " threads; use at most one per CPU core (0 picks that)";
            }
            return "";
        },
        "THREADS");
    return check;
}

void add_common_options(CLI::App& app, CommonOptions& options, CommonOptionSet set) {
    if (set.output) {
        app.add_option("-o,--output", options.output, "Output file; .h5 writes HDF5, `-` is standard output")
            ->capture_default_str();
    }
    if (set.threads) {
        app.add_option("--threads", options.threads, "Worker threads (0 = one per CPU core)")
            ->capture_default_str()
            ->check(thread_count());
    }
    if (set.seed) {
        app.add_option("--seed", options.seed, "Random seed; the same seed gives the same output")
            ->capture_default_str()
            ->check(seed_value());
    }
    app.add_flag("-v,--verbose", options.verbose, "More log lines on stderr (repeat for more)");
    app.add_flag("-q,--quiet", options.quiet, "Only warnings and errors on stderr");
    app.set_version_flag("--version", version_string(), "Print the version and exit");
}

void set_blas_threads(int threads) {
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(threads);
}

int resolve_threads(int requested) {
    if (requested > 0) return requested;
    unsigned cores = std::thread::hardware_concurrency();
    return cores ? static_cast<int>(cores) : 1;
}

namespace {

const CLI::Option* find_option(const CLI::App& app, const std::string& name) {
    if (const CLI::Option* option = app.get_option_no_throw(name)) return option;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (const CLI::Option* option = find_option(*sub, name)) return option;
    }
    return nullptr;
}

std::string expected_value(const CLI::Option* option) {
    if (option == nullptr) return "a value of another type";
    const std::string type = option->get_type_name();
    if (type.rfind("INT", 0) == 0) return "a whole number";
    if (type.rfind("UINT", 0) == 0) return "a non-negative whole number";
    if (type.rfind("FLOAT", 0) == 0) return "a number";
    return "a value of type " + type;
}

// Rewrites CLI11's "Could not convert: --nodes = abc" in the tools' own error grammar. The
// message then quotes the value and names the kind of value that the option takes.
std::string parse_error_message(const CLI::App& app, const CLI::ParseError& error) {
    const std::string text = error.what();

    // CLI11 prefixes a validator's message with the option name ("--threads: ..."). scorekit's
    // own validators start their message with the quoted value, which fits the grammar as is.
    const std::size_t colon = text.find(": \"");
    if (dynamic_cast<const CLI::ValidationError*>(&error) != nullptr && colon != std::string::npos &&
        text.rfind("--", 0) == 0) {
        return "invalid " + text.substr(0, colon) + " " + text.substr(colon + 2);
    }

    // CLI11 writes "--output is required", or "inputs is required" for a positional argument.
    const std::string required = " is required";
    const bool ends_required = text.size() > required.size() &&
                               text.compare(text.size() - required.size(), required.size(), required) == 0;
    if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr && ends_required) {
        const std::string name = text.substr(0, text.size() - required.size());
        return describe(name.rfind('-', 0) == 0 ? "missing option" : "missing argument", name, "it is required");
    }

    const std::string prefix = "Could not convert: ";
    const std::size_t separator = text.find(" = ");
    if (dynamic_cast<const CLI::ConversionError*>(&error) == nullptr || text.rfind(prefix, 0) != 0 ||
        separator == std::string::npos) {
        return text;
    }
    const std::string name = text.substr(prefix.size(), separator - prefix.size());
    const std::string value = text.substr(separator + 3);
    return describe("invalid " + name, value, "expected " + expected_value(find_option(app, name)), "");
}

void warn_if_oversubscribed(int threads) {
    const unsigned cores = std::thread::hardware_concurrency();
    if (cores > 0 && static_cast<unsigned>(threads) > cores) {
        log_warning("--threads " + std::to_string(threads) + " is more than the " + std::to_string(cores) +
                    " CPU cores here; the threads will share them");
    }
}

}  // namespace

int run_tool(CLI::App& app, int argc, char** argv, const CommonOptions& options,
             const std::function<void()>& body) {
    const std::string tool = app.get_name();
    set_log_tool(tool);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::fputs(app.help().c_str(), stdout);
        return 0;
    } catch (const CLI::CallForAllHelp&) {
        std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
        return 0;
    } catch (const CLI::CallForVersion&) {
        std::printf("%s %s\n", tool.c_str(), version_string().c_str());
        return 0;
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "%s: %s; run '%s --help' for usage\n", tool.c_str(),
                     parse_error_message(app, e).c_str(), tool.c_str());
        return 2;
    }

    set_verbosity(options.quiet ? Verbosity::quiet
                                : static_cast<Verbosity>(std::min(1 + options.verbose, 3)));
    Provenance& record = provenance();
    record.tool = tool;
    record.version = version_string();
    record.command_line = join_command_line(argc, argv);
    record.seed = options.seed;
    install_signal_handlers(tool);

    // In a batch log the job, array task and rank identify which of many processes wrote it.
    std::string slurm_line = describe_slurm_context(slurm_context());
    if (!slurm_line.empty()) log_info(slurm_line);

    // OpenBLAS otherwise starts one thread per core for every product, so a tool run with
    // --threads 1 (one SLURM CPU, for example) used two cores. OPENBLAS_NUM_THREADS, when set, wins.
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) set_blas_threads(resolve_threads(options.threads));
    try {
        warn_if_oversubscribed(options.threads);
        check_output_writable(options.output);
        body();
        close_stdout();
        return 0;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s: %s; run '%s --help' for usage\n", tool.c_str(), e.what(), tool.c_str());
        return 2;
    } catch (const OutputPipeClosed&) {
        // Quiet, as `cat` is when SIGPIPE ends it; the reader has what it asked for.
        return 128 + SIGPIPE;
    } catch (const Interrupted& e) {
        std::fprintf(stderr, "%s: %s\n", tool.c_str(), e.what());
        return interrupted_exit_status();
    } catch (const Error& e) {
        std::fprintf(stderr, "%s: %s\n", tool.c_str(), e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "%s: out of memory; use smaller batches or fewer points\n", tool.c_str());
        return 1;
    } catch (const std::exception& e) {
        // A failure inside a dependency (LibTorch, HDF5) that no scorekit check anticipated.
        // LibTorch's messages carry a backtrace or a TorchScript traceback over many lines. Only
        // the first line, which names the failure, is printed, so stderr keeps one line per error.
        std::string message = e.what();
        message = message.substr(0, message.find('\n'));
        std::fprintf(stderr, "%s: internal error: %s; please report it with the command line\n",
                     tool.c_str(), message.c_str());
        return 1;
    }
}

}  // namespace scorekit
