// `ccnet-filter hash`: paragraph hashes of one shard into a hash file.
#include <chrono>

#include "scorekit/atomic_file.hpp"
#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/dedup.hpp"
#include "scorekit/text/ordered_pipeline.hpp"
#include "shard_input.hpp"

namespace scorekit {

using namespace scorekit::text;

namespace {

struct HashedBatch {
    std::vector<std::uint64_t> hashes;   // all lines of all documents, in order
    std::vector<std::size_t> ends;       // end offset of each document in `hashes`
    ReadCounts counts;
    std::size_t file_index = 0;
};

std::string parent_directory(const std::string& path) {
    std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? "" : path.substr(0, slash);
}

}  // namespace

void run_ccnet_hash(const CcnetHashOptions& options) {
    auto start = std::chrono::steady_clock::now();
    ShardPlan plan = plan_shard(options.input, options.output);
    if (shard_already_done(plan, options.input.force)) return;
    make_directories(parent_directory(plan.output));
    int threads = resolve_threads(options.input.threads);
    log_info("[1/2] hashing shard " + std::to_string(plan.shard.index) + "/" + std::to_string(plan.shard.count) +
             ": " + std::to_string(plan.files.size()) + " files, " + std::to_string(threads) + " threads");

    ReaderFaults faults;
    ShardReader reader(plan.files, static_cast<std::size_t>(options.input.batch_records), faults, threads > 1);
    DedupHashSet set;
    ReadCounts totals;
    Progress progress("hashing", plan.files.size());

    std::function<bool(RecordBatch&)> produce = [&](RecordBatch& batch) { return reader.next(batch); };
    std::function<void(RecordBatch&, HashedBatch&)> transform = [&](RecordBatch& batch, HashedBatch& out) {
        thread_local std::vector<Document> documents;
        thread_local std::vector<std::uint64_t> line_hashes;
        thread_local std::string scratch;
        records_to_documents(batch, plan.files, options.input.min_length, faults, documents, out.counts);
        for (const Document& document : documents) {
            hash_lines(document.raw_content, line_hashes, scratch);
            out.hashes.insert(out.hashes.end(), line_hashes.begin(), line_hashes.end());
            out.ends.push_back(out.hashes.size());
        }
        out.file_index = batch.file_index;
    };
    std::function<void(HashedBatch&)> consume = [&](HashedBatch& batch) {
        thread_local std::vector<std::uint64_t> document;
        std::size_t begin = 0;
        for (std::size_t end : batch.ends) {
            document.assign(batch.hashes.begin() + begin, batch.hashes.begin() + end);
            set.add_document(document);
            begin = end;
        }
        totals.add(batch.counts);
        progress.update(batch.file_index);
    };
    run_ordered_pipeline<RecordBatch, HashedBatch>(threads, 4 * threads, produce, transform, consume);
    progress.finish();

    log_info("[2/2] writing " + plan.output);
    AtomicFile file(plan.output);
    write_hash_file(file.temporary_path(), set, totals.documents - totals.short_documents, totals.lines);
    file.commit();

    double bytes_per_hash = set.size() ? static_cast<double>(set.memory_bytes()) / set.size() : 0.0;
    log_info("hashed " + std::to_string(totals.documents - totals.short_documents) + " documents, " +
             std::to_string(totals.lines) + " lines, " + std::to_string(set.size()) + " unique hashes, " +
             std::to_string(set.memory_bytes()) + " bytes of hash table (" + format_number(bytes_per_hash) +
             " bytes per hash)");

    JsonObject stats;
    stats.string("command", "hash")
        .integer("shard", static_cast<std::uint64_t>(plan.shard.index))
        .integer("shards", static_cast<std::uint64_t>(plan.shard.count))
        .raw("inputs", json_string_list(plan.files))
        .string("output", plan.output)
        .raw("read", JsonObject()
                         .integer("files", plan.files.size())
                         .integer("compressed_bytes", reader.compressed_bytes())
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
    std::string error = reader.first_error();
    if (reader.damaged_files() > 1) {
        error += " (and " + std::to_string(reader.damaged_files() - 1) + " more damaged files, see the warnings)";
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
