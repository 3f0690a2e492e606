// Splitting a list of input files into shards for job arrays, and per-shard bookkeeping.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scorekit/slurm.hpp"

namespace scorekit::text {

// The shard grammar ("I/N") and its SLURM array defaults are shared with the score tools.
using scorekit::ShardSpec;
using scorekit::parse_shard;
using scorekit::shard_from_environment;

// cc_net's contiguous split: shard i of N gets items [i*n/N, (i+1)*n/N).
std::vector<std::string> shard_slice(const std::vector<std::string>& items, ShardSpec shard);

// Reads a path list: one path per line, blank lines and lines starting with '#' skipped; gzip
// detected by magic bytes (Common Crawl's wet.paths.gz). Throws Error if it cannot be read.
// `line_numbers`, when given, receives the 1-based line of the list that each path came from.
std::vector<std::string> read_path_list(const std::string& path, std::vector<std::uint64_t>* line_numbers = nullptr);

using scorekit::expand_shard_pattern;

// Writes `content` to `path` through a temporary file and rename. Throws Error on failure.
void write_file_atomically(const std::string& path, const std::string& content);

bool file_exists(const std::string& path);

// Throws Error "cannot load <kind> "<path>": <system reason>; <hint>" unless `path` can be opened
// for reading. Libraries such as fastText report a missing file without the reason.
void check_readable(const std::string& path, const std::string& kind, const std::string& hint);

// Creates a directory and its parents. Returns the directories it created, parents first.
// Throws Error on failure.
std::vector<std::string> make_directories(const std::string& path);

// Directories that a run created for its outputs. Unless keep() is called, the destructor
// removes those that are empty, deepest first, so that a run that fails (a full disk, a bad
// model) leaves no empty output directory behind. A signal that ends the run removes them too.
class CreatedDirectories {
public:
    explicit CreatedDirectories(std::vector<std::string> paths);
    ~CreatedDirectories();
    CreatedDirectories(const CreatedDirectories&) = delete;
    CreatedDirectories& operator=(const CreatedDirectories&) = delete;

    void keep();

private:
    std::vector<std::string> paths_;
    std::vector<int> slots_;  // of register_temporary
};

}  // namespace scorekit::text
