// `ccnet-filter hash`: paragraph hashes of one shard into a hash file.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "scorekit/atomic_file.hpp"
#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/dedup.hpp"
#include "record_hashes.hpp"
#include "shard_input.hpp"

namespace scorekit {

using namespace scorekit::text;

namespace {

// Hashes of consecutive documents of one file: all their lines in order, with the end offset
// of each document.
struct HashedChunk {
    std::vector<std::uint64_t> hashes;
    std::vector<std::size_t> ends;
    ReadCounts counts;
};

constexpr std::size_t kChunkRecords = 64;

// Result of reading one file, reported in file order.
struct FileOutcome {
    std::string error;  // a damaged gzip member: the records before it were hashed
    std::uint64_t compressed_bytes = 0;
};

// Reads the records of `file`, hashes their documents and hands the results to `emit` in
// chunks, in file order. A damaged file ends early with the error in the outcome.
FileOutcome hash_file_records(const std::string& file, int min_length, bool read_ahead, ReaderFaults& faults,
                              const std::function<bool(HashedChunk&)>& emit) {
    FileOutcome outcome;
    WetReader reader(file, faults, read_ahead);
    WarcRecord record;
    std::string_view body;
    HashedChunk chunk;
    while (true) {
        bool more = false;
        try {
            more = reader.next(record, body);
        } catch (const Error& e) {
            outcome.error = e.what();
        }
        if (!more) break;
        if (hash_record(record, body, file, min_length, faults, chunk.counts, chunk.hashes)) {
            chunk.ends.push_back(chunk.hashes.size());
        }
        if (chunk.counts.records % kChunkRecords == 0) {
            if (!emit(chunk)) return outcome;
            chunk = HashedChunk();
        }
    }
    emit(chunk);
    outcome.compressed_bytes = reader.input().compressed_bytes();
    return outcome;
}

// The state of the shard's hash set and the counts, fed in file order.
struct ShardHashes {
    DedupHashSet set;
    ReadCounts totals;
    std::string first_error;
    std::size_t damaged_files = 0;
    std::uint64_t compressed_bytes = 0;

    void add(const HashedChunk& chunk) {
        std::size_t begin = 0;
        for (std::size_t end : chunk.ends) {
            set.add_document(chunk.hashes.data() + begin, end - begin);
            begin = end;
        }
        totals.add(chunk.counts);
    }

