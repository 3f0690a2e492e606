#include "scorekit/atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <unordered_map>
#include <sys/stat.h>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/points.hpp"
#include "scorekit/signals.hpp"
#include "stale_temporaries.hpp"

namespace scorekit {
namespace {

// A path's directory, with its final '/' ("" for a bare name), and its file name.
struct PathParts {
    std::string directory;
    std::string base;
};

PathParts split_path(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return {"", path};
    return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

// Flushes `path` (a file or a directory) to the disk. Returns false with errno set on failure.
// EINVAL means a file system without fsync support (some special ones), which counts as done.
bool sync_path(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool synced = fsync(fd) == 0 || errno == EINVAL;
    const int saved = errno;
    close(fd);
    errno = saved;
    return synced;
}

// Follows symbolic links (also dangling ones, whose target is created) to the file that an
// output should replace. Returns `path` unchanged when it is not a link.
std::string follow_links(std::string path) {
    for (int depth = 0; depth < 40; ++depth) {
        struct stat link {};
        if (lstat(path.c_str(), &link) != 0 || !S_ISLNK(link.st_mode)) return path;
        std::vector<char> target(static_cast<std::size_t>(link.st_size > 0 ? link.st_size : 4096) + 1);
        ssize_t length = readlink(path.c_str(), target.data(), target.size() - 1);
        if (length < 0) return path;
        std::string next(target.data(), static_cast<std::size_t>(length));
        auto slash = path.rfind('/');
        if (next.empty() || next[0] != '/') next = (slash == std::string::npos ? "" : path.substr(0, slash + 1)) + next;
        path = next;
    }
    return path;
}

// Whether `path` exists and is a device, FIFO or socket.
bool is_special_file(const std::string& path) {
    struct stat existing {};
    return stat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode) && !S_ISDIR(existing.st_mode);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(follow_links(std::move(path))) {
    if (is_special_file(path_)) {
        direct_ = true;
        temporary_ = path_;
        return;
    }
    const PathParts parts = split_path(path_);
    remove_stale_temporaries(parts.directory, parts.base);
    std::string pattern = temporary_file_pattern(parts.directory, parts.base);
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    int fd = mkstemp(buffer.data());
    if (fd < 0) {
        throw Error(describe("cannot create output file", path_, std::strerror(errno),
                             "check that the directory exists and is writable"));
    }
    close(fd);
    temporary_ = buffer.data();
    slot_ = register_temporary(temporary_);
}

AtomicFile::~AtomicFile() {
    if (direct_) return;
    if (!committed_) std::remove(temporary_.c_str());
    unregister_temporary(slot_);
}

void AtomicFile::commit() {
    if (direct_) {
        committed_ = true;
        return;
    }
    // mkstemp creates mode 0600; give the final file the usual mode under the user's umask.
    mode_t mask = umask(0);
    umask(mask);
    chmod(temporary_.c_str(), 0666 & ~mask);
    // The data reaches the disk before the rename, and the rename before commit() returns. Else
    // a crash of the node could leave the final name (and a done marker or checkpoint written
    // after it) pointing at an empty or partial file, and a resumed run would trust it.
    if (!sync_path(temporary_)) {
        throw Error(describe("cannot write output file", path_, std::strerror(errno), "check the disk"));
    }
    if (std::rename(temporary_.c_str(), path_.c_str()) != 0) {
        throw Error(describe("cannot write output file", path_, std::strerror(errno),
                             "check the directory permissions"));
    }
    committed_ = true;
    std::string directory = split_path(path_).directory;
    if (directory.empty()) directory = ".";
    // A directory that can be written but not read (mode -wx) cannot be opened to flush it.
    // The output is in place by now, so that costs only the crash guarantee and is a warning.
    if (!sync_path(directory)) {
        log_warning_once("directory sync " + directory, "cannot flush directory " + quote(directory) + " to the disk (" + std::strerror(errno) +
                         "); a crash of the machine could lose the rename of " + quote(path_));
    }
}

namespace {

std::string file_part(const std::string& spec) { return split_dataset_spec(spec).file; }

// An output replaces its file, so a name that is an existing file (the reading inputs follow) and
// also spells a dataset of another file must not replace either file on a guess.
void check_unambiguous_output(const std::string& output) {
    if (!names_existing_file(output)) return;
    const DatasetSpec dataset = split_dataset_syntax(output);
    if (dataset.dataset.empty()) return;
    throw UsageError(describe("ambiguous output", output,
                              "a file of this name exists, and the name also reads as dataset " +
                                  quote(dataset.dataset) + " of " + quote(dataset.file),
                              "write " + quote(dataset.file + ":" + dataset.dataset) +
                                  " for the dataset, or remove the existing file first to replace it"));
}

}  // namespace

void write_text_output(const std::string& path, const std::function<bool(std::FILE*)>& write) {
    const bool to_stdout = path == "-";
    std::unique_ptr<AtomicFile> file;
    std::FILE* stream = stdout;
    if (!to_stdout) {
        file = std::make_unique<AtomicFile>(path);
        stream = std::fopen(file->temporary_path().c_str(), "wb");
        if (!stream) throw Error(describe("cannot write", path, std::strerror(errno), "check the directory"));
    }

    const bool written = write(stream);
    const bool closed = to_stdout ? std::fflush(stream) == 0 : std::fclose(stream) == 0;
    if (!closed || !written) {
        if (to_stdout) check_output_pipe_open();
        throw Error(describe("cannot write", to_stdout ? "standard output" : path, std::strerror(errno),
                             "check free disk space"));
    }
    if (file) file->commit();
}

bool locked_for_writing(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return false;
    const bool locked = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (!locked) flock(fd, LOCK_UN);
    close(fd);
    return locked;
}

void check_output_writable(const std::string& output, const std::string& option) {
    if (output.empty() || output == "-") return;
    check_unambiguous_output(output);
    const DatasetSpec spec = split_dataset_spec(output);
    if (!spec.dataset.empty()) check_dataset_path(output, spec.dataset);
    const std::string file = follow_links(file_part(output));
    if (is_special_file(file)) {
        if (access(file.c_str(), W_OK) == 0) return;
        throw Error(describe("cannot write output", output, std::strerror(errno), "choose another " + option));
    }
    struct stat existing {};
    if (stat(file.c_str(), &existing) == 0 && S_ISDIR(existing.st_mode)) {
        throw Error(describe("cannot write output", output, "it is a directory", "give a file name"));
    }
    // The output would replace the file, and the writer's data would go to the replaced copy.
    if (locked_for_writing(file)) {
        throw Error(describe("cannot write output", output, "another process has the file open for writing",
                             "wait until that process has closed it, or choose another " + option));
    }

    // A probe file is the only test that also covers read-only file systems and running as
    // root, where access(2) reports every directory as writable.
    const PathParts parts = split_path(file);
    const std::string directory = parts.directory.empty() ? "." : parts.directory;
    std::string pattern = directory + (parts.directory.empty() ? "/" : "") + ".scorekit-probe.XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    int fd = mkstemp(buffer.data());
    if (fd < 0) {
        const int error = errno;
        throw Error(describe("cannot write output", output,
                             "cannot create a file in directory " + directory + ": " + std::strerror(error),
                             "create the directory or choose another " + option));
    }
    close(fd);
    std::remove(buffer.data());

    // The probe's short name fits where the output's may not, which would fail only at the end.
    const long name_max = pathconf(directory.c_str(), _PC_NAME_MAX);
    if (name_max > 0 && parts.base.size() > static_cast<std::size_t>(name_max)) {
        throw Error(describe("cannot write output", output,
                             "its file name has " + std::to_string(parts.base.size()) + " bytes, more than the " +
                                 std::to_string(name_max) + " that the file system allows",
                             "choose a shorter " + option));
    }

    // Temporary files that killed processes left for this output (or checkpoint) go now, before
    // the work, rather than when the output is written at the end of a long run.
    remove_stale_temporaries(parts.directory, parts.base);
}

namespace {

bool same_file(const std::string& a, const std::string& b) {
    struct stat first {}, second {};
    if (stat(a.c_str(), &first) == 0 && stat(b.c_str(), &second) == 0) {
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino;
    }
    std::error_code error_a, error_b;
    const auto path_a = std::filesystem::weakly_canonical(std::filesystem::absolute(follow_links(a)), error_a);
    const auto path_b = std::filesystem::weakly_canonical(std::filesystem::absolute(follow_links(b)), error_b);
    return !error_a && !error_b && path_a == path_b;
}

// A key that is equal for two paths exactly when same_file() holds for them, so that a list of
// many paths is checked in one pass instead of by pairs.
std::string file_identity(const std::string& path) {
    struct stat status {};
    if (stat(path.c_str(), &status) == 0) {
        return "inode " + std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
    }
    std::error_code error;
    const auto resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(follow_links(path)), error);
    return "path " + (error ? path : resolved.string());
}

}  // namespace

bool find_repeated_file(const std::vector<std::string>& paths, std::size_t& first, std::size_t& second) {
    std::unordered_map<std::string, std::size_t> seen;
    seen.reserve(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
        if (paths[i].empty() || paths[i] == "-") continue;
        auto [entry, added] = seen.emplace(file_identity(paths[i]), i);
        if (added) continue;
        first = entry->second;
        second = i;
        return true;
    }
    return false;
}

void check_inputs_listed_once(const std::vector<FileArgument>& inputs) {
    std::vector<std::string> paths;
    paths.reserve(inputs.size());
    for (const FileArgument& input : inputs) paths.push_back(input.path);
    std::size_t first = 0, second = 0;
    if (!find_repeated_file(paths, first, second)) return;
    const FileArgument& earlier = inputs[first];
    const FileArgument& later = inputs[second];
    const std::string reason = earlier.path == later.path && earlier.option == later.option
                                   ? "it is given twice" + (later.option == "input" ? "" : " to " + later.option)
                                   : "it is the same file as " + earlier.option + " " + quote(earlier.path);
    throw UsageError(describe("invalid " + later.option, later.path, reason, "give each file once"));
}

std::vector<FileArgument> file_arguments(const std::string& option, const std::vector<std::string>& paths) {
    std::vector<FileArgument> files;
    files.reserve(paths.size());
    for (const std::string& path : paths) files.push_back({option, path});
    return files;
}

void check_distinct_files(const std::vector<FileArgument>& outputs, const std::vector<FileArgument>& inputs) {
    // Two outputs on standard output would mix their tables, and a second input from standard
    // input would read nothing, which used to be reported as a file without data rows.
    for (const auto* files : {&inputs, &outputs}) {
        const bool reading = files == &inputs;
        const FileArgument* first = nullptr;
        for (const FileArgument& file : *files) {
            if (file.path != "-") continue;
            if (!first) {
                first = &file;
                continue;
            }
            throw UsageError(describe("invalid " + file.option, "-",
                                      std::string(reading ? "standard input is already read" : "standard output is already written") +
                                          " by " + first->option,
                                      "give one of them a file name"));
        }
    }

    auto named = [](const FileArgument& file) { return !file.path.empty() && file.path != "-"; };
    std::vector<FileArgument> earlier = inputs;
    for (const FileArgument& output : outputs) {
        if (!named(output)) continue;
        for (const FileArgument& other : earlier) {
            if (!named(other) || !same_file(file_part(other.path), file_part(output.path))) continue;
            throw UsageError(describe("invalid " + output.option, output.path,
                                      "it is the same file as " + other.option + " " + quote(other.path),
                                      "give each a different file"));
        }
        earlier.push_back(output);
    }
}

}  // namespace scorekit
