#include "scorekit/text/shard.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/signals.hpp"
#include "scorekit/text_input.hpp"

#include "compression_magic.hpp"

namespace scorekit::text {
std::vector<std::string> shard_slice(const std::vector<std::string>& items, ShardSpec shard) {
    ShardRange range = shard_range(static_cast<std::int64_t>(items.size()), shard);
    return std::vector<std::string>(items.begin() + range.begin, items.begin() + range.end);
}

std::vector<std::string> read_path_list(const std::string& path, std::vector<std::uint64_t>* line_numbers) {
    // LineReader rejects a directory too, but this message names --paths and what it should list.
    struct stat info{};
    if (path != "-" && ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
        throw Error(describe("cannot read --paths", path, "it is a directory",
                             "give the file that lists the input paths, one per line"));
    }
    LineReader reader(path);
    std::vector<std::string> paths;
    std::string line;
    bool first = true;
    while (reader.next(line)) {
        // LineReader inflates gzip only, and the bytes of another compression would be read as
        // a path.
        if (first) {
            if (const OtherCompression* compression = other_compression(line)) {
                throw Error(describe("cannot read --paths", path,
                                     std::string("it is ") + compression->format + "-compressed",
                                     std::string("decompress it (") + compression->command +
                                         " LIST > LIST.txt) or compress it with gzip, which is read directly"));
            }
        }
        first = false;
        std::size_t begin = line.find_first_not_of(" \t");
        if (begin == std::string::npos || line[begin] == '#') continue;
        std::size_t end = line.find_last_not_of(" \t");
        paths.push_back(line.substr(begin, end - begin + 1));
        if (line_numbers) line_numbers->push_back(reader.line_number());
    }
    // An empty list is typical of a failed download of wet.paths.gz. Read as no input, it let
    // every shard of an array succeed with nothing in it.
    if (paths.empty()) {
        throw Error(describe("cannot read --paths", path, "it lists no path (only blank lines and comments, or nothing)",
                             "check that the list was downloaded or written completely"));
    }
    return paths;
}

void write_file_atomically(const std::string& path, const std::string& content) {
    AtomicFile file(path);
    std::FILE* out = std::fopen(file.temporary_path().c_str(), "wb");
    if (!out) throw Error(describe("cannot write", path, std::strerror(errno), "check the directory"));
    bool ok = std::fwrite(content.data(), 1, content.size(), out) == content.size();
    ok = std::fclose(out) == 0 && ok;
    if (!ok) throw Error(describe("cannot write", path, std::strerror(errno), "check free disk space"));
    file.commit();
}

bool file_exists(const std::string& path) {
    struct stat info;
    return stat(path.c_str(), &info) == 0;
}

void check_readable(const std::string& path, const std::string& kind, const std::string& hint) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) throw Error(describe("cannot load " + kind, path, std::strerror(errno), hint));
    std::fclose(file);
}

std::vector<std::string> make_directories(const std::string& path) {
    std::vector<std::string> created;
    if (path.empty()) return created;
    for (std::size_t at = path.find('/', 1);; at = path.find('/', at + 1)) {
        std::string prefix = path.substr(0, at);
        if (mkdir(prefix.c_str(), 0777) == 0) {
            created.push_back(prefix);
        } else if (errno != EEXIST) {
            const int error = errno;
            CreatedDirectories undo(std::move(created));
            throw Error(describe("cannot create directory", prefix, std::strerror(error), "check permissions"));
        }
        if (at == std::string::npos) break;
    }
    return created;
}

CreatedDirectories::CreatedDirectories(std::vector<std::string> paths) : paths_(std::move(paths)) {
    for (const std::string& path : paths_) slots_.push_back(register_temporary(path));
}

CreatedDirectories::~CreatedDirectories() {
    for (auto path = paths_.rbegin(); path != paths_.rend(); ++path) rmdir(path->c_str());
    for (int slot : slots_) unregister_temporary(slot);
}

void CreatedDirectories::keep() {
    for (int slot : slots_) unregister_temporary(slot);
    slots_.clear();
    paths_.clear();
}

}  // namespace scorekit::text
