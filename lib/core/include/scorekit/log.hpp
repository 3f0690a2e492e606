// Logging and progress on stderr.
//
// One line per event, prefixed by the tool name. Warnings with a key are printed once and then
// counted; the counts appear in the summary line at exit. A progress bar is redrawn only when
// stderr is a terminal; in batch logs progress is a plain line at a fixed interval.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace scorekit {

enum class Verbosity { quiet = 0, normal = 1, verbose = 2, debug = 3 };

void set_log_tool(const std::string& tool);
void set_verbosity(Verbosity level);
Verbosity verbosity();

void log_info(const std::string& message);     // shown unless --quiet
void log_verbose(const std::string& message);  // shown with -v
void log_warning(const std::string& message);  // always shown

// Prints the first warning for `key` and counts the rest.
void log_warning_once(const std::string& key, const std::string& message);

// Prints one line per warning key that repeated, with its count, named by the first message's
// text before its quoted subject ("wrong Content-Length: 4 times in all").
void log_warning_counts();

// Prints the closing resource line: wall time, CPU time, peak resident memory.
void log_summary(const std::string& what);

// Peak resident set size of this process in bytes.
std::uint64_t peak_rss_bytes();

// Progress of a job with a known number of steps.
class Progress {
public:
    // `interval_seconds` sets how often a plain line is printed when stderr is not a terminal.
    Progress(std::string label, std::uint64_t total, double interval_seconds = 10.0);

    // Reports `done` steps; `status` is extra text such as the current loss.
    void update(std::uint64_t done, const std::string& status = "");
    void finish(const std::string& status = "");
    // Closing line of a job that ended after `done` of its planned steps (e.g. a converged solver).
    void finish_at(std::uint64_t done, const std::string& status = "");

private:
    void draw(std::uint64_t done, const std::string& status, bool final_line);

    std::string label_;
    std::uint64_t total_;
    std::uint64_t start_done_ = 0;
    bool started_ = false;
    double interval_;
    bool terminal_;
    bool enabled_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_;
};

// Formats seconds as 1h02m, 3m04s or 5.2s.
std::string format_duration(double seconds);

}  // namespace scorekit
