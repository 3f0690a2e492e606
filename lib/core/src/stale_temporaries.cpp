#include "stale_temporaries.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"

namespace scorekit {
namespace {

// The inode of the initial PID namespace (PROC_PID_INIT_INO in the Linux sources since 3.8).
constexpr ino_t kInitialPidNamespace = 0xEFFFFFFCU;

// The host name as it appears in temporary names: characters other than letters, digits, '-',
// '_' and '.' become '_', and at most 64 characters are kept. Empty if gethostname fails.
std::string host_name() {
    char buffer[256] = {};
    if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "";
    std::string name(buffer);
    for (char& c : name) {
        const bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        if (!plain) c = '_';
    }
    return name.substr(0, 64);
}

const std::string& this_host() {
    static const std::string name = host_name();
    return name;
}

// Whether process ids in temporary names of this host name refer to this process's PID
// namespace: only the initial namespace is shared by every process that reports this host name.
bool pid_identifies_writer() {
    const std::string& host = this_host();
    if (host.empty() || host == "localhost" || host.rfind("localhost.", 0) == 0) return false;
    struct stat ns {};
    return stat("/proc/self/ns/pid", &ns) == 0 && ns.st_ino == kInitialPidNamespace;
}

bool all_digits(const std::string& text) {
    if (text.empty() || text.size() > 10) return false;
    for (char c : text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

bool random_suffix(const std::string& text) {
    if (text.size() != 6) return false;
    for (char c : text) {
        if (!std::isalnum(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

// The process id in `rest`, the part of a temporary name after ".BASE.tmp.", when it reads
// "HOST.PID.XXXXXX" with this host's name; 0 otherwise. The host name may contain dots, so the
// fields are split from the right.
pid_t writer_on_this_host(const std::string& rest) {
    const std::size_t suffix_dot = rest.rfind('.');
    if (suffix_dot == std::string::npos || suffix_dot == 0 || !random_suffix(rest.substr(suffix_dot + 1))) return 0;
    const std::size_t pid_dot = rest.rfind('.', suffix_dot - 1);
    if (pid_dot == std::string::npos) return 0;
    const std::string pid_text = rest.substr(pid_dot + 1, suffix_dot - pid_dot - 1);
    if (!all_digits(pid_text) || rest.substr(0, pid_dot) != this_host()) return 0;
    const long long pid = std::strtoll(pid_text.c_str(), nullptr, 10);
    return pid > 0 && pid <= INT_MAX ? static_cast<pid_t>(pid) : 0;
}

// The part of a temporary name that stands for the target `base`. Names may have at most
// NAME_MAX (255) bytes on Linux file systems, and the temporary name adds up to 88 bytes to
// the base (a 64-byte host name, a 10-digit process id, ".tmp." and the suffixes). A longer
// base is cut to its first 150 bytes at a UTF-8 character boundary. The cut is followed by '~'
// and the FNV-1a hash of the whole base in 16 hex digits, so that long names which share those
// 150 bytes get different temporary names. The result depends only on `base`, so a later process
// finds the temporaries that a killed one left for the same target.
std::string temporary_base(const std::string& base) {
    constexpr std::size_t kMaxBase = 167;
    constexpr std::size_t kKept = 150;
    if (base.size() <= kMaxBase) return base;
    std::size_t cut = kKept;
    while (cut > 0 && (static_cast<unsigned char>(base[cut]) & 0xC0) == 0x80) --cut;
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char c : base) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    return base.substr(0, cut) + "~" + hex;
}

bool process_is_gone(pid_t pid) { return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH; }

bool is_regular_file(const std::string& path) {
    struct stat status {};
    return lstat(path.c_str(), &status) == 0 && S_ISREG(status.st_mode);
}

}  // namespace

// share/slurm/merge_temporaries.py builds and recognises the same names, so that the tools and
// the merge scripts remove each other's leftovers. A change here needs the same change there.
std::string temporary_file_pattern(const std::string& directory, const std::string& base) {
    const std::string host = this_host().empty() ? "unknown-host" : this_host();
    return directory + "." + temporary_base(base) + ".tmp." + host + "." + std::to_string(getpid()) + ".XXXXXX";
}

std::vector<std::string> remove_stale_temporaries(const std::string& directory, const std::string& base) {
    std::vector<std::string> removed;
    if (!pid_identifies_writer()) return removed;
    DIR* listing = opendir(directory.empty() ? "." : directory.c_str());
    if (listing == nullptr) return removed;

    // NOTE: this reads the whole directory once per output opened, which may be slow for
    // directories of very many files on a parallel file system.
    const std::string prefix = "." + temporary_base(base) + ".tmp.";
    std::vector<std::string> candidates;
    while (const dirent* entry = readdir(listing)) {
        const std::string name = entry->d_name;
        if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0) candidates.push_back(name);
    }
    closedir(listing);

    for (const std::string& name : candidates) {
        const pid_t pid = writer_on_this_host(name.substr(prefix.size()));
        const std::string path = directory + name;
        if (pid == 0 || !process_is_gone(pid) || !is_regular_file(path)) continue;
        // Another process may have removed it first, which is no error.
        if (unlink(path.c_str()) != 0) continue;
        log_info(describe("removed stale temporary file", path,
                          "process " + std::to_string(pid) + " wrote it for " + quote(directory + base) +
                              " on this host and no longer runs",
                          ""));
        removed.push_back(path);
    }
    return removed;
}

}  // namespace scorekit
