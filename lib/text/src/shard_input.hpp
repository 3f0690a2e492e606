// Internal: reading the records of a shard in fixed-size batches, and shard bookkeeping shared
// by the subcommands.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/document.hpp"
#include "scorekit/text/shard.hpp"
#include "scorekit/text/wet_reader.hpp"

namespace scorekit::text {

struct ShardPlan {
    ShardSpec shard;
    std::vector<std::string> files;
    std::string output;  // expanded output path
};

// Resolves inputs, the shard and the output path. Throws UsageError for invalid options.
ShardPlan plan_shard(const CcnetInputOptions& options, const std::string& output_pattern);

// True (and logs) when the shard has a done marker and `force` is not set. Throws Error, unless
// `force` is set, when the marker records another shard (a run with another shard count wrote
// into the same directory), because skipping would keep that run's slice of the inputs.
bool shard_already_done(const ShardPlan& plan, bool force);

// The shard "I/N" that the done marker at `path` records, or "" when it records none (a marker
// written by hand or one that cannot be read).
std::string recorded_shard(const std::string& path);

// Records of one file. Their content blocks are views into the reader's buffers, which the
// batch keeps alive, so mine reads each body in place instead of copying it.
struct RecordBatch {
    std::vector<WarcRecord> records;  // headers only: record.body stays empty
    std::vector<std::string_view> bodies;  // content block of records[i]
    std::vector<std::shared_ptr<const std::string>> buffers;
    std::size_t file_index = 0;
};

// Counts of the read and parse stages.
struct ReadCounts {
    std::uint64_t records = 0;
    std::uint64_t documents = 0;        // conversion records turned into documents
    std::uint64_t short_documents = 0;  // dropped by --min-len
    std::uint64_t lines = 0;            // raw_content lines of the documents kept
    std::uint64_t chars = 0;            // raw_content code points of the documents kept

    void add(const ReadCounts& other);
};

// Reads the files of a shard one after the other in batches of records. A file with a damaged
// gzip member is logged and skipped from that point; the first such error is kept for the end
// (and logged too where `earlier_error` is set because an earlier run of the shard kept one). With
// `read_ahead` (for more than one worker thread), each file is inflated on a thread of its own
// while the caller's thread frames records. Files before `first_file` are skipped (a resumed
// shard). After a signal that the job catches, next() opens no further file. A batch never
// holds records of two files. What reading a file met (faults, error,
// compressed bytes) is final once next() has returned a batch of a later file, or false.
// NOTE: the inflating of one file still runs on one thread, about a quarter of `hash` on one
// core, which bounds the speed-up of --threads near 4. Members are independent, so splitting
// them across threads would lift that bound.
class ShardReader {
public:
    ShardReader(const std::vector<std::string>& files, std::size_t batch_records, bool read_ahead = false,
                std::size_t first_file = 0, bool earlier_error = false);

    bool next(RecordBatch& batch);

    // The faults of file `index`: the reader's and those that records_to_documents counts.
    ReaderFaults& faults(std::size_t index) { return *files_[index].faults; }
    const std::string& error(std::size_t index) const { return files_[index].error; }
    std::uint64_t compressed_bytes(std::size_t index) const { return files_[index].compressed_bytes; }

    const std::string& first_error() const { return first_error_; }
    // Whether next() has read every file (rather than stopping at a signal).
    bool complete() const { return file_index_ >= files_.size(); }
    // The files that next() had read to their end before a signal came. A pipe whose writer
    // stops at the signal ends early, so a file that ends after the signal may be incomplete.
    std::size_t files_read_before_signal() const { return files_read_before_signal_; }

private:
    struct FileRead {
        std::string path;
        std::unique_ptr<ReaderFaults> faults = std::make_unique<ReaderFaults>();
        std::string error;
        std::uint64_t compressed_bytes = 0;
    };
    std::vector<FileRead> files_;
    std::size_t batch_records_;
    bool read_ahead_;
    std::size_t file_index_ = 0;
    std::unique_ptr<WetReader> reader_;
    std::string first_error_;
    bool earlier_error_;
    std::size_t files_read_before_signal_ = 0;
};

// The counters of ReaderFaults with their names in the stats file, in its order.
using FaultCounter = std::atomic<std::uint64_t> ReaderFaults::*;
const std::vector<std::pair<std::string, FaultCounter>>& fault_counters();

// Adds every counter of `from` to `into`.
void add_faults(ReaderFaults& into, const ReaderFaults& from);

// Converts records to documents and drops those below `min_length` code points.
void records_to_documents(const RecordBatch& batch, const std::vector<std::string>& files, int min_length,
                          ReaderFaults& faults, std::vector<Document>& documents, ReadCounts& counts);

// Compresses `data` into one complete gzip member with libdeflate at `level` (1 to 12; 6 is
// about zlib's 6 in size). Members concatenate into a valid gzip file.
std::string gzip_member(const std::string& data, int level);

// A JSON object written key by key: {"a": 1, "b": "x"} in Python's json.dumps style.
class JsonObject {
public:
    JsonObject& number(const std::string& key, double value);
    JsonObject& integer(const std::string& key, std::uint64_t value);
    JsonObject& string(const std::string& key, const std::string& value);
    JsonObject& raw(const std::string& key, const std::string& json);
    std::string str() const { return "{" + body_ + "}"; }

private:
    void key(const std::string& name);
    std::string body_;
};

std::string json_faults(const ReaderFaults& faults);
std::string json_string_list(const std::vector<std::string>& items);

// Writes `<output>.stats.json` (adding wall, CPU time and peak memory) and, when `error` is
// empty, the done marker `<output>.done`, last. `files_json`, where given, goes into the marker
// as its "files" object: the output files of the shard and their lengths in bytes.
void finish_shard(const ShardPlan& plan, JsonObject stats, std::chrono::steady_clock::time_point start,
                  const std::string& error, const std::string& files_json = "");

}  // namespace scorekit::text
