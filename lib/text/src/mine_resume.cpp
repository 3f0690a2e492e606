#include "mine_resume.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "scorekit/text/shard.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/signals.hpp"
#include "shard_input.hpp"

namespace scorekit::text {

namespace {

constexpr const char* kStateHeader = "scorekit ccnet-filter mine resume state 1";

// Tabs and newlines separate the fields of the state file, so values (paths, error messages)
// carry them escaped.
std::string escape(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '\t') out += "\\t";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else out += c;
    }
    return out;
}

std::string unescape(const std::string& value) {
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '\\' || i + 1 == value.size()) {
            out += value[i];
            continue;
        }
        const char next = value[++i];
        if (next == 't') out += '\t';
        else if (next == 'n') out += '\n';
        else if (next == 'r') out += '\r';
        else out += next;
    }
    return out;
}

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) {
        fields.push_back(unescape(line.substr(start, tab - start)));
    }
    fields.push_back(unescape(line.substr(start)));
    return fields;
}

std::uint64_t parse_count(const std::string& text, bool& ok) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        ok = false;
        return 0;
    }
    return std::stoull(text);
}

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void sync_directory(const std::string& directory) {
    const int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

// Labels come from the model file: keep only characters that are safe in a file name.
std::string output_file_name(const std::string& key) {
    std::string name = key;
    for (char& c : name) {
        const bool safe = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
        if (!safe) c = '_';
    }
    return name + ".json.gz";
}

std::string file_fingerprint(const std::string& path) {
    struct stat status {};
    if (path == "-") return "standard input";
    if (::stat(path.c_str(), &status) != 0) return std::string("not readable (") + std::strerror(errno) + ")";
    if (!S_ISREG(status.st_mode)) return S_ISFIFO(status.st_mode) ? "a pipe" : "not a regular file";
    return "size " + std::to_string(status.st_size) + ", modified " + std::to_string(status.st_mtim.tv_sec) + "." +
           std::to_string(status.st_mtim.tv_nsec);
}

std::string resume_state_path(const std::string& output) { return output + ".resume"; }

std::optional<MineResumeState> read_resume_state(const std::string& path) {
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0 && errno == ENOENT) return std::nullopt;
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        throw Error(describe("cannot read resume state", path, std::strerror(errno),
                             "check its permissions, or give --force to start the shard over"));
    }
    auto invalid = [&](const std::string& reason) {
        return Error(describe("invalid resume state", path, reason,
                              "remove it, or give --force to start the shard over"));
    };
    std::string line;
    if (!std::getline(stream, line) || line != kStateHeader) {
        throw invalid("its first line is not \"" + std::string(kStateHeader) + "\"");
    }
    MineResumeState state;
    bool ended = false, ok = true;
    while (std::getline(stream, line)) {
        const std::vector<std::string> fields = split_tabs(line);
        const std::string& kind = fields[0];
        if (kind == "end" && fields.size() == 1) {
            ended = true;
            break;
        }
        if (kind == "fingerprint" && fields.size() == 3) {
            state.fingerprint.emplace_back(fields[1], fields[2]);
        } else if (kind == "files_done" && fields.size() == 2) {
            state.files_done = parse_count(fields[1], ok);
        } else if (kind == "output" && fields.size() == 4) {
            state.outputs[fields[1]] = {parse_count(fields[2], ok), parse_count(fields[3], ok)};
        } else if (kind == "count" && fields.size() == 3) {
            state.counts[fields[1]] = parse_count(fields[2], ok);
        } else if (kind == "seconds" && fields.size() == 3) {
            std::istringstream number(fields[2]);
            double value = 0;
            ok = ok && static_cast<bool>(number >> value);
            state.seconds[fields[1]] = value;
        } else if (kind == "error" && fields.size() == 2) {
            state.error = fields[1];
        } else if (kind == "damaged_files" && fields.size() == 2) {
            state.damaged_files = parse_count(fields[1], ok);
        } else if (kind == "committing" && fields.size() == 1) {
            state.committing = true;
        } else {
            throw invalid("unknown line " + quote(line.substr(0, 80)));
        }
        if (!ok) throw invalid("invalid number in line " + quote(line.substr(0, 80)));
    }
    if (!ended) throw invalid("it ends before its \"end\" line");
    return state;
}