    void finish_file(const FileOutcome& outcome) {
        compressed_bytes += outcome.compressed_bytes;
        if (outcome.error.empty()) return;
        ++damaged_files;
        if (first_error.empty()) {
            first_error = outcome.error;
        } else {
            log_warning(outcome.error);
        }
    }
};

// One thread: each file is read, hashed and added to the set in turn. With `read_ahead`, a
// second thread inflates the file.
void hash_files_in_turn(const std::vector<std::string>& files, int min_length, bool read_ahead, ReaderFaults& faults,
                        ShardHashes& shard, Progress& progress) {
    for (std::size_t i = 0; i < files.size(); ++i) {
        auto add = [&](HashedChunk& chunk) {
            shard.add(chunk);
            progress.update(i);
            return true;
        };
        shard.finish_file(hash_file_records(files[i], min_length, read_ahead, faults, add));
    }
}

// The results of one file that its worker has made and the caller has not yet added.
struct FileSlot {
    std::deque<HashedChunk> chunks;
    bool done = false;
    FileOutcome outcome;
    std::exception_ptr failure;
};

// `workers` threads each read, inflate and hash whole files, taking the next file in the list
// when they finish one. The calling thread adds the chunks to the set in file order, so the set
// is the same as with one thread. Nothing else is serial, so the work divides well once there are
// at least as many files as workers. A worker starts a file only while it is fewer than
// 2 * workers files ahead of the caller, which bounds the memory of the waiting chunks.
// NOTE: with fewer files left than workers, the idle workers do not help with the last files.
void hash_files_in_parallel(const std::vector<std::string>& files, int min_length, int workers, bool read_ahead,
                            ReaderFaults& faults, ShardHashes& shard, Progress& progress) {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<FileSlot> slots(files.size());
    std::size_t next_file = 0, adding = 0;
    bool stopping = false;
    const std::size_t window = 2 * static_cast<std::size_t>(workers);

    auto work = [&] {
        while (true) {
            std::size_t file;
            {
                std::unique_lock<std::mutex> lock(mutex);
                changed.wait(lock, [&] { return stopping || next_file >= files.size() || next_file < adding + window; });
                if (stopping || next_file >= files.size()) return;
                file = next_file++;
            }
            FileSlot& slot = slots[file];
            auto emit = [&](HashedChunk& chunk) {
                std::lock_guard<std::mutex> lock(mutex);
                slot.chunks.push_back(std::move(chunk));
                changed.notify_all();
                return !stopping;
            };
            FileOutcome outcome;
            std::exception_ptr failure;
            try {
                outcome = hash_file_records(files[file], min_length, read_ahead, faults, emit);
            } catch (...) {
                failure = std::current_exception();
            }
            std::lock_guard<std::mutex> lock(mutex);
            slot.outcome = std::move(outcome);
            slot.failure = failure;
            slot.done = true;
            changed.notify_all();
        }
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < workers; ++i) threads.emplace_back(work);

    auto stop = [&] {
        {
            std::lock_guard<std::mutex> lock(mutex);
            stopping = true;
            changed.notify_all();
        }
        for (std::thread& thread : threads) thread.join();
    };
    try {
        for (; adding < files.size();) {
            FileSlot& slot = slots[adding];
            HashedChunk chunk;
            bool file_done = false;
            {
                std::unique_lock<std::mutex> lock(mutex);
                changed.wait(lock, [&] { return !slot.chunks.empty() || slot.done; });
                if (!slot.chunks.empty()) {
                    chunk = std::move(slot.chunks.front());
                    slot.chunks.pop_front();
                } else {
                    file_done = true;
                }
            }
            if (!file_done) {
                shard.add(chunk);
                progress.update(adding);
                continue;
            }
            if (slot.failure) std::rethrow_exception(slot.failure);
            shard.finish_file(slot.outcome);
            std::lock_guard<std::mutex> lock(mutex);
            ++adding;
            changed.notify_all();
        }
    } catch (...) {
        stop();
        throw;
    }
    stop();
}

}  // namespace

void run_ccnet_hash(const CcnetHashOptions& options) {
    auto start = std::chrono::steady_clock::now();
    ShardPlan plan = plan_shard(options.input, options.output);
    if (shard_already_done(plan, options.input.force)) return;
    // Like every scorekit tool, hash writes into an existing directory and creates none.
    check_output_writable(plan.output);
    int threads = resolve_threads(options.input.threads);
    log_info("[1/2] hashing shard " + std::to_string(plan.shard.index) + "/" + std::to_string(plan.shard.count) +
             ": " + std::to_string(plan.files.size()) + " files, " + std::to_string(threads) + " threads");

    ReaderFaults faults;
    ShardHashes shard;
    Progress progress("hashing", plan.files.size());
    // Whole files are the unit of work. When there are fewer files than threads, each file
    // also gets a thread of its own for inflating.
    int workers = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(threads), plan.files.size()));
    bool read_ahead = threads >= 2 * std::max(workers, 1);
    if (workers <= 1) {
        hash_files_in_turn(plan.files, options.input.min_length, read_ahead, faults, shard, progress);
    } else {
        hash_files_in_parallel(plan.files, options.input.min_length, workers, read_ahead, faults, shard, progress);
    }
    progress.finish();
    DedupHashSet& set = shard.set;
    const ReadCounts& totals = shard.totals;

    log_info("[2/2] writing " + plan.output);
    write_hash_file(plan.output, set, totals.documents - totals.short_documents, totals.lines,
                    options.input.min_length);

    double bytes_per_hash = set.size() ? static_cast<double>(set.memory_bytes()) / set.size() : 0.0;
    log_info("hashed " + std::to_string(totals.documents - totals.short_documents) + " documents, " +
             std::to_string(totals.lines) + " lines, " + std::to_string(set.size()) + " unique hashes, " +
             std::to_string(set.memory_bytes()) + " bytes of hash table (" + format_short(bytes_per_hash) +
             " bytes per hash)");

    JsonObject stats;
    stats.string("command", "hash")
        .integer("shard", static_cast<std::uint64_t>(plan.shard.index))
        .integer("shards", static_cast<std::uint64_t>(plan.shard.count))
        .raw("inputs", json_string_list(plan.files))
        .string("output", plan.output)
        .raw("read", JsonObject()
                         .integer("files", plan.files.size())
                         .integer("compressed_bytes", shard.compressed_bytes)
                         .integer("records", totals.records)
                         .integer("documents", totals.documents)
                         .integer("documents_below_min_len", totals.short_documents)
                         .integer("documents_out", totals.documents - totals.short_documents)
                         .integer("lines_out", totals.lines)
                         .integer("chars_out", totals.chars)
                         .str())
        .raw("faults", json_faults(faults))
        .raw("hash_set", JsonObject()
                             .integer("hashes", set.size())
                             .integer("table_bytes", set.memory_bytes())
                             .number("bytes_per_hash", bytes_per_hash)
                             .str());
    std::string error = shard.first_error;
    if (shard.damaged_files > 1) {
        error += " (and " + std::to_string(shard.damaged_files - 1) + " more damaged files, see the warnings)";
    }
    finish_shard(plan, stats, start, error);
    // A failed shard ends with its error line instead of the "done:" summary.
    if (!error.empty()) {
        log_warning_counts();
        throw Error(error);
    }
    log_summary("hash");
}

}  // namespace scorekit
