#include "scorekit/text/shard.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit::text {
namespace {

bool parse_int(const std::string& text, int& value) {
    if (text.empty() || text.size() > 9) return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    value = std::atoi(text.c_str());
    return true;
}

}  // namespace

ShardSpec parse_shard(const std::string& text) {
    ShardSpec shard;
    std::size_t slash = text.find('/');
    bool ok = slash != std::string::npos && parse_int(text.substr(0, slash), shard.index) &&
              parse_int(text.substr(slash + 1), shard.count) && shard.count > 0 && shard.index < shard.count;
    if (!ok) {
        throw UsageError(describe("invalid --shard", text, "expected I/N with 0 <= I < N", "for example --shard 3/16"));
    }
    return shard;
}

ShardSpec shard_from_environment() {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (!id || !count) return ShardSpec();
    ShardSpec shard;
    if (!parse_int(id, shard.index) || !parse_int(count, shard.count) || shard.count == 0 ||
        shard.index >= shard.count) {
        throw UsageError(describe("invalid SLURM array variables",
                                  std::string("SLURM_ARRAY_TASK_ID=") + id + " SLURM_ARRAY_TASK_COUNT=" + count,
                                  "expected 0 <= ID < COUNT",
                                  "submit the array as --array=0-(N-1) or give --shard I/N"));
    }
    return shard;
}

std::vector<std::string> shard_slice(const std::vector<std::string>& items, ShardSpec shard) {
    std::size_t n = items.size();
    std::size_t begin = shard.index * n / shard.count;
    std::size_t end = (shard.index + 1) * n / shard.count;
    return std::vector<std::string>(items.begin() + begin, items.begin() + end);
}

std::vector<std::string> read_path_list(const std::string& path) {
    LineReader reader(path);
    std::vector<std::string> paths;
    std::string line;
    while (reader.next(line)) {
        std::size_t begin = line.find_first_not_of(" \t");
        if (begin == std::string::npos || line[begin] == '#') continue;
        std::size_t end = line.find_last_not_of(" \t");
        paths.push_back(line.substr(begin, end - begin + 1));
    }
    return paths;
}

std::string expand_shard_pattern(const std::string& pattern, int shard) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%04d", shard);
    std::string out = pattern;
    for (std::size_t at = out.find("{shard}"); at != std::string::npos; at = out.find("{shard}", at)) {
        out.replace(at, 7, digits);
    }
    return out;
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

void make_directories(const std::string& path) {
    if (path.empty()) return;
    for (std::size_t at = path.find('/', 1);; at = path.find('/', at + 1)) {
        std::string prefix = path.substr(0, at);
        if (mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) {
            throw Error(describe("cannot create directory", prefix, std::strerror(errno), "check permissions"));
        }
        if (at == std::string::npos) break;
    }
}

}  // namespace scorekit::text