void write_resume_state(const std::string& path, const MineResumeState& state) {
    std::string text = std::string(kStateHeader) + "\n";
    for (const auto& entry : state.fingerprint) {
        text += "fingerprint\t" + escape(entry.first) + "\t" + escape(entry.second) + "\n";
    }
    text += "files_done\t" + std::to_string(state.files_done) + "\n";
    for (const auto& entry : state.outputs) {
        text += "output\t" + escape(entry.first) + "\t" + std::to_string(entry.second.bytes) + "\t" +
                std::to_string(entry.second.documents) + "\n";
    }
    for (const auto& entry : state.counts) text += "count\t" + escape(entry.first) + "\t" + std::to_string(entry.second) + "\n";
    for (const auto& entry : state.seconds) text += "seconds\t" + escape(entry.first) + "\t" + format_number(entry.second) + "\n";
    if (!state.error.empty()) text += "error\t" + escape(state.error) + "\n";
    text += "damaged_files\t" + std::to_string(state.damaged_files) + "\n";
    if (state.committing) text += "committing\n";
    text += "end\n";
    // The data is flushed before the rename (AtomicFile), so a crash leaves the old state or the new one.
    write_file_atomically(path, text);
}

std::string fingerprint_difference(const Fingerprint& recorded, const Fingerprint& current) {
    std::map<std::string, std::string> now(current.begin(), current.end());
    for (const auto& entry : recorded) {
        auto found = now.find(entry.first);
        if (found == now.end()) return entry.first + ": " + entry.second + " then, absent now";
        if (found->second != entry.second) return entry.first + ": " + entry.second + " then, " + found->second + " now";
        now.erase(found);
    }
    if (!now.empty()) return now.begin()->first + ": absent then, " + now.begin()->second + " now";
    return "";
}

ResumableOutputs::ResumableOutputs(std::string directory) : directory_(std::move(directory)) {
    lock_ = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock_ < 0) {
        log_warning(describe("cannot lock output directory", directory_, std::strerror(errno),
                             "make sure that no other ccnet-filter mine process writes this shard"));
        return;
    }
    // LOCK_NB: a lock that another process holds fails at once instead of waiting for it.
    if (::flock(lock_, LOCK_EX | LOCK_NB) == 0) return;
    const int error = errno;
    if (error == EWOULDBLOCK) {
        ::close(lock_);
        lock_ = -1;
        throw Error(describe("cannot write", directory_, "another ccnet-filter mine process is writing this shard",
                             "wait until it ends, or stop it first"));
    }
    // A file system without flock (ENOLCK, ENOSYS or EOPNOTSUPP on some network file systems)
    // gets no lock rather than no run, and the user learns that nothing guards the shard.
    log_warning(describe("cannot lock output directory", directory_, std::string("flock failed: ") + std::strerror(error),
                         "make sure that no other ccnet-filter mine process writes this shard"));
}

ResumableOutputs::~ResumableOutputs() {
    for (auto& entry : files_) {
        if (entry.second.stream) std::fclose(entry.second.stream);
    }
    if (lock_ >= 0) ::close(lock_);
    for (int slot : slots_) unregister_temporary(slot);
}

void ResumableOutputs::remove_unfinished() {
    DIR* directory = ::opendir(directory_.c_str());
    if (!directory) return;
    std::vector<std::string> parts;
    while (const dirent* entry = ::readdir(directory)) {
        const std::string name = entry->d_name;
        if (name.size() > 1 && name[0] == '.' && ends_with(name, ".json.gz.part")) parts.push_back(name);
    }
    ::closedir(directory);
    for (const std::string& name : parts) {
        const std::string path = directory_ + "/" + name;
        if (std::remove(path.c_str()) != 0) {
            throw Error(describe("cannot remove", path, std::strerror(errno), "check the directory permissions"));
        }
    }
}

ResumableOutputs::File& ResumableOutputs::open(const std::string& key, const char* mode) {
    File file;
    const std::string name = output_file_name(key);
    file.final = directory_ + "/" + name;
    file.part = directory_ + "/." + name + ".part";
    file.stream = std::fopen(file.part.c_str(), mode);
    if (!file.stream) throw Error(describe("cannot write", file.part, std::strerror(errno), "check the directory"));
    if (remove_on_signal_) slots_.push_back(register_temporary(file.part));
    return files_.emplace(key, std::move(file)).first->second;
}

