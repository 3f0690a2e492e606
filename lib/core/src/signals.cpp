#include "scorekit/signals.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

namespace scorekit {
namespace {

// Fixed storage so that the handler touches no allocator (only async-signal-safe calls there).
constexpr int kSlots = 64;
constexpr int kPathMax = 4096;
std::array<std::array<char, kPathMax>, kSlots> g_paths{};
std::array<std::atomic<bool>, kSlots> g_used{};
std::mutex g_slot_mutex;

std::atomic<bool> g_catch{false};
std::atomic<int> g_signal{0};
std::atomic<bool> g_signal_status{false};

// The tool's one-line notice for a signal that ends the run, composed before any signal can
// arrive so that the handler only calls write(2).
std::array<char, 512> g_notice{};
std::atomic<std::size_t> g_notice_length{0};

// Unlinks the registered files, then removes the registered directories that are empty by then.
// Uses only unlink(2) and rmdir(2), which are async-signal-safe. A directory inside another
// registered one may sit in a later slot, so the directory pass repeats while it removes one.
void remove_registered() {
    for (int i = 0; i < kSlots; ++i) {
        if (g_used[i].load()) unlink(g_paths[i].data());
    }
    for (bool removed = true; removed;) {
        removed = false;
        for (int i = 0; i < kSlots; ++i) {
            if (g_used[i].load() && rmdir(g_paths[i].data()) == 0) removed = true;
        }
    }
}

void handle(int signal_number) {
    if (g_catch.load()) {
        // A second signal while the job is still saving ends the process the default way.
        if (g_signal.exchange(signal_number) != 0) g_catch.store(false);
        else return;
    }
    remove_registered();
    if (const std::size_t length = g_notice_length.load(); length > 0) {
        ssize_t ignored = ::write(STDERR_FILENO, g_notice.data(), length);
        (void)ignored;
    }
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
}

// A closed pipe on standard output ends the run with SIGPIPE, quietly as by default, but
// without leaving the temporary files behind (the scratch copy of a checkpointed run, say).
void handle_closed_pipe(int signal_number) {
    // While a job saves its state after SIGINT, SIGTERM or SIGHUP, a pipe closed by the same
    // signal (Ctrl-C on `tool | gzip`) fails the write with EPIPE, so the checkpoint still gets written.
    if (g_catch.load() && g_signal.load() != 0) return;
    remove_registered();
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
}

}  // namespace

void set_signal_notice(const std::string& line) {
    // The handler may run while this changes the text, so it reads a length of 0 until the copy is done.
    const std::size_t length = std::min(line.size(), g_notice.size());
    g_notice_length.store(0);
    std::memcpy(g_notice.data(), line.data(), length);
    g_notice_length.store(length);
}

void install_signal_handlers(const std::string& tool) {
    set_signal_notice(tool + ": interrupted by a signal; unfinished output files were removed\n");

    struct sigaction action {};
    action.sa_handler = handle;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGHUP, &action, nullptr);

    // An ignored SIGPIPE stays ignored: the writers then see EPIPE and end with 141 themselves.
    struct sigaction previous {};
    if (sigaction(SIGPIPE, nullptr, &previous) == 0 && previous.sa_handler == SIG_DFL) {
        struct sigaction closed_pipe {};
        closed_pipe.sa_handler = handle_closed_pipe;
        sigemptyset(&closed_pipe.sa_mask);
        sigaction(SIGPIPE, &closed_pipe, nullptr);
    }

    // A write past the file size limit (ulimit -f) would otherwise end the process silently
    // with SIGXFSZ and leave a temporary file behind. With the signal ignored, the write fails
    // with EFBIG, which the output and checkpoint writers report as they report a full disk.
    ::signal(SIGXFSZ, SIG_IGN);
}

void catch_interrupts() { g_catch.store(true); }
bool interrupt_requested() { return g_signal.load() != 0; }
int interrupt_signal() { return g_signal.load(); }

void report_signal_in_exit_status() { g_signal_status.store(true); }

int interrupted_exit_status() {
    const int signal_number = g_signal.load();
    return g_signal_status.load() && signal_number != 0 ? 128 + signal_number : 130;
}

int register_temporary(const std::string& path) {
    if (path.size() >= kPathMax) return -1;
    std::lock_guard<std::mutex> lock(g_slot_mutex);
    for (int i = 0; i < kSlots; ++i) {
        if (!g_used[i].load()) {
            std::memcpy(g_paths[i].data(), path.c_str(), path.size() + 1);
            g_used[i].store(true);
            return i;
        }
    }
    return -1;
}

void unregister_temporary(int slot) {
    if (slot >= 0 && slot < kSlots) g_used[slot].store(false);
}

}  // namespace scorekit
