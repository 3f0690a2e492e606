#include "scorekit/log.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>

namespace scorekit {
namespace {

std::string g_tool = "scorekit";
Verbosity g_verbosity = Verbosity::normal;
std::mutex g_mutex;
struct RepeatedWarning {
    std::string label;  // names the warning in the closing count
    std::uint64_t count = 0;
};
std::map<std::string, RepeatedWarning> g_warnings;
const auto g_start = std::chrono::steady_clock::now();

void emit(const std::string& message) {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::fprintf(stderr, "%s: %s\n", g_tool.c_str(), message.c_str());
    std::fflush(stderr);
}

// The part of a message before its quoted subject: "wrong Content-Length" of
// 'wrong Content-Length "f.wet": ...'. Messages without a quoted subject are named by `key`.
std::string warning_label(const std::string& key, const std::string& message) {
    const std::size_t quote_at = message.find(" \"");
    return quote_at == std::string::npos || quote_at == 0 ? key : message.substr(0, quote_at);
}

}  // namespace

void set_log_tool(const std::string& tool) { g_tool = tool; }
void set_verbosity(Verbosity level) { g_verbosity = level; }
Verbosity verbosity() { return g_verbosity; }

void log_info(const std::string& message) {
    if (g_verbosity >= Verbosity::normal) emit(message);
}

void log_verbose(const std::string& message) {
    if (g_verbosity >= Verbosity::verbose) emit(message);
}

void log_warning(const std::string& message) { emit("warning: " + message); }

void log_warning_once(const std::string& key, const std::string& message) {
    std::uint64_t count;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        RepeatedWarning& warning = g_warnings[key];
        if (warning.count == 0) warning.label = warning_label(key, message);
        count = ++warning.count;
    }
    if (count == 1) log_warning(message + " (further cases are counted)");
}

void log_warning_counts() {
    for (const auto& entry : g_warnings) {
        const RepeatedWarning& warning = entry.second;
        if (warning.count > 1) emit("warning: " + warning.label + ": " + std::to_string(warning.count) + " times in all");
    }
}

std::uint64_t peak_rss_bytes() {
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

void log_summary(const std::string& what) {
    log_warning_counts();
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                 1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
    char line[256];
    std::snprintf(line, sizeof line, "done: %s; wall %s, CPU %s, peak memory %.1f MiB", what.c_str(),
                  format_duration(wall).c_str(), format_duration(cpu).c_str(),
                  peak_rss_bytes() / 1048576.0);
    log_info(line);
}

std::string format_duration(double seconds) {
    char text[32];
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    if (seconds < 60) {
        std::snprintf(text, sizeof text, "%.1fs", seconds);
    } else if (seconds < 3600) {
        int s = static_cast<int>(seconds);
        std::snprintf(text, sizeof text, "%dm%02ds", s / 60, s % 60);
    } else {
        int m = static_cast<int>(seconds / 60);
        std::snprintf(text, sizeof text, "%dh%02dm", m / 60, m % 60);
    }
    return text;
}

Progress::Progress(std::string label, std::uint64_t total, double interval_seconds)
    : label_(std::move(label)),
      total_(total),
      interval_(interval_seconds),
      terminal_(isatty(STDERR_FILENO) != 0),
      enabled_(g_verbosity >= Verbosity::normal),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::update(std::uint64_t done, const std::string& status) {
    if (!enabled_) return;
    if (!started_) {
        // A resumed job starts part-way; its rate and ETA count only the steps done in this run.
        started_ = true;
        start_done_ = done;
        start_ = std::chrono::steady_clock::now();
        last_draw_ = start_;
        return;
    }
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last_draw_).count();
    if (since < (terminal_ ? 0.2 : interval_)) return;
    last_draw_ = now;
    draw(done, status, false);
}

void Progress::finish(const std::string& status) { finish_at(total_, status); }

void Progress::finish_at(std::uint64_t done, const std::string& status) {
    if (!enabled_) return;
    draw(done, status, true);
}

void Progress::draw(std::uint64_t done, const std::string& status, bool final_line) {
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double rate = elapsed > 0 ? (done - start_done_) / elapsed : 0.0;
    double eta = rate > 0 ? (total_ - done) / rate : NAN;
    double fraction = total_ ? static_cast<double>(done) / total_ : 1.0;
    char counts[160];
    std::snprintf(counts, sizeof counts, "%llu/%llu (%.0f%%), %.1f/s, %s %s",
                  static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                  100 * fraction, rate, final_line ? "elapsed" : "ETA",
                  format_duration(final_line ? elapsed : eta).c_str());
    std::string text = label_ + " " + counts + (status.empty() ? "" : ", " + status);

    std::lock_guard<std::mutex> lock(g_mutex);
    if (terminal_) {
        const int width = 24;
        int filled = static_cast<int>(fraction * width + 0.5);
        std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
        std::fprintf(stderr, "\r\033[K%s: %s %s%s", g_tool.c_str(), bar.c_str(), text.c_str(),
                     final_line ? "\n" : "");
    } else {
        std::fprintf(stderr, "%s: %s\n", g_tool.c_str(), text.c_str());
    }
    std::fflush(stderr);
}

}  // namespace scorekit