bool ResumableOutputs::restore(const std::map<std::string, ResumeOutput>& outputs, bool committing) {
    // Outputs that the stopped commit had already renamed, by final name.
    std::vector<std::pair<std::string, std::string>> renamed;
    for (const auto& entry : outputs) {
        const std::string name = output_file_name(entry.first);
        const std::string part = directory_ + "/." + name + ".part";
        struct stat status {};
        if (::stat(part.c_str(), &status) == 0 && S_ISREG(status.st_mode) &&
            static_cast<std::uint64_t>(status.st_size) >= entry.second.bytes) {
            continue;
        }
        // rename(2) replaces the final name in one step, so a file there with the recorded length
        // and no hidden file beside it is this shard's output.
        const std::string final = directory_ + "/" + name;
        if (committing && ::lstat(part.c_str(), &status) != 0 && errno == ENOENT &&
            ::stat(final.c_str(), &status) == 0 && S_ISREG(status.st_mode) &&
            static_cast<std::uint64_t>(status.st_size) == entry.second.bytes) {
            renamed.emplace_back(final, part);
            continue;
        }
        return false;
    }
    for (const auto& entry : renamed) {
        if (std::rename(entry.first.c_str(), entry.second.c_str()) != 0) {
            throw Error(describe("cannot resume", entry.first, std::strerror(errno), "check the directory permissions"));
        }
    }
    for (const auto& entry : outputs) {
        const std::string part = directory_ + "/." + output_file_name(entry.first) + ".part";
        if (::truncate(part.c_str(), static_cast<off_t>(entry.second.bytes)) != 0) {
            throw Error(describe("cannot resume", part, std::strerror(errno), "check its permissions"));
        }
        open(entry.first, "ab").size = entry.second;
    }
    return true;
}

void ResumableOutputs::append(const std::string& key, const std::string& gzip_member, std::uint64_t documents) {
    auto found = files_.find(key);
    File& file = found != files_.end() ? found->second : open(key, "wb");
    if (std::fwrite(gzip_member.data(), 1, gzip_member.size(), file.stream) != gzip_member.size()) {
        throw Error(describe("cannot write", file.final, std::strerror(errno), "check free disk space"));
    }
    file.size.documents += documents;
    file.size.bytes += gzip_member.size();
}

std::map<std::string, ResumeOutput> ResumableOutputs::sizes() const {
    std::map<std::string, ResumeOutput> sizes;
    for (const auto& entry : files_) sizes[entry.first] = entry.second.size;
    return sizes;
}

void ResumableOutputs::sync() {
    for (auto& entry : files_) {
        File& file = entry.second;
        if (std::fflush(file.stream) != 0 || (::fsync(fileno(file.stream)) != 0 && errno != EINVAL)) {
            throw Error(describe("cannot write", file.final, std::strerror(errno), "check free disk space"));
        }
    }
    sync_directory(directory_);
}

std::string ResumableOutputs::commit() {
    sync();
    // Every file is closed before any is renamed. A full disk fails the close of one, and then
    // all outputs stay under their hidden names rather than some of them appear.
    for (auto& entry : files_) {
        File& file = entry.second;
        const int closed = std::fclose(file.stream);
        file.stream = nullptr;
        if (closed != 0) throw Error(describe("cannot write", file.final, std::strerror(errno), "check free disk space"));
    }
    JsonObject summary;
    for (auto& entry : files_) {
        File& file = entry.second;
        if (std::rename(file.part.c_str(), file.final.c_str()) != 0) {
            throw Error(describe("cannot write output file", file.final, std::strerror(errno),
                                 "check the directory permissions"));
        }
        summary.raw(entry.first,
                    JsonObject().integer("documents", file.size.documents).integer("bytes", file.size.bytes).str());
        names_.push_back(file.final.substr(file.final.rfind('/') + 1));
    }
    sync_directory(directory_);
    return summary.str();
}

std::string ResumableOutputs::committed_files_json() const {
    JsonObject files;
    for (const auto& entry : files_) {
        files.integer(entry.second.final.substr(entry.second.final.rfind('/') + 1), entry.second.size.bytes);
    }
    return files.str();
}

void ResumableOutputs::discard() {
    for (auto& entry : files_) {
        if (entry.second.stream) std::fclose(entry.second.stream);
        entry.second.stream = nullptr;
        std::remove(entry.second.part.c_str());
    }
}

}  // namespace scorekit::text
